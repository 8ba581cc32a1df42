"""RDN: Zhang, Tian, Kong, Zhong, Fu (CVPR 2018), "Residual Dense Network for Image Super-Resolution".

The network (paper Fig. 2) has four parts, all but the last at LR size:

1. shallow feature extraction (SFENet): two 3x3 convolutions, ``F_{-1}`` and ``F_0`` (eq. 1-2);
2. D residual dense blocks (RDB, Sec. 3.2, Fig. 3): C densely connected 3x3 conv + ReLU layers of
   growth rate G, a 1x1 local feature fusion and a local residual (eq. 4-7);
3. dense feature fusion (DFF, Sec. 3.3): a 1x1 then a 3x3 convolution over the concatenated block
   outputs (global feature fusion), plus ``F_{-1}`` (global residual learning, eq. 8-9);
4. the up-sampling net (UPNet): ESPCN sub-pixel convolution, then a 3x3 convolution to RGB.

Parts 1-3 are :class:`RDNTrunk`, the feature extractor that returns ``F_L``; SRGRN reuses it
unchanged and replaces part 4 (../shared/docs/architectures.md §4.1). Defaults D = 16, C = 8,
G = G0 = 64 and the x4 upsampler as two x2 stages follow the authors' ``RDN.lua`` and EDSR-PyTorch's
``rdn.py``. The paper trains on [0, 255] values with no mean shift; we take [0, 1] RGB directly (the
learned biases absorb the offset, and a mean shift would only add frozen parameters).
"""

from __future__ import annotations

import torch
from torch import nn

from glsr.models._layers import outside_autocast
from glsr.models._spec import ModelSpec


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 3x3 convolution with zero padding 1 (size preserving), bias, PyTorch's default init."""
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


class ResidualDenseBlock(nn.Module):
    """The RDB of Sec. 3.2 (Fig. 3).

    Layer ``c`` sees the block input and every earlier layer's output (contiguous memory, eq. 4):
    ``F_{d,c} = ReLU(W_{d,c} * [F_{d-1}, F_{d,1}, ..., F_{d,c-1}])``. Local feature fusion is a 1x1
    convolution over all of them (eq. 5), and local residual learning adds the block input (eq. 7).

    Args:
        channels: G0, the block's input and output width.
        growth: G, the width each layer adds.
        layers: C, the number of conv + ReLU layers.
    """

    def __init__(self, channels: int = 64, growth: int = 64, layers: int = 8) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(conv3x3(channels + c * growth, growth), nn.ReLU(inplace=True)) for c in range(layers)
        )
        self.local_fusion = nn.Conv2d(channels + layers * growth, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return self.local_fusion(torch.cat(features, dim=1)) + x


class RDNTrunk(nn.Module):
    """SFENet + D RDBs + DFF: ``(N, 3, H, W)`` to the LR features ``F_L = F_GF + F_{-1}`` (eq. 1-9).

    Args:
        in_channels: image channels.
        channels: G0, the feature width.
        growth: G, each RDB layer's growth rate.
        blocks: D, the number of RDBs.
        layers: C, conv layers per RDB.
    """

    def __init__(
        self, in_channels: int = 3, channels: int = 64, growth: int = 64, blocks: int = 16, layers: int = 8
    ) -> None:
        super().__init__()
        self.out_channels = channels
        self.shallow1 = conv3x3(in_channels, channels)  # F_{-1}, eq. 1
        self.shallow2 = conv3x3(channels, channels)  # F_0, eq. 2
        self.blocks = nn.ModuleList(ResidualDenseBlock(channels, growth, layers) for _ in range(blocks))
        # Global feature fusion (eq. 8): 1x1 over [F_1, ..., F_D], then a 3x3.
        self.global_fusion = nn.Sequential(nn.Conv2d(blocks * channels, channels, 1), conv3x3(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f_minus1 = outside_autocast(self.shallow1, x)
        h = self.shallow2(f_minus1)
        outputs = []
        for block in self.blocks:
            h = block(h)
            outputs.append(h)
        return self.global_fusion(torch.cat(outputs, dim=1)) + f_minus1  # eq. 9


class SubPixelConvolution(nn.Module):
    """One ESPCN sub-pixel stage (Shi et al. 2016): ``PixelShuffle_r(Conv3x3(x): C -> r^2 C)``.

    RDN's UPNet is one such stage for x2/x3 and two x2 stages for x4; SRGRN's ``H_UP`` (eq. 10) is one.
    """

    def __init__(self, channels: int, factor: int) -> None:
        super().__init__()
        self.conv = conv3x3(channels, channels * factor * factor)
        self.shuffle = nn.PixelShuffle(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


def upsampling_factors(scale: int) -> tuple[int, ...]:
    """The per-stage factors of an EDSR/RDN-style upsampler: x4 is two x2 stages."""
    if scale not in (2, 3, 4):
        raise ValueError(f"scale must be 2, 3 or 4, not {scale}")
    return (2, 2) if scale == 4 else (scale,)


class RDN(nn.Module):
    """Residual dense network (Fig. 2): :class:`RDNTrunk`, sub-pixel UPNet, Conv3x3 to RGB.

    Maps LR RGB ``(N, 3, H, W)`` in [0, 1] to ``(N, 3, sH, sW)``. There is no bicubic skip.

    Args:
        scale: the upscaling factor (2, 3 or 4).
        channels: G0. growth: G. blocks: D. layers: C (Sec. 4.1, "D = 16, C = 8, G = 64").
    """

    def __init__(self, scale: int, channels: int = 64, growth: int = 64, blocks: int = 16, layers: int = 8) -> None:
        super().__init__()
        self.scale = scale
        self.trunk = RDNTrunk(3, channels, growth, blocks, layers)
        self.upsampler = nn.Sequential(*(SubPixelConvolution(channels, r) for r in upsampling_factors(scale)))
        self.reconstruction = conv3x3(channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return outside_autocast(self.reconstruction, self.upsampler(self.trunk(x)))


def receptive_margin(blocks: int, layers: int) -> int:
    """The context, in LR pixels, an RDN output pixel needs on each side.

    SFENet's two 3x3 convs (2), D x C RDB layers, DFF's 3x3 (1), the sub-pixel conv (1), and the 3x3
    convs at HR (the RGB conv, and at x4 the second stage): at most 3 HR pixels, within 1 LR pixel.
    """
    return 2 + blocks * layers + 1 + 1 + 1


def _build(scale: int, **kwargs: object) -> RDN:
    return RDN(scale, **kwargs)  # type: ignore[arg-type]


SPECS = (
    ModelSpec(
        name="rdn",
        paper="Zhang et al. 2018, Residual Dense Network (RDN), CVPR",
        build=_build,
        input="rgb-lowres",
        protocol="rgb",
        # The paper says "22M"; our counts are 22,123,395 / 22,308,035 / 22,271,107 (+0.6 / +1.4 /
        # +1.2 %): the x3 upsampler conv (64 -> 576) is the largest.
        paper_params={2: 22_000_000, 3: 22_000_000, 4: 22_000_000},
        param_tolerance=0.02,
        test_kwargs={"channels": 8, "growth": 8, "blocks": 2, "layers": 2},
        margin=receptive_margin(16, 8),  # 133
        description="RDN: 16 residual dense blocks (C8, G64), sub-pixel upsampling, 22M parameters",
    ),
)
