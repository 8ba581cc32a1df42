"""FSRCNN: Dong, Loy, Tang (2016), "Accelerating the Super-Resolution Convolutional Neural Network",
ECCV 2016.

An hourglass network on the low-resolution luminance (not interpolated), five parts (Sec. 3.2):
feature extraction ``Conv(5, d, 1)``, shrinking ``Conv(1, s, d)``, non-linear mapping
``m x Conv(3, s, s)``, expanding ``Conv(1, d, s)`` and a ``9 x 9`` deconvolution with stride ``scale``
that produces the HR luminance. Every convolution is followed by a PReLU. The variant is
FSRCNN(d=56, s=12, m=4), the paper's 12K-parameter model (../shared/docs/architectures.md §1.3).

The deconvolution uses padding 4 and output padding ``scale - 1``, so that an ``H x W`` input gives
exactly ``scale*H x scale*W``: LR pixel ``i`` then centres its kernel on HR pixel ``scale*i``, and the
learned (asymmetric) kernel absorbs the sub-pixel offset of the bicubic sampling grid.
"""

from __future__ import annotations

import torch
from torch import nn

from glsr.models._layers import outside_autocast
from glsr.models._spec import ModelSpec

PRELU_INIT = 0.25


def _conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Conv2d:
    """A same-padded convolution with He initialisation for a PReLU of slope 0.25, zero bias."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
    nn.init.kaiming_normal_(conv.weight, a=PRELU_INIT, mode="fan_in", nonlinearity="leaky_relu")
    nn.init.zeros_(conv.bias)
    return conv


def bilinear_deconvolution_kernel(scale: int, size: int = 9) -> torch.Tensor:
    """The 1-D taps with which a stride-``scale`` deconvolution (padding ``size // 2``) interpolates linearly.

    LR pixel ``i`` puts tap ``t`` on HR pixel ``scale * i + t - size // 2``. On MATLAB's grid an HR pixel
    ``o`` sits at LR position ``(o + 0.5) / scale - 0.5``, so the linear weight of the tap at offset
    ``t' = t - size // 2`` is ``max(0, 1 - |t' - (scale - 1) / 2| / scale)``. Each HR phase (offset mod
    ``scale``) is normalised to sum to 1, which matters only where the kernel is too small for the
    scale (x4 and up with 9 taps): there the phase that loses a tap falls back towards nearest.
    """
    offsets = torch.arange(size, dtype=torch.float64) - size // 2
    taps = (1 - (offsets - (scale - 1) / 2).abs() / scale).clamp(min=0)
    for phase in range(scale):
        members = (offsets.long() % scale) == phase
        taps[members] /= taps[members].sum()
    return taps.float()


class ConvPReLU(nn.Sequential):
    """``Conv(f, n, c)`` in the paper's notation followed by a per-channel PReLU (Sec. 3.2)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(_conv(in_channels, out_channels, kernel_size), nn.PReLU(out_channels, init=PRELU_INIT))


class FSRCNN(nn.Module):
    """FSRCNN(d, s, m) of Sec. 3.2 (Fig. 2), mapping LR luminance ``(N, 1, H, W)`` to ``(N, 1, sH, sW)``.

    Args:
        scale: the upscaling factor (the deconvolution's stride); one network per scale.
        d: the LR feature dimension (56).
        s: the shrunk dimension the mapping works in (12).
        m: the number of ``3 x 3`` mapping layers (4).
        identity_init: start as bilinear upscaling (ours, a training choice, as SRCNN's
            ``identity_init``): channel 0 of every layer carries the input pixel (a centred delta; the
            PReLUs pass it because the input is in [0, 1]), and the deconvolution spreads it with a
            bilinear kernel on MATLAB's sampling grid while its other input channels start at zero.
            Training then learns a correction of an interpolated image; the network stays Sec. 3.2's.
    """

    def __init__(self, scale: int, d: int = 56, s: int = 12, m: int = 4, identity_init: bool = False) -> None:
        super().__init__()
        self.scale = scale
        self.feature_extraction = ConvPReLU(1, d, 5)
        self.shrinking = ConvPReLU(d, s, 1)
        self.mapping = nn.Sequential(*(ConvPReLU(s, s, 3) for _ in range(m)))
        self.expanding = ConvPReLU(s, d, 1)
        self.deconvolution = nn.ConvTranspose2d(d, 1, 9, stride=scale, padding=4, output_padding=scale - 1)
        # The paper draws the deconvolution filters from a Gaussian with std 0.001.
        nn.init.normal_(self.deconvolution.weight, std=1e-3)
        nn.init.zeros_(self.deconvolution.bias)
        if identity_init:
            self._start_as_bilinear()

    def _start_as_bilinear(self) -> None:
        with torch.no_grad():
            convs = [self.feature_extraction[0], self.shrinking[0], *(layer[0] for layer in self.mapping)]
            for conv in [*convs, self.expanding[0]]:
                k = conv.kernel_size[0] // 2
                conv.weight[0].zero_()
                conv.weight[0, 0, k, k] = 1.0
                conv.bias[0] = 0.0
            self.deconvolution.weight.zero_()
            kernel = bilinear_deconvolution_kernel(self.scale, self.deconvolution.kernel_size[0])
            self.deconvolution.weight[0, 0] = torch.outer(kernel, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expanding(self.mapping(self.shrinking(outside_autocast(self.feature_extraction, x))))
        return outside_autocast(self.deconvolution, h)


def _build(scale: int, **kwargs: object) -> FSRCNN:
    return FSRCNN(scale, **kwargs)  # type: ignore[arg-type]


SPECS = (
    ModelSpec(
        name="fsrcnn",
        paper="Dong, Loy, Tang 2016, FSRCNN (ECCV)",
        build=_build,
        input="luma-lowres",
        protocol="luma",
        test_kwargs={"d": 8, "s": 4, "m": 1},
        paper_params={2: 12_000, 3: 12_000, 4: 12_000},
        param_tolerance=0.08,
        # LR pixels: 2 (5x5) + 4 (four 3x3) + the 9x9 deconvolution's reach (2 at x2 and x3, 1 at x4).
        margin=8,
        multiscale=False,
        description="FSRCNN(56, 12, 4): hourglass CNN on the LR luminance, 9x9 deconvolution upscaling",
    ),
)
