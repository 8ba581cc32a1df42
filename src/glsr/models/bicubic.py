"""MATLAB bicubic interpolation as a parameter-free model: the baseline row of every table."""

from __future__ import annotations

import torch
from torch import nn

from glsr.models._spec import ModelSpec
from glsr.resize import imresize


class Bicubic(nn.Module):
    """``imresize(x, scale, 'bicubic')`` on an ``(N, C, H, W)`` tensor (MATLAB semantics)."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return imresize(x, self.scale)


def _build(scale: int) -> Bicubic:
    return Bicubic(scale)


SPEC = ModelSpec(
    name="bicubic",
    paper="MATLAB imresize (Keys 1981, a = -0.5)",
    build=_build,
    input="rgb-lowres",
    protocol="luma",
    paper_params={2: 0, 3: 0, 4: 0},
    margin=3,
    multiscale=True,
    description="MATLAB bicubic interpolation, no parameters",
)
