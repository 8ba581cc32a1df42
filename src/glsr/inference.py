"""Running a model on whole images: colour handling, tiling and x8 self-ensemble, all from the descriptor.

:class:`Upscaler` applies a :class:`~glsr.models.ModelSpec`'s input convention, so no code here (or
in its callers) tests a model's name:

* ``luma-interpolated`` / ``luma-lowres``: the network sees the Y channel (MATLAB ``rgb2ycbcr``), and Cb
  and Cr are upscaled with MATLAB bicubic; an interpolated-input network first gets the bicubic
  upscale of Y;
* ``rgb-lowres``: the network sees RGB. A greyscale image is given to it three times and its output is
  averaged back to one channel.

Tiling cuts the network input into tiles that overlap by at least the model's receptive-field margin,
so for convolutional networks the tiled output equals the whole-image output, and peak memory depends on
the tile size, not the image size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from torch import nn

from glsr.color import quantize, rgb_to_ycbcr, ycbcr_to_rgb
from glsr.errors import BadArgument, BadImage
from glsr.hardware import fast_bf16
from glsr.memory import reuse_freed_memory
from glsr.models import ModelSpec, create_model, default_model, get_spec
from glsr.resize import imresize

Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["fp32", "bf16", "auto"]

# Images whose network input exceeds this many pixels are tiled automatically: a 64-channel
# activation of 1024x1024 pixels is 256 MB, and the deep models keep several alive.
AUTO_TILE_PIXELS = 1024 * 1024
AUTO_TILE_SIZE = 512


def resolve_device(device: Device | str) -> torch.device:
    """``auto`` picks CUDA when it is available."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise BadArgument("--device cuda was asked for, but no CUDA device is available")
    if device not in ("cpu", "cuda"):
        raise BadArgument(f"unknown device {device!r}; choose auto, cpu or cuda")
    return torch.device(device)


def resolve_precision(precision: Precision | str, device: torch.device, spec: ModelSpec) -> Literal["fp32", "bf16"]:
    """``auto`` picks bf16 for a model whose descriptor allows it (``bf16_auto``) on a CPU where bf16 is fast.

    Such a CPU (:func:`glsr.hardware.fast_bf16`: AMX, or AVX-512 BF16 on an AMD CPU) upscaled VDSR,
    GLRL and GLADSR-L 1.9-4.2x faster in bf16 than in fp32, within 0.003 dB and 0.00003 SSIM of fp32 on
    Set5, Set14 and BSD100 (README, "bf16"). An Intel CPU with AVX-512 BF16 but no AMX gained under
    10 %, and on a GPU bf16 has not been measured, so both keep fp32.
    """
    if precision not in get_args(Precision):
        raise BadArgument(f"unknown precision {precision!r}; choose auto, fp32 or bf16")
    if precision == "auto":
        return "bf16" if spec.bf16_auto and device.type == "cpu" and fast_bf16() else "fp32"
    return precision  # type: ignore[return-value]


