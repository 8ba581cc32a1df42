"""DRRN: Tai, Yang, Liu (2017), "Image Super-Resolution via Deep Recursive Residual Network", CVPR 2017.

``B`` recursive blocks, each a first convolution followed by ``U`` residual units whose two
convolutions are shared by all the units of the block (recursive learning), with every unit's identity
branch taken from the block's first convolution ``H_0`` (multi-path local residual learning, eq. 4-6).
A last convolution reconstructs the residual, added to the interpolated input (global residual
learning, eq. 9). Depth ``d = (1 + 2U) B + 1`` (eq. 7): B1U9 has 20 layers, B1U25 has 52, and both
have the same 297,216 convolution weights, the paper's "297K".

Details follow the official Caffe prototxt (../shared/docs/architectures.md §2.1): width 128, 3x3
convolutions with bias and zero padding 1, and pre-activation BN -> ReLU -> conv everywhere (Fig. 3),
including on the raw input before the first convolution and before the reconstruction. Only the
convolution weights and biases are shared across the unrolled units: each unrolled convolution has its
own BatchNorm (``bn_conv1_3a`` etc. in the prototxt carry no shared parameter names).

With ``units=0`` and ``batch_norm=False`` the network is exactly VDSR with ``blocks + 1`` layers
(Sec. 3.3: "when U = 0, DRRN becomes VDSR"): the ReLU that pre-activates the input is the identity on
an image in [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from glsr.errors import BadArgument
from glsr.models._layers import he_conv, outside_autocast
from glsr.models._spec import ModelSpec


class PreActivation(nn.Module):
    """The pre-activation before every weight layer (Fig. 3): BatchNorm (with its affine ``Scale``)
    then ReLU, or ReLU alone when ``batch_norm`` is False."""

    def __init__(self, channels: int, batch_norm: bool = True, momentum: float = 0.1) -> None:
        super().__init__()
        self.norm: nn.Module = nn.BatchNorm2d(channels, momentum=momentum) if batch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(x))


class ResidualUnit(nn.Module):
    """The residual unit of eq. 4 (Fig. 3): ``H^u = F(H^{u-1}, W) + H^0``.

    ``F`` is two pre-activated convolutions. The convolutions (the weight set ``W``) belong to the
    recursive block and are passed in, because every unit of the block shares them; the unit owns only
    its two pre-activations, which are not shared.
    """

    def __init__(self, channels: int, batch_norm: bool = True, momentum: float = 0.1) -> None:
        super().__init__()
        self.pre_activation_a = PreActivation(channels, batch_norm, momentum)
        self.pre_activation_b = PreActivation(channels, batch_norm, momentum)

    def forward(self, h: torch.Tensor, h0: torch.Tensor, conv_a: nn.Conv2d, conv_b: nn.Conv2d) -> torch.Tensor:
        return conv_b(self.pre_activation_b(conv_a(self.pre_activation_a(h)))) + h0


class RecursiveBlock(nn.Module):
    """The recursive block of Sec. 3.2 (Fig. 4), eq. 5-6: ``x_b = G^(U)(f_b(x_{b-1}))``.

    ``f_b`` is the block's first (pre-activated) convolution, giving ``H_b^0``; then ``U`` residual units
    with the shared weight set ``W_b`` = (``conv_a``, ``conv_b``), different across blocks.

    Args:
        in_channels: channels of the block input (1 for the first block, the image).
        channels: feature width.
        units: ``U``, residual units (0: the block is a single pre-activated convolution).
        batch_norm: BN in the pre-activations.
        momentum: the BatchNorm running-average momentum.
    """

    def __init__(
        self, in_channels: int, channels: int, units: int, batch_norm: bool = True, momentum: float = 0.1
    ) -> None:
        super().__init__()
        self.pre_activation = PreActivation(in_channels, batch_norm, momentum)
        self.conv = he_conv(in_channels, channels)
        # The first block reads the image, which stays float32 under autocast (see outside_autocast).
        self.reads_image = in_channels == 1
        self.conv_a: nn.Conv2d | None = he_conv(channels, channels) if units > 0 else None
        self.conv_b: nn.Conv2d | None = he_conv(channels, channels) if units > 0 else None
        self.units = nn.ModuleList(ResidualUnit(channels, batch_norm, momentum) for _ in range(units))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reads_image:
            h0 = outside_autocast(lambda image: self.conv(self.pre_activation(image)), x)
        else:
            h0 = self.conv(self.pre_activation(x))
        h = h0
        if self.conv_a is not None and self.conv_b is not None:  # fixed at construction: U > 0
            for unit in self.units:
                h = unit(h, h0, self.conv_a, self.conv_b)
        return h


class DRRN(nn.Module):
    """The deep recursive residual network of Sec. 3.3 (Fig. 5), eq. 9:
    ``y = f_Rec(R_B(... R_1(x))) + x``.

    Maps the interpolated luminance ``(N, 1, H, W)`` in [0, 1] to the HR luminance of the same size.

    Args:
        blocks: ``B``, recursive blocks (1 in both published models).
        units: ``U``, residual units per block (9 or 25).
        channels: feature width (128).
        batch_norm: BN in every pre-activation, as the official model has. False leaves ReLU alone
            (``yjn870/DRRN-pytorch``; with ``units=0`` this is VDSR).
        bn_momentum: the BatchNorm running-average momentum. Caffe's ``moving_average_fraction`` 0.999
            corresponds to 0.001; PyTorch's default 0.1 settles faster in short runs.
        zero_init: start the reconstruction layer at zero (ours, a training choice), so that the
            untrained network returns its input and training learns only the residual of eq. 9. With
            He initialisation a CPU try stayed below bicubic on Set5 (docs/training.md).
    """

    def __init__(
        self,
        blocks: int = 1,
        units: int = 9,
        channels: int = 128,
        batch_norm: bool = True,
        bn_momentum: float = 0.1,
        zero_init: bool = False,
    ) -> None:
        super().__init__()
        if blocks < 1 or units < 0:
            raise BadArgument(f"DRRN needs blocks >= 1 and units >= 0, not B={blocks}, U={units}")
        self.blocks = nn.ModuleList(
            RecursiveBlock(1 if b == 0 else channels, channels, units, batch_norm, bn_momentum) for b in range(blocks)
        )
        self.pre_reconstruction = PreActivation(channels, batch_norm, bn_momentum)
        self.reconstruction = he_conv(channels, 1)
        if zero_init:
            nn.init.zeros_(self.reconstruction.weight)

    @property
    def depth(self) -> int:
        """Convolutional layers on the longest path, eq. 7: ``(1 + 2U) B + 1``."""
        return sum(1 + 2 * len(block.units) for block in self.blocks) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for block in self.blocks:
            h = block(h)
        return x + self.reconstruction(self.pre_reconstruction(h))


@torch.no_grad()
def grow_units(state: dict[str, torch.Tensor], model: DRRN, off_scale: float = 1e-4) -> dict[str, torch.Tensor]:
    """A state dict for ``model`` that computes what ``state``, a DRRN with fewer units, computes.

    Both have the same blocks and the same shared weight sets ``W_b`` (eq. 5); only ``U`` differs,
    so the convolutions copy over by name. The smaller network's units become the last ones of each
    block, and the new units come first, all but switched off: their second BatchNorm has zero shift
    and the scale ``off_scale``, so ``F`` of eq. 4 is the bias of ``conv_b`` plus ``off_scale`` times
    the unit's usual term, and every new unit returns about ``H^0 + bias``. The first old unit then
    sees its input shifted by that bias, which its first BatchNorm's running mean absorbs (in
    training the batch mean does). So the grown network starts where the smaller one ended (B1U9 ->
    B1U25), to within ``off_scale``, and training switches the new units on through those scales. A
    scale of exactly zero would be exact but dead: the ReLU after that BatchNorm passes no gradient
    at zero. The paper trains each depth from scratch.

    Raises:
        ValueError: the states differ in more than ``U``, the source has more units than ``model``,
            or there is no BatchNorm to switch units off with.
    """
    own = model.state_dict()
    grown = {name: tensor.clone() for name, tensor in own.items()}
    for b, block in enumerate(model.blocks):
        prefix = f"blocks.{b}.units."
        old = {int(k[len(prefix) :].split(".")[0]) for k in state if k.startswith(prefix)}
        extra = len(block.units) - len(old)
        if block.units and not isinstance(block.units[0].pre_activation_b.norm, nn.BatchNorm2d):
            raise ValueError("a DRRN without BatchNorm has no units to grow (nor a way to switch new ones off)")
        if not old or old != set(range(len(old))) or extra < 0:
            raise ValueError(f"block {b}: {len(old)} units do not fit in {len(block.units)}")
        for name in [k for k in grown if k.startswith(prefix)]:
            unit, rest = name[len(prefix) :].split(".", 1)
            if int(unit) < extra:
                if rest == "pre_activation_b.norm.weight":
                    grown[name].fill_(off_scale)
                elif rest == "pre_activation_b.norm.bias":
                    grown[name].zero_()
                continue
            source = f"{prefix}{int(unit) - extra}.{rest}"
            if source not in state or state[source].shape != grown[name].shape:
                raise ValueError(f"{name}: no tensor {source} of that shape in the smaller DRRN")
            grown[name] = state[source].clone()
        if extra and block.conv_b is not None and block.conv_b.bias is not None:
            bias = state[f"blocks.{b}.conv_b.bias"]
            grown[f"{prefix}{extra}.pre_activation_a.norm.running_mean"] += bias
    for name, tensor in state.items():
        if ".units." in name:
            continue
        if name not in grown or grown[name].shape != tensor.shape:
            raise ValueError(f"{name} is not a tensor of the larger DRRN")
        grown[name] = tensor.clone()
    return grown


def _build(scale: int, **kwargs: object) -> DRRN:
    return DRRN(**kwargs)  # type: ignore[arg-type]


def _spec(name: str, units: int, test_kwargs: dict[str, int], description: str, bf16_auto: bool = False) -> ModelSpec:
    return ModelSpec(
        name=name,
        paper="Tai, Yang, Liu 2017, DRRN (CVPR)",
        build=_build,
        input="luma-interpolated",
        protocol="luma",
        kwargs={"blocks": 1, "units": units},
        test_kwargs={"channels": 8, **test_kwargs},
        # The paper counts convolution weights only: 297,216 for every B1 model.
        paper_params={2: 297_000, 3: 297_000, 4: 297_000},
        param_tolerance=0.05,
        param_count="conv_weights",
        margin=1 + 2 * units + 1,  # the depth, eq. 7 with B = 1
        multiscale=True,
        bf16_auto=bf16_auto,
        description=description,
    )


SPECS = (
    _spec(
        "drrn",
        9,
        {"blocks": 2, "units": 2},
        "DRRN, B and U as arguments (default B1U9): recursive blocks of weight-shared residual units",
    ),
    _spec(
        "drrn_b1u9",
        9,
        {"units": 2},
        "DRRN_B1U9: 9 weight-shared residual units, 20 layers, 297K weights",
        bf16_auto=True,  # benchmarks/results/precision.json
    ),
    _spec("drrn_b1u25", 25, {"units": 3}, "DRRN_B1U25: 25 weight-shared residual units, 52 layers, 297K weights"),
)
