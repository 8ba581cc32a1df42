"""glsr.metrics: PSNR and MATLAB ssim_index."""

from __future__ import annotations

import math

import numpy as np
import pytest

from glsr.metrics import gaussian_window, psnr, shave, ssim


def test_psnr_identical_and_known():
    a = np.random.default_rng(0).integers(0, 256, (20, 20)).astype(np.float64)
    assert psnr(a, a) == math.inf
    assert psnr(a, a + 1) == pytest.approx(10 * math.log10(255**2))  # MSE 1: 48.13 dB
    b = a.copy()
    b[:2] += 10  # only the border differs
    assert psnr(a, b, shave_border=2) == math.inf
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / (100 * 40 / 400)))


def test_ssim_identical_is_one_and_a_constant_shift_is_the_luminance_term():
    a = np.random.default_rng(1).random((32, 32)) * 255
    assert ssim(a, a) == pytest.approx(1.0)
    c1 = (0.01 * 255) ** 2
    flat_a, flat_b = np.full((16, 16), 100.0), np.full((16, 16), 110.0)
    expected = (2 * 100 * 110 + c1) / (100**2 + 110**2 + c1)
    assert ssim(flat_a, flat_b) == pytest.approx(expected, rel=1e-12)


def test_ssim_matches_a_direct_windowed_computation():
    rng = np.random.default_rng(2)
    a = rng.random((14, 15)) * 255
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255)
    w = np.outer(gaussian_window(), gaussian_window())
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            pa, pb = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * pa * pa).sum() - ma**2, (w * pb * pb).sum() - mb**2
            cov = (w * pa * pb).sum() - ma * mb
            values.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    assert ssim(a, b) == pytest.approx(np.mean(values), rel=1e-10)


def test_window_is_matlab_fspecial():
    g = gaussian_window(11, 1.5)
    assert g.sum() == pytest.approx(1.0)
    assert g[5] / g[4] == pytest.approx(math.exp(1 / (2 * 1.5**2)))


def test_shave_and_shape_checks():
    a = np.zeros((10, 12))
    assert shave(a, 3).shape == (4, 6)
    with pytest.raises(ValueError):
        psnr(a, np.zeros((10, 11)))
    with pytest.raises(ValueError):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)))
