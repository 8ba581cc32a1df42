"""MATLAB ``rgb2ycbcr`` / ``ycbcr2rgb`` (ITU-R BT.601, Y in [16, 235]) and MATLAB-style rounding.

Conventions follow MATLAB: uint8 input is on the 0-255 scale and gives rounded uint8 output; float
input is on the [0, 1] scale and gives float output. numpy arrays put the channels last ``(..., 3)``;
torch tensors put them at dimension -3 ``(..., 3, H, W)``.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

# rgb2ycbcr: YCbCr = OFFSET + MATRIX @ RGB, with RGB in [0, 1] and YCbCr on the 0-255 scale.
MATRIX = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ]
)
OFFSET = np.array([16.0, 128.0, 128.0])
INVERSE = np.linalg.inv(MATRIX)


def quantize(x: ArrayT) -> ArrayT:
    """Round half away from zero and clip to [0, 255], as MATLAB's conversion to uint8 does.

    numpy and torch round halves to even; MATLAB does not, and exact .5 values are common in
    bicubic output of integer images. The dtype is kept (use ``.astype(np.uint8)`` to convert).
    """
    if isinstance(x, torch.Tensor):
        return torch.floor(x.clamp(0, 255) + 0.5)
    return np.floor(np.clip(x, 0, 255) + 0.5)


def _convert(image: ArrayT, matrix: np.ndarray, before: np.ndarray, after: np.ndarray) -> ArrayT:
    """``after + matrix @ (pixel + before)`` on the channel axis, everything on the 0-255 scale."""
    if isinstance(image, torch.Tensor):
        dtype = image.dtype if image.is_floating_point() else torch.float64
        x = image.to(dtype)
        scale_in = 255.0 if image.is_floating_point() else 1.0
        m = torch.as_tensor(matrix, dtype=dtype, device=image.device)
        b = torch.as_tensor(before, dtype=dtype, device=image.device).view(3, 1, 1)
        a = torch.as_tensor(after, dtype=dtype, device=image.device).view(3, 1, 1)
        y = torch.einsum("ij,...jhw->...ihw", m, x * scale_in + b) + a
        if image.is_floating_point():
            return y / 255.0
        return quantize(y).to(torch.uint8)
    arr = np.asarray(image)
    floating = np.issubdtype(arr.dtype, np.floating)
    # Floats keep their precision (float32 images stay float32, half the memory); uint8 is exact in float64.
    work = arr.dtype if floating else np.dtype(np.float64)
    x = arr.astype(work) * work.type(255.0 if floating else 1.0)
    y = (x + before.astype(work)) @ matrix.T.astype(work) + after.astype(work)
    if floating:
        y /= work.type(255.0)
        return y
    return quantize(y).astype(np.uint8)


def rgb_to_ycbcr(image: ArrayT) -> ArrayT:
    """MATLAB ``rgb2ycbcr``: Y in [16, 235], Cb/Cr in [16, 240] (on the 0-255 scale)."""
    return _convert(image, MATRIX / 255.0, np.zeros(3), OFFSET)


def ycbcr_to_rgb(image: ArrayT) -> ArrayT:
    """MATLAB ``ycbcr2rgb``, the inverse of :func:`rgb_to_ycbcr`."""
    return _convert(image, INVERSE * 255.0, -OFFSET, np.zeros(3))


def rgb_to_y(image: ArrayT) -> ArrayT:
    """The Y channel of :func:`rgb_to_ycbcr`, without computing Cb and Cr."""
    if isinstance(image, torch.Tensor):
        return rgb_to_ycbcr(image)[..., 0:1, :, :]
    return rgb_to_ycbcr(image)[..., 0]
