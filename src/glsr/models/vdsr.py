"""VDSR: Kim, Lee, Lee (2016), "Accurate Image Super-Resolution Using Very Deep Convolutional
Networks", CVPR 2016.

Twenty 3x3 convolutions of 64 filters with ReLU (the last has one filter and no activation) predict
the residual between the interpolated luminance (ILR) and the HR luminance; the ILR is added back
(global residual learning, the paper's Sec. 3 and Fig. 2). Zero padding keeps every feature map at
the input's size. One network serves x2, x3 and x4 (the paper's multi-scale training).

This is the original VDSR without batch normalisation. DRRN's re-implementation adds pre-activation
BN; that variant is ``drrn`` with ``units=0, blocks=19, channels=64`` (DRRN Sec. 3.3: "when U = 0,
DRRN becomes VDSR").
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from glsr.errors import BadArgument
from glsr.models._layers import he_conv, outside_autocast
from glsr.models._spec import ModelSpec


class VDSR(nn.Module):
    """The very deep network of Fig. 2: ``y = x + W_d * ReLU(... ReLU(W_1 * x))``.

    Maps the ILR luminance ``(N, 1, H, W)`` in [0, 1] to the HR luminance of the same size.

    Args:
        layers: convolutional (weight) layers, ``d`` in the paper (20).
        channels: filters of every layer but the last (64).
    """

    def __init__(self, layers: int = 20, channels: int = 64) -> None:
        super().__init__()
        if layers < 2:
            raise BadArgument(f"VDSR needs at least 2 layers, not {layers}")
        widths = [1, *([channels] * (layers - 1)), 1]
        self.layers = nn.ModuleList(he_conv(i, o) for i, o in itertools.pairwise(widths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = outside_autocast(lambda image: torch.relu(self.layers[0](image)), x)
        for conv in self.layers[1:-1]:
            h = torch.relu(conv(h))
        return x + self.layers[-1](h)


def _build(scale: int, **kwargs: object) -> VDSR:
    return VDSR(**kwargs)  # type: ignore[arg-type]


SPECS = (
    ModelSpec(
        name="vdsr",
        paper="Kim, Lee, Lee 2016, VDSR (CVPR)",
        build=_build,
        input="luma-interpolated",
        protocol="luma",
        test_kwargs={"layers": 5, "channels": 8},
        paper_params={2: 665_000, 3: 665_000, 4: 665_000},
        param_tolerance=0.02,
        margin=20,
        multiscale=True,
        bf16_auto=True,  # benchmarks/results/precision.json
        description="VDSR: 20 3x3 convolutions (64 filters), global residual on the interpolated luminance",
    ),
)
