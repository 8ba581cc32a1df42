"""Training patches: the 291 images held in memory, LR made with MATLAB bicubic, random augmented crops.

The HR images are decoded once. For each scale, each image's network input is made from the whole
modcropped image with :func:`glsr.resize.imresize`, exactly as the benchmark protocol makes it (so a
patch never sees a border that the test images would not have):

* ``luma-interpolated``: Y = round(rgb2ycbcr(HR)); input = imresize(imresize(Y, 1/s), s), float;
* ``luma-lowres``: input = imresize(Y, 1/s), float;
* ``rgb-lowres``: input = round(imresize(HR, 1/s)) as uint8 RGB, the rgb protocol's LR.

All images of all scales are packed into one flat buffer on the sampler's device. A batch is then a
single gather: per-sample random (image, scale), position and one of the 8 rotations/flips, turned into
index grids with tensor arithmetic. There is no per-sample Python work and no worker process, so a GPU
cuts its own patches and never waits on the CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from glsr.color import quantize
from glsr.data import dataset_folder, list_images, load_image, luminance, modcrop
from glsr.errors import BadArgument
from glsr.models import ModelSpec
from glsr.resize import imresize


def load_training_images(sets: Sequence[str], data_root: str | None) -> list[tuple[str, np.ndarray]]:
    """Decode every image of the named sets once: ``(name, uint8 array)``."""
    images = []
    for name in sets:
        for path in list_images(dataset_folder(name, data_root)):
            images.append((f"{name}/{path.name}", load_image(path)))
    return images


def downscaled_copies(images: Sequence[np.ndarray], factors: Sequence[float]) -> list[np.ndarray]:
    """The images, then each image downscaled by each factor, as new uint8 HR images.

    The copies are made as an HR image would be stored: MATLAB bicubic (:func:`glsr.resize.imresize`
    with its antialiasing) and rounded to 8 bits. Patches are then cut from them like from the rest,
    so a network sees each structure at several sizes (``DataConfig.downscale``).
    """
    return [*images, *(_resize_uint8(image, factor) for factor in factors for image in images)]


def _resize_uint8(image: np.ndarray, scale: float) -> np.ndarray:
    """A uint8 ``(H, W)`` or ``(H, W, C)`` image resized by MATLAB bicubic and rounded as MATLAB rounds.

    Computed in float64 through the torch path, which is what the rgb protocol's training LR images
    have always used (numpy's path sums in another order, which moves a few pixels by one level).
    """
    chw = image.transpose(2, 0, 1) if image.ndim == 3 else image[None]
    small = quantize(imresize(torch.from_numpy(chw.astype(np.float64)), scale)).to(torch.uint8).numpy()
    return small.transpose(1, 2, 0).copy() if image.ndim == 3 else small[0].copy()


def dihedral_grid(size: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Source (row, column) of each output pixel of the k-th transform of a ``size`` square.

    Transform k rotates by ``90 * (k % 4)`` degrees as ``torch.rot90`` does, then flips left-right if
    ``k >= 4``: the same transforms as the self-ensemble in :mod:`glsr.inference`.
    """
    i = torch.arange(size).view(size, 1).expand(size, size)
    j = torch.arange(size).view(1, size).expand(size, size)
    last = size - 1
    if k >= 4:
        j = last - j
    rotation = k % 4
    if rotation == 0:
        return i, j
    if rotation == 1:
        return j, last - i
    if rotation == 2:
        return last - i, last - j
    return last - j, i


@dataclass
class _Packed:
    """One flat channels-last buffer of several images, with each image's offset and size."""

    buffer: torch.Tensor  # (pixels, C)
    offset: torch.Tensor  # (images,) int64
    height: torch.Tensor
    width: torch.Tensor

    @classmethod
    def pack(cls, arrays: list[np.ndarray], device: torch.device) -> _Packed:
        flat = [a.reshape(a.shape[0] * a.shape[1], -1) for a in arrays]
        sizes = torch.tensor([f.shape[0] for f in flat])
        offset = torch.cumsum(sizes, 0) - sizes
        return cls(
            buffer=torch.from_numpy(np.concatenate(flat)).to(device),
            offset=offset.to(device),
            height=torch.tensor([a.shape[0] for a in arrays], device=device),
            width=torch.tensor([a.shape[1] for a in arrays], device=device),
        )

    def crop(
        self, entry: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int, k: torch.Tensor
    ) -> torch.Tensor:
        """Gather ``(B, C, size, size)`` crops, each transformed by its own ``k``."""
        grids = [dihedral_grid(size, t) for t in range(8)]
        rows = torch.stack([g[0] for g in grids]).to(self.buffer.device)[k]  # (B, size, size)
        cols = torch.stack([g[1] for g in grids]).to(self.buffer.device)[k]
        index = (
            self.offset[entry].view(-1, 1, 1)
            + (top.view(-1, 1, 1) + rows) * self.width[entry].view(-1, 1, 1)
            + (left.view(-1, 1, 1) + cols)
        )
        patches = self.buffer[index]  # (B, size, size, C)
        return patches.permute(0, 3, 1, 2).float()


class PatchSampler:
    """Random augmented (input, target) patch pairs from images held in memory.

    Args:
        images: uint8 HR images (RGB or greyscale).
        spec: the model's descriptor (its input convention decides what the patches hold).
        scales: scales to sample from, uniformly per patch.
        patch_size: the network-input patch side (HR pixels for interpolated input, else LR).
        augment: apply one of the 8 rotations/flips per patch.
        device: where the buffers live and patches are cut.
        seed: seed of the sampler's own generator (its state is part of a checkpoint).
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        spec: ModelSpec,
        scales: Sequence[int],
        patch_size: int,
        augment: bool,
        device: torch.device,
        seed: int,
    ) -> None:
        self.spec = spec
        self.patch_size = patch_size
        self.augment = augment
        self.device = device
        self.factor = 1 if spec.interpolated else int(scales[0])
        if not spec.interpolated and len(set(scales)) > 1:
            raise BadArgument("low-resolution-input models train one scale at a time")
        inputs, targets, scale_of = [], [], []
        for scale in scales:
            for image in images:
                pair = self._pair(image, scale)
                if min(pair[0].shape[:2]) >= patch_size:
                    inputs.append(pair[0])
                    targets.append(pair[1])
                    scale_of.append(scale)
        if not inputs:
            raise BadArgument(f"data.patch_size {patch_size}: no training image is that large at these scales")
        self.inputs = _Packed.pack(inputs, device)
        self.targets = _Packed.pack(targets, device)
        self.scale_of = torch.tensor(scale_of)
        # Sample images in proportion to their patch positions, like a grid of patches would.
        positions = (self.inputs.height - patch_size + 1) * (self.inputs.width - patch_size + 1)
        self.weights = positions.double().cpu()
        self.generator = torch.Generator().manual_seed(seed)

    def _pair(self, image: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
        """(network input, target) for one image and scale, channels last."""
        hr = modcrop(image, scale)
        if self.spec.channels == 1:
            y = luminance(hr)
            lr = imresize(torch.from_numpy(y / 255.0), 1 / scale)
            net_in = imresize(lr, scale) if self.spec.interpolated else lr
            return net_in.float().numpy()[..., None], y.astype(np.uint8)[..., None]
        rgb = hr if hr.ndim == 3 else np.repeat(hr[..., None], 3, axis=2)
        return _resize_uint8(rgb, 1 / scale), rgb

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A batch ``(inputs, targets, scales)``; inputs and targets are float in [0, 1]."""
        g = self.generator
        entry = torch.multinomial(self.weights, batch_size, replacement=True, generator=g)
        p = self.patch_size
        room_h = (self.inputs.height.cpu()[entry] - p + 1).double()
        room_w = (self.inputs.width.cpu()[entry] - p + 1).double()
        top = (torch.rand(batch_size, generator=g, dtype=torch.float64) * room_h).long()
        left = (torch.rand(batch_size, generator=g, dtype=torch.float64) * room_w).long()
        k = (
            torch.randint(0, 8, (batch_size,), generator=g)
            if self.augment
            else torch.zeros(batch_size, dtype=torch.long)
        )
        to = self.device
        entry_d, top_d, left_d, k_d = entry.to(to), top.to(to), left.to(to), k.to(to)
        x = self.inputs.crop(entry_d, top_d, left_d, p, k_d)
        f = self.factor
        y = self.targets.crop(entry_d, top_d * f, left_d * f, p * f, k_d)
        if self.spec.input == "rgb-lowres" or self.inputs.buffer.dtype == torch.uint8:
            x = x / 255.0
        y = y / 255.0
        return x, y, self.scale_of[entry]

    def state(self) -> torch.Tensor:
        """The generator state (saved in checkpoints so data order resumes exactly)."""
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)
