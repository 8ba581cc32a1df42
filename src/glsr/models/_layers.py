"""Layers shared by several model files."""

from __future__ import annotations

from torch import nn


def he_conv(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Conv2d:
    """A same-padded convolution with He (MSRA, fan_in) initialisation and zero bias.

    The Caffe models of SRCNN's successors (VDSR, DRCN, DRRN, GLRL) initialise this way (``msra``).
    """
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
    nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
    nn.init.zeros_(conv.bias)
    return conv
