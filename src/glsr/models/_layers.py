"""Layers shared by several model files."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def he_conv(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Conv2d:
    """A same-padded convolution with He (MSRA, fan_in) initialisation and zero bias.

    The Caffe models of SRCNN's successors (VDSR, DRCN, DRRN, GLRL) initialise this way (``msra``).
    """
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
    nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
    nn.init.zeros_(conv.bias)
    return conv


def outside_autocast(layer: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` in float32 (or the weights' wider type), also inside a bfloat16 autocast region.

    For the layers that read or write the image. Autocast rounds a tensor to bfloat16 before a layer:
    8 significant bits, steps of 1/256 between 0.5 and 1, about a grey level. A bicubic-upscaled image
    is smooth, so the rounding draws contour steps into it that the network then sharpens, and a layer
    that writes the image directly (no float32 skip added to it) rounds every output pixel. In bf16,
    GLRL lost 0.0011 SSIM on Set14 x4 the first way, and none with its first layer in float32; FSRCNN
    lost 0.10 dB on Set5 x2, and 0.06 with its first and last layers in float32, the rest in features
    that carry the image itself (README, "bf16"). These layers have one or three channels on one side,
    so float32 costs little there.
    """
    if x.dtype in (torch.bfloat16, torch.float16):
        x = x.float()
    with torch.autocast(x.device.type, enabled=False):
        return layer(x)
