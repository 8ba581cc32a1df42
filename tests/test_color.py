"""glsr.color: MATLAB rgb2ycbcr / ycbcr2rgb and MATLAB rounding."""

from __future__ import annotations

import numpy as np
import torch

from glsr.color import quantize, rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb


def test_known_uint8_values_match_matlab():
    pixels = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    expected = np.array([[[235, 128, 128], [16, 128, 128], [81, 90, 240], [145, 54, 34], [41, 240, 110]]])
    np.testing.assert_array_equal(rgb_to_ycbcr(pixels), expected)


def test_float_and_uint8_paths_agree():
    rgb = (np.random.default_rng(0).random((6, 7, 3)) * 255).astype(np.uint8)
    from_uint8 = rgb_to_ycbcr(rgb).astype(np.float64)
    from_float = rgb_to_ycbcr(rgb / 255.0) * 255.0
    np.testing.assert_array_equal(from_uint8, quantize(from_float))


def test_round_trips():
    rgb = np.random.default_rng(1).random((8, 9, 3))
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb, atol=1e-12)
    t = torch.from_numpy(rgb.transpose(2, 0, 1))[None]
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(t)), t)
    torch.testing.assert_close(rgb_to_ycbcr(t)[0].permute(1, 2, 0), torch.from_numpy(rgb_to_ycbcr(rgb)))
    u8 = (rgb * 255).astype(np.uint8)
    assert np.abs(ycbcr_to_rgb(rgb_to_ycbcr(u8)).astype(int) - u8).max() <= 2  # two roundings


def test_y_only():
    rgb = np.random.default_rng(2).random((4, 5, 3))
    np.testing.assert_array_equal(rgb_to_y(rgb), rgb_to_ycbcr(rgb)[..., 0])
    t = torch.from_numpy(rgb.transpose(2, 0, 1))
    assert rgb_to_y(t).shape == (1, 4, 5)


def test_quantize_rounds_halves_away_from_zero_and_clips():
    values = np.array([0.5, 1.5, 2.5, 254.5, 300.0, -3.0, 2.49])
    np.testing.assert_array_equal(quantize(values), [1, 2, 3, 255, 255, 0, 2])
    np.testing.assert_array_equal(quantize(torch.tensor(values)).numpy(), [1, 2, 3, 255, 255, 0, 2])
