"""PSNR and SSIM as the SR literature computes them: on 0-255 images, after shaving the border.

SSIM follows MATLAB ``ssim_index`` (Wang et al. 2004): an 11x11 Gaussian window with sigma 1.5
(normalised to sum 1), K1 = 0.01, K2 = 0.03, L = 255, ``filter2(..., 'valid')`` statistics, and the
mean of the SSIM map over the valid region. Both metrics take single-channel images ``(H, W)``;
the protocols in :mod:`glsr.evaluate` pass the Y channel.
"""

from __future__ import annotations

import math

import numpy as np


def shave(image: np.ndarray, border: int) -> np.ndarray:
    """Crop ``border`` pixels from each side of the first two axes."""
    if border <= 0:
        return image
    return image[border:-border, border:-border]


def _pair(a: np.ndarray, b: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim != 2:
        raise ValueError(f"expected single-channel (H, W) images, got shape {a.shape}")
    return shave(a, border), shave(b, border)


def psnr(a: np.ndarray, b: np.ndarray, shave_border: int = 0, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB. Identical images give ``inf``."""
    a, b = _pair(a, b, shave_border)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)`` as a 1-D factor (the 2-D window is its outer product)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation with the outer product ``window x window``."""
    k = window.size
    rows = image.shape[0] - k + 1
    cols = image.shape[1] - k + 1
    tmp = np.zeros((rows, image.shape[1]))
    for i in range(k):  # a loop over the window's taps, not over pixels
        tmp += window[i] * image[i : i + rows, :]
    out = np.zeros((rows, cols))
    for j in range(k):
        out += window[j] * tmp[:, j : j + cols]
    return out


def ssim(
    a: np.ndarray,
    b: np.ndarray,
    shave_border: int = 0,
    data_range: float = 255.0,
    k1: float = 0.01,
    k2: float = 0.03,
) -> float:
    """Structural similarity, MATLAB ``ssim_index`` with its default window."""
    a, b = _pair(a, b, shave_border)
    window = gaussian_window()
    if min(a.shape) < window.size:
        raise ValueError(f"SSIM needs images of at least {window.size}x{window.size}, got {a.shape}")
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    mu_a = _filter_valid(a, window)
    mu_b = _filter_valid(b, window)
    sigma_a = _filter_valid(a * a, window) - mu_a**2
    sigma_b = _filter_valid(b * b, window) - mu_b**2
    sigma_ab = _filter_valid(a * b, window) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * sigma_ab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (sigma_a + sigma_b + c2))
    return float(ssim_map.mean())
