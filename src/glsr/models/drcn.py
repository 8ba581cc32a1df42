"""DRCN: Kim, Lee, Lee (2016), "Deeply-Recursive Convolutional Network for Image Super-Resolution",
CVPR 2016.

Three sub-networks on the interpolated luminance (ILR), all 3x3 convolutions with zero padding and
ReLU after every convolution but the last (../shared/docs/architectures.md §1.5):

1. embedding net: ``Conv(1 -> C)`` and ``Conv(C -> C)``, giving ``H_0``;
2. inference net: ONE ``Conv(C -> C)`` applied ``T`` times with the same weights,
   ``H_t = ReLU(W * H_{t-1} + b)``;
3. reconstruction net, shared by all recursions: ``Conv(C -> C)`` and ``Conv(C -> 1)``; every
   recursion gives a prediction ``y_t = Rec(H_t) + ILR`` (the skip connection).

The output is the learned ensemble ``y = sum_t w_t y_t``, with ``w_t`` initialised to ``1/T``
(DRRN's summary of DRCN, Sec. 2.3 and eq. 2, writes it the same way). The
intermediate predictions are exposed for recursive supervision (the DRCN loss
``alpha * mean_t l(y_t) + (1 - alpha) * l(y)``). With C = 256 and T = 16 the network has 1,774,080
convolution weights, three distinct 256 -> 256 convolutions: the 1,774K the literature quotes.
"""

from __future__ import annotations

import torch
from torch import nn

from glsr.errors import BadArgument
from glsr.models._layers import he_conv, outside_autocast
from glsr.models._spec import ModelSpec


class EmbeddingNet(nn.Module):
    """The embedding net: the ILR to the feature maps ``H_0`` (two convolutions with ReLU)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = he_conv(1, channels)
        self.conv2 = he_conv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(outside_autocast(lambda image: torch.relu(self.conv1(image)), x)))


class InferenceNet(nn.Module):
    """The inference net: one recursive layer ``H_t = ReLU(W * H_{t-1} + b)``, unrolled ``T`` times.

    All ``T`` recursions use the single convolution ``self.conv``: recursion adds depth, not
    parameters.
    """

    def __init__(self, channels: int, recursions: int) -> None:
        super().__init__()
        self.recursions = recursions
        self.conv = he_conv(channels, channels)

    def forward(self, h: torch.Tensor) -> list[torch.Tensor]:
        """The hidden states ``H_1 .. H_T``."""
        states = []
        for _ in range(self.recursions):
            h = torch.relu(self.conv(h))
            states.append(h)
        return states


class ReconstructionNet(nn.Module):
    """The reconstruction net, shared by every recursion: ``y_t = W_2 * ReLU(W_1 * H_t) + ILR``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = he_conv(channels, channels)
        self.conv2 = he_conv(channels, 1)

    def forward(self, h: torch.Tensor, interpolated: torch.Tensor) -> torch.Tensor:
        return interpolated + self.conv2(torch.relu(self.conv1(h)))


class DRCN(nn.Module):
    """The deeply-recursive network with recursive supervision, skip connection and ensemble.

    Maps the ILR luminance ``(N, 1, H, W)`` in [0, 1] to the HR luminance of the same size.

    Args:
        channels: feature width (256).
        recursions: ``T``, the times the inference convolution is applied (16).
    """

    def __init__(self, channels: int = 256, recursions: int = 16) -> None:
        super().__init__()
        if recursions < 1:
            raise BadArgument(f"DRCN needs at least 1 recursion, not {recursions}")
        self.embedding = EmbeddingNet(channels)
        self.inference = InferenceNet(channels, recursions)
        self.reconstruction = ReconstructionNet(channels)
        self.ensemble_weights = nn.Parameter(torch.full((recursions,), 1.0 / recursions))

    def forward_with_intermediate(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The final output and the ``T`` per-recursion predictions ``y_t`` (for recursive supervision)."""
        predictions = [self.reconstruction(h, x) for h in self.inference(self.embedding(x))]
        output = predictions[0] * self.ensemble_weights[0]
        for t in range(1, len(predictions)):
            output = output + predictions[t] * self.ensemble_weights[t]
        return output, predictions

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_intermediate(x)[0]


def _build(scale: int, **kwargs: object) -> DRCN:
    return DRCN(**kwargs)  # type: ignore[arg-type]


SPECS = (
    ModelSpec(
        name="drcn",
        paper="Kim, Lee, Lee 2016, DRCN (CVPR)",
        build=_build,
        input="luma-interpolated",
        protocol="luma",
        test_kwargs={"channels": 8, "recursions": 3},
        paper_params={2: 1_774_000, 3: 1_774_000, 4: 1_774_000},
        param_tolerance=0.03,
        # 2 embedding + 16 recursions + 2 reconstruction 3x3 convolutions.
        margin=20,
        multiscale=True,
        description="DRCN: one 256-channel convolution applied 16 times, learned ensemble of 16 predictions",
    ),
)
