"""The model descriptor: everything inference, evaluation and training need to know about a model."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

Input = Literal["luma-interpolated", "luma-lowres", "rgb-lowres"]
Protocol = Literal["luma", "rgb"]


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """A row of the model table (our version of timm's pretrained config and spandrel's descriptor).

    Attributes:
        name: the public name, e.g. ``"drrn_b1u25"``.
        paper: a short citation.
        build: ``build(scale, **kwargs)`` returns the network. Interpolated-input models ignore
            ``scale``.
        input: what the network consumes. ``luma-interpolated``: the Y channel, bicubic-upscaled to
            the output size; ``luma-lowres``: the Y channel at LR size; ``rgb-lowres``: RGB at LR size.
            The network always maps ``(N, C, H, W)`` floats in [0, 1] to ``(N, C, H', W')``.
        protocol: the benchmark protocol the paper used (see :mod:`glsr.evaluate`).
        scales: the scale factors the model supports.
        kwargs: the variant's fixed hyper-parameters, passed to ``build``.
        test_kwargs: overrides that make a tiny variant for fast tests.
        paper_params: the parameter count the paper states, per scale (``None``: not stated).
        param_tolerance: the relative tolerance of our count against ``paper_params``.
        param_count: what the paper counted: ``"all"`` parameters, or ``"conv_weights"`` only.
        margin: the receptive-field margin in input pixels: the context a pixel needs on each side,
            so that tiles overlapping by this much reproduce the whole-image output.
        global_context: True if a layer pools over the whole image (attention, graph reasoning), so
            that tiled output can only approximate the whole-image output.
        size_multiple: the input height and width must be a multiple of this (1: any size).
        multiscale: one set of weights serves every scale (the paper trained with scale
            augmentation), so the shipped file is ``<name>.safetensors`` rather than per scale.
        default_for: the scales at which this is the model ``glsr upscale`` and :func:`glsr.upscale`
            use when none is named (exactly one model per scale; tested).
        bf16_auto: ``--precision auto`` runs this model under bf16 autocast on a CPU where bf16 is fast
            (:func:`glsr.hardware.fast_bf16`). Set it only where ``benchmarks/precision.py`` measured
            the shipped weights in bf16 within 0.01 dB and 0.0001 SSIM of fp32 on Set5, Set14 and
            BSD100 (tested against the stored results). Networks that add their output to a float32
            image (a global residual) lose nothing; ones that carry the image itself through bf16
            features (SRCNN, FSRCNN) lose up to 0.06 dB.
        description: one line for ``glsr models``.
    """

    name: str
    paper: str
    build: Callable[..., nn.Module]
    input: Input
    protocol: Protocol
    scales: tuple[int, ...] = (2, 3, 4)
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    test_kwargs: Mapping[str, Any] = field(default_factory=dict)
    paper_params: Mapping[int, int] | None = None
    param_tolerance: float = 0.0
    param_count: Literal["all", "conv_weights"] = "all"
    margin: int = 0
    global_context: bool = False
    size_multiple: int = 1
    multiscale: bool = False
    default_for: tuple[int, ...] = ()
    bf16_auto: bool = False
    description: str = ""

    @property
    def channels(self) -> int:
        """Image channels the network takes and returns."""
        return 3 if self.input == "rgb-lowres" else 1

    @property
    def interpolated(self) -> bool:
        """The input is bicubic-upscaled to the output size before the network."""
        return self.input == "luma-interpolated"

    def weights_stem(self, scale: int) -> str:
        """The shipped weight file's name without extension."""
        return self.name if self.multiscale else f"{self.name}_x{scale}"


def count_parameters(model: nn.Module, what: Literal["all", "conv_weights"] = "all") -> int:
    """Count trainable parameters, or only the weights of convolutions (as DRRN's paper counts)."""
    if what == "all":
        return sum(p.numel() for p in model.parameters())
    convs = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, convs))
