"""GLRL: Hou, Si, Li (2018), "Image Super-Resolution Reconstruction Method Based on Global and Local
Residual Learning".

The network (paper Fig. 3) has three stages, all on the bicubic-interpolated luminance (ILR):

1. feature extraction: two convolutions with PReLU pre-activation (eq. 10-11);
2. non-linear mapping: stacked local residual blocks (LRB), each a shallow and a deep convolutional
   branch (eq. 12, Fig. 4b);
3. reconstruction: one two-layer network shared by every LRB, each prediction plus the ILR (global
   residual learning); the output is their learned weighted average (Sec. 3.3, as in DRCN).

The paper leaves the inside of the LRB to its Fig. 4, "based on the DRRN structure" with two residual
units. We follow ../shared/docs/architectures.md §5.2: the shallow branch is one convolution of the
pre-activated block input, and its output is the multi-path identity of both residual units of the
deep branch (the role DRRN gives H0). So the block output is G_D(a) + G_S(a), eq. 12 literally, and
the longest path is 2 + 3 x 4 + 2 = 16 convolutions, the paper's depth.
"""

from __future__ import annotations

import torch
from torch import nn

from glsr.models._layers import he_conv, outside_autocast
from glsr.models._spec import ModelSpec


class FeatureExtraction(nn.Module):
    """Sec. 3.1: ``x0 = W2 * PReLU(W1 * ILR)``, pre-activation (eq. 11) with PReLU (eq. 10)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = he_conv(1, channels)
        self.act = nn.PReLU(channels, init=0.25)
        self.conv2 = he_conv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(outside_autocast(lambda image: self.act(self.conv1(image)), x))


class ResidualUnit(nn.Module):
    """One residual unit of the deep branch: ``h = W_b * PReLU(W_a * PReLU(h_in)) + identity``.

    The activation of the unit's input is applied by the caller, because the first unit shares the
    block's pre-activation with the shallow branch.
    """

    def __init__(self, channels: int, first: nn.Conv2d | None = None, second: nn.Conv2d | None = None) -> None:
        super().__init__()
        # Passing convolutions in shares their weights across units (DRRN's recursion).
        self.conv_a = first if first is not None else he_conv(channels, channels)
        self.act = nn.PReLU(channels, init=0.25)
        self.conv_b = second if second is not None else he_conv(channels, channels)

    def forward(self, activated: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.act(self.conv_a(activated))) + identity


class LocalResidualBlock(nn.Module):
    """The LRB of Sec. 3.2, eq. 12: ``x_u = G_D(PReLU(x_{u-1})) + G_S(PReLU(x_{u-1}))``.

    ``G_S`` is the shallow convolutional branch (SCB), one convolution. ``G_D`` is the deep branch
    (DCB): ``units`` residual units whose identity path is the SCB output, so the shallow branch
    feeds its high-frequency features to every unit of the deep one (local residual learning).

    Args:
        channels: feature width.
        units: residual units in the deep branch (the paper's Fig. 4 has 2).
        share_weights: share the deep branch's convolutions across its units, as a DRRN recursive
            block does. The GLRL text never mentions recursion, so the default is unshared.
        shallow_layers: convolutions in the shallow branch (1; architectures.md's alternative (a) is 2).
    """

    def __init__(self, channels: int, units: int = 2, share_weights: bool = False, shallow_layers: int = 1) -> None:
        super().__init__()
        if shallow_layers not in (1, 2):
            raise ValueError("shallow_layers must be 1 or 2")
        self.pre_activation = nn.PReLU(channels, init=0.25)
        self.shallow: nn.Module = he_conv(channels, channels)
        if shallow_layers == 2:
            layers = [he_conv(channels, channels), nn.PReLU(channels, init=0.25), he_conv(channels, channels)]
            self.shallow = nn.Sequential(*layers)
        first = he_conv(channels, channels) if share_weights else None
        second = he_conv(channels, channels) if share_weights else None
        self.deep = nn.ModuleList(ResidualUnit(channels, first, second) for _ in range(units))
        self.unit_activations = nn.ModuleList(nn.PReLU(channels, init=0.25) for _ in range(units - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.pre_activation(x)
        shallow = self.shallow(a)
        h = self.deep[0](a, shallow)
        for act, unit in zip(self.unit_activations, self.deep[1:], strict=True):
            h = unit(act(h), shallow)
        return h


class Reconstruction(nn.Module):
    """Sec. 3.3: two pre-activated convolutions back to one channel, plus the ILR (global residual).

    The last convolution starts near zero (std 1e-3, as SRCNN initialises its layers), so every block's
    prediction starts at the ILR. The paper gives no initialisation. With He initialisation here too,
    the three predictions start about 0.2 away from the image (initial loss 0.57). Training then found
    a wrong solution: the learned average cancelled three bad predictions (each with MSE 0.02-0.12)
    down to no better than bicubic, and stayed there.
    """

    def __init__(self, channels: int, concat_interpolated: bool = False) -> None:
        super().__init__()
        self.concat_interpolated = concat_interpolated
        self.act1 = nn.PReLU(channels, init=0.25)
        self.conv1 = he_conv(channels + int(concat_interpolated), channels)
        self.act2 = nn.PReLU(channels, init=0.25)
        self.conv2 = he_conv(channels, 1)
        if not concat_interpolated:
            nn.init.normal_(self.conv2.weight, std=1e-3)

    def forward(self, features: torch.Tensor, interpolated: torch.Tensor) -> torch.Tensor:
        if self.concat_interpolated:
            # Alternative (b): the ILR is an input of the reconstruction instead of being added to it.
            return self.conv2(self.act2(self.conv1(torch.cat([self.act1(features), interpolated], dim=1))))
        return interpolated + self.conv2(self.act2(self.conv1(self.act1(features))))


class GLRL(nn.Module):
    """Global and local residual learning network (Fig. 3).

    Maps the ILR luminance ``(N, 1, H, W)`` in [0, 1] to the HR luminance of the same size. The
    output is ``sum_b w_b * y_b`` over the per-block predictions ``y_b`` (eq. 13 trains it with MSE),
    with learnable weights initialised to ``1/blocks`` (DRCN's ensemble, unconstrained).

    Args:
        channels: feature width (64; the DRRN width 128 gives 2.5M parameters).
        blocks: local residual blocks (3 in the paper's final model, Table 1 compares 2).
        units: residual units in each deep branch.
        share_weights: share convolutions inside each deep branch (see :class:`LocalResidualBlock`).
        shallow_layers: convolutions in each shallow branch (architectures.md §5.2 alternative (a): 2).
        concat_interpolated: concatenate the ILR into the reconstruction input instead of adding it to
            its output (alternative (b)).
        shared_reconstruction: one reconstruction network for every block, as Sec. 3.3 describes;
            False gives each block its own (alternative (c)).
    """

    def __init__(
        self,
        channels: int = 64,
        blocks: int = 3,
        units: int = 2,
        share_weights: bool = False,
        shallow_layers: int = 1,
        concat_interpolated: bool = False,
        shared_reconstruction: bool = True,
    ) -> None:
        super().__init__()
        self.features = FeatureExtraction(channels)
        self.blocks = nn.ModuleList(
            LocalResidualBlock(channels, units, share_weights, shallow_layers) for _ in range(blocks)
        )
        if shared_reconstruction:
            self.reconstruction = Reconstruction(channels, concat_interpolated)
        else:
            self.reconstructions = nn.ModuleList(Reconstruction(channels, concat_interpolated) for _ in range(blocks))
        self.block_weights = nn.Parameter(torch.full((blocks,), 1.0 / blocks))

    def forward_with_intermediate(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The final output and each block's prediction (for DRCN-style recursive supervision)."""
        h = self.features(x)
        predictions = []
        for b, block in enumerate(self.blocks):
            h = block(h)
            reconstruction = self.reconstructions[b] if hasattr(self, "reconstructions") else self.reconstruction
            predictions.append(reconstruction(h, x))
        output = predictions[0] * self.block_weights[0]
        for b in range(1, len(predictions)):
            output = output + predictions[b] * self.block_weights[b]
        return output, predictions

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_intermediate(x)[0]


def _build(scale: int, **kwargs: object) -> GLRL:
    return GLRL(**kwargs)  # type: ignore[arg-type]


SPEC = ModelSpec(
    name="glrl",
    paper="Hou, Si, Li 2018, Global and Local Residual Learning (GLRL)",
    build=_build,
    input="luma-interpolated",
    protocol="luma",
    test_kwargs={"channels": 8},
    margin=16,
    multiscale=True,
    bf16_auto=True,  # benchmarks/results/precision.json
    # No default_for: gladsr_l, the best RGB model, beats it on the held-out photos at every scale.
    description="GLRL: 3 local residual blocks (shallow + deep branch), weighted multi-output, 16 layers",
)