def _transform(x: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th of the 8 dihedral transforms (k = 0..7): rotate by 90 k degrees, then maybe flip."""
    y = torch.rot90(x, k % 4, dims=(-2, -1))
    return torch.flip(y, dims=(-1,)) if k >= 4 else y


def _inverse(x: torch.Tensor, k: int) -> torch.Tensor:
    y = torch.flip(x, dims=(-1,)) if k >= 4 else x
    return torch.rot90(y, -(k % 4), dims=(-2, -1))


def tile_starts(length: int, tile: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels that cover ``length`` pixels."""
    return list(range(0, length, tile)) if tile < length else [0]


def forward_tiled(net: nn.Module, x: torch.Tensor, factor: int, tile: int, overlap: int) -> torch.Tensor:
    """Run ``net`` on ``x`` ``(N, C, H, W)`` tile by tile.

    Each tile of ``tile x tile`` input pixels is run with ``overlap`` pixels of context on each side
    (clipped at the image border), and only its own region of the output is kept. ``factor`` is the
    ratio of output to input size (1 for interpolated-input networks, else the scale).
    """
    n, _, h, w = x.shape
    out: torch.Tensor | None = None
    for top in tile_starts(h, tile):
        for left in tile_starts(w, tile):
            bottom, right = min(top + tile, h), min(left + tile, w)
            t0, l0 = max(top - overlap, 0), max(left - overlap, 0)
            t1, l1 = min(bottom + overlap, h), min(right + overlap, w)
            y = net(x[:, :, t0:t1, l0:l1])
            if out is None:
                out = y.new_empty(n, y.shape[1], h * factor, w * factor)
            out[:, :, top * factor : bottom * factor, left * factor : right * factor] = y[
                :,
                :,
                (top - t0) * factor : (bottom - t0) * factor,
                (left - l0) * factor : (right - l0) * factor,
            ]
    assert out is not None
    return out


@dataclass
class Upscaler:
    """A model ready to upscale images: network, descriptor, scale and run-time options.

    Build one with :func:`load_model`. Call it on an image array; use :meth:`luma` for the Y-channel
    path of the benchmark protocol.

    Attributes:
        tile: tile size in network-input pixels; ``None`` tiles automatically above
            :data:`AUTO_TILE_PIXELS`, ``0`` never tiles.
        tile_overlap: context around each tile; ``None`` uses the model's receptive-field margin.
        ensemble: average the 8 flips/rotations (geometric self-ensemble).
        precision: ``bf16`` runs the network under autocast (already resolved: never ``auto``).
        reuse_memory: keep freed memory in the process while upscaling instead of unmapping it
            (:mod:`glsr.memory`; glibc only): faster on a CPU, at a higher peak memory (measured
            in README, "Speed").
    """

    net: nn.Module
    spec: ModelSpec
    scale: int
    device: torch.device
    tile: int | None = None
    tile_overlap: int | None = None
    ensemble: bool = False
    precision: Precision = "fp32"
    reuse_memory: bool = True

    def _tile_plan(self, h: int, w: int) -> tuple[int, int]:
        overlap = self.spec.margin if self.tile_overlap is None else self.tile_overlap
        if overlap < self.spec.margin:
            raise BadArgument(
                f"--tile-overlap {overlap} is below {self.spec.name}'s receptive-field margin "
                f"({self.spec.margin} pixels); tiles would show seams"
            )
        if self.tile == 0 or (self.tile is None and h * w <= AUTO_TILE_PIXELS):
            return max(h, w), 0
        tile = self.tile or AUTO_TILE_SIZE
        return tile, overlap

    @torch.inference_mode()
    def network(self, x: torch.Tensor) -> torch.Tensor:
        """Run the network on its input convention's tensor, with tiling and ensemble.

        ``x`` is ``(N, C, H, W)`` in [0, 1] at LR size; interpolated-input networks get its bicubic
        upscale. Returns ``(N, C, sH, sW)``.
        """
        with reuse_freed_memory(self.reuse_memory):
            return self._network(x)

    def _network(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, torch.float32)
        if self.spec.interpolated:
            x = imresize(x, self.scale)
        factor = 1 if self.spec.interpolated else self.scale
        h, w = x.shape[-2:]
        m = self.spec.size_multiple
        if m > 1 and (h % m or w % m):
            # Edge-pad to the size the network needs, and crop its output back.
            x = torch.nn.functional.pad(x, (0, -w % m, 0, -h % m), mode="replicate")
        tile, overlap = self._tile_plan(*x.shape[-2:])
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")
        transforms = range(8) if self.ensemble else range(1)
        total = None
        with autocast:
            for k in transforms:
                y = forward_tiled(self.net, _transform(x, k), factor, tile, overlap).float()
                y = _inverse(y, k)
                total = y if total is None else total + y
        assert total is not None
        return (total / len(transforms))[..., : h * factor, : w * factor]

    def luma(self, y: np.ndarray) -> np.ndarray:
        """Upscale a Y channel ``(H, W)`` in [0, 1]: the luma benchmark protocol.

        An RGB network gets the channel three times and its output is averaged back to one.
        """
        x = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))[None, None]
        if self.spec.channels == 3:
            x = x.expand(1, 3, *x.shape[-2:])
        out = self.network(x).mean(dim=1)
        return out[0].cpu().double().numpy()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Upscale an image array and return the same kind.

        Accepts ``(H, W)`` or ``(H, W, 1)`` greyscale, ``(H, W, 2)`` greyscale + alpha, ``(H, W, 3)`` RGB
        or ``(H, W, 4)`` RGBA, as uint8, uint16 or float in [0, 1]. Integer input gives integer output of
        the same type, rounded as MATLAB rounds; float output is not clipped. Alpha is upscaled with
        bicubic. Colour work is done in float32 to keep memory at a few bytes per output pixel.
        """
        with reuse_freed_memory(self.reuse_memory):
            return self._call(np.asarray(image))

    def _call(self, image: np.ndarray) -> np.ndarray:
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 2, 3, 4)):
            raise BadImage(f"unsupported image shape {image.shape}; expected (H, W) or (H, W, 1-4)")
        limit = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(image.dtype)
        if limit is None and not np.issubdtype(image.dtype, np.floating):
            raise BadImage(f"unsupported pixel type {image.dtype}; expected uint8, uint16 or float")
        smallest = minimum_input_size(self.spec)
        if min(image.shape[:2]) < smallest:
            h, w = image.shape[:2]
            raise BadImage(f"the image is {w}x{h} pixels; {self.spec.name} needs at least {smallest} on each side")
        x = image.astype(np.float32)
        if limit is not None:
            x /= limit
        channels = 1 if image.ndim == 2 else image.shape[2]
        colour = x if image.ndim == 2 else x[..., : 3 if channels >= 3 else 1]
        out = self._upscale_float(colour[..., 0] if colour.ndim == 3 and colour.shape[2] == 1 else colour)
        if image.ndim == 3 and out.ndim == 2:
            out = out[..., None]
        if channels in (2, 4):
            alpha = np.clip(imresize(x[..., -1], self.scale), 0, 1)
            out = np.concatenate([out, alpha[..., None].astype(out.dtype)], axis=2)
        if limit is None:
            return out.astype(image.dtype)
        out *= limit
        return (
            quantize(out).astype(image.dtype)
            if limit == 255.0
            else np.floor(np.clip(out, 0, limit) + 0.5).astype(image.dtype)
        )

    def _upscale_float(self, x: np.ndarray) -> np.ndarray:
        """Greyscale ``(H, W)`` or RGB ``(H, W, 3)`` float32 in [0, 1] to the upscaled float32 image."""
        if x.ndim == 2:
            return self.luma(x).astype(np.float32)
        if self.spec.channels == 3:
            t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
            return self.network(t)[0].cpu().numpy().transpose(1, 2, 0)
        ycbcr = rgb_to_ycbcr(x)
        y = self.luma(ycbcr[..., 0]).astype(np.float32)
        # Chroma in torch float32: numpy's imresize works in float64 (twice the memory).
        chroma = imresize(torch.from_numpy(np.ascontiguousarray(ycbcr[..., 1:].transpose(2, 0, 1))), self.scale)
        del ycbcr
        out = np.empty((*y.shape, 3), dtype=np.float32)
        out[..., 0] = y
        out[..., 1:] = chroma.numpy().transpose(1, 2, 0)
        del chroma, y
        return ycbcr_to_rgb(out)


def load_model(
    model: str | None = None,
    scale: int = 2,
    *,
    weights: str | Path | None = None,
    device: Device | str = "auto",
    tile: int | None = None,
    tile_overlap: int | None = None,
    ensemble: bool = False,
    precision: Precision = "auto",
    reuse_memory: bool = True,
) -> Upscaler:
    """Build a reusable :class:`Upscaler`.

    Args:
        model: a model name (``glsr models`` lists them); ``None``, the default at this scale
            (:func:`glsr.models.default_model`: gladsr_l at every scale).
        scale: 2, 3 or 4.
        weights: a ``.safetensors`` file; without it, the shipped weights are used (a model with no
            parameters needs none).
        precision: ``fp32``, ``bf16`` or ``auto`` (:func:`resolve_precision`: bf16 on a CPU where it
            is fast, for the models measured to lose nothing by it, else fp32).
        tile, tile_overlap, ensemble, reuse_memory: see :class:`Upscaler`; a model without
            parameters (bicubic) never reuses memory.
    """
    from glsr.weights import load_pretrained, load_weights_file

    if model is None:
        model = default_model(scale)
    spec = get_spec(model)
    target = resolve_device(device)
    if tile is not None and tile < 0:
        raise BadArgument(f"--tile must be positive, got {tile}")
    arithmetic = resolve_precision(precision, target, spec)
    options = {} if weights is None else _weights_options(model, Path(weights))
    net = create_model(model, scale, **options)
    has_parameters = any(True for _ in net.parameters())
    if weights is not None:
        load_weights_file(net, Path(weights))
    elif has_parameters:
        load_pretrained(net, spec, scale)
    net = net.to(target).eval()
    # A model may offer an inference-only equivalent (GLADSR folds its linear reconstruction).
    for_inference = getattr(net, "for_inference", None)
    if callable(for_inference):
        net = for_inference().eval()  # built on the net's device
    if target.type == "cpu" and has_parameters:
        net = net.to(memory_format=torch.channels_last)
    # Without a network there are no activations to reuse, and the final trim only costs time
    # (bicubic x3 at 512x512: 146 against 106 ms).
    reuse = reuse_memory and has_parameters
    return Upscaler(net, spec, scale, target, tile, tile_overlap, ensemble, arithmetic, reuse)


def _weights_options(model: str, weights: Path) -> dict:
    """Architecture options recorded beside a weights file, so non-default variants load.

    ``glsr train`` writes ``model.json`` beside ``model.safetensors``; an exported file has
    ``<stem>.json``. Both name the model and its ``model_kwargs``.
    """
    import json

    for sidecar in (weights.with_suffix(".json"), weights.with_name("model.json")):
        if sidecar.is_file():
            try:
                info = json.loads(sidecar.read_text())
            except (OSError, json.JSONDecodeError):
                return {}
            if info.get("model") not in (None, model):
                raise BadArgument(f"{weights} holds {info['model']} weights (see {sidecar.name}), not {model}")
            return dict(info.get("model_kwargs") or {})
    return {}


def minimum_input_size(spec: ModelSpec) -> int:
    """The smallest LR side a model accepts: bicubic needs 2 pixels, SSIM-style windows aside."""
    return max(2, math.ceil(spec.size_multiple))
