"""glsr.resize: MATLAB imresize semantics, numpy/torch agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glsr.resize import contributions, cubic, imresize, output_size

# MATLAB's cubic (a = -0.5) at the four distances of an x2 upscale: 1.75, 0.75, 0.25, 1.25.
X2_WEIGHTS = (-0.0234375, 0.2265625, 0.8671875, -0.0703125)


def test_cubic_kernel_values():
    np.testing.assert_allclose(cubic(np.array([1.75, 0.75, 0.25, 1.25])), X2_WEIGHTS)
    np.testing.assert_allclose(cubic(np.array([0.0, 1.0, 2.0, 2.5])), [1.0, 0.0, 0.0, 0.0])


def test_identity_at_scale_one():
    x = np.random.default_rng(0).random((7, 9, 3))
    np.testing.assert_array_equal(imresize(x, 1), x)
    t = torch.from_numpy(x)
    assert torch.equal(imresize(t, 1), t)


def test_exact_values_of_an_x2_upscale_with_symmetric_edges():
    row = np.array([[1.0, 2.0, 3.0, 4.0]])
    out = imresize(row, 2)
    assert out.shape == (2, 8)
    w = X2_WEIGHTS
    # Output 1 samples at u = 0.75: taps at pixels -1, 0, 1, 2 (1-based), mirrored to 2, 1, 1, 2.
    first = w[0] * 2 + w[1] * 1 + w[2] * 1 + w[3] * 2
    # Output 3 samples at u = 1.75: taps at pixels 0..3 -> values 1, 1, 2, 3 (weights mirrored).
    third = w[0] * 1 + w[1] * 1 + w[2] * 2 + w[3] * 3
    # Output 8 samples at u = 4.25: taps 3..6 -> values 3, 4, 4, 3; mirror image of output 1.
    last = w[3] * 3 + w[2] * 4 + w[1] * 4 + w[0] * 3
    assert out[0, 0] == pytest.approx(0.90625)
    np.testing.assert_allclose(out[0, [0, 2, 7]], [first, third, last], atol=1e-12)
    np.testing.assert_allclose(out[1], out[0])  # a single row upscales to identical rows


def test_linear_ramps_are_reproduced_away_from_the_border():
    ramp = np.tile(np.arange(20.0), (4, 1))
    out = imresize(ramp, 2)
    u = np.arange(1, 41) / 2 + 0.25  # sample positions, 1-based
    np.testing.assert_allclose(out[0, 4:-4], u[4:-4] - 1, atol=1e-12)


def test_antialiased_shrink_uses_a_stretched_kernel():
    indices, weights = contributions(12, 4, 1 / 3, "bicubic", True)
    # Samples fall on pixel centres (u = 3x - 1), so the taps sit at integer distances -6..7. The
    # stretched kernel cubic(d / 3) / 3 is zero at |d| >= 6 and at |d| = 3 (cubic(1) = 0): 9 taps remain.
    assert weights.shape[1] == 9
    d = np.array([-5, -4, -2, -1, 0, 1, 2, 4, 5])
    np.testing.assert_allclose(weights[1], cubic(d / 3) / 3 / (cubic(d / 3) / 3).sum())
    # Output 2 is centred on pixel 5 (1-based); its leftmost tap (pixel 0) mirrors to pixel 1.
    np.testing.assert_array_equal(indices[1], [0, 0, 2, 3, 4, 5, 6, 8, 9])
    np.testing.assert_array_equal(indices[0][:3], [3, 2, 0])  # mirrored: pixels -3, -2, 0 (1-based)


def test_nearest_shrink_by_three_keeps_pixels_1_4_7():
    x = np.arange(9.0 * 9).reshape(9, 9)
    out = imresize(x, 1 / 3, kernel="nearest")
    np.testing.assert_array_equal(out, x[1::3, 1::3])


@pytest.mark.parametrize("shape", [(17, 23), (5, 3), (33, 8)])
@pytest.mark.parametrize("scale", [2, 3, 4, 1 / 2, 1 / 3, 1 / 4])
def test_odd_sizes_get_matlab_output_sizes(shape, scale):
    x = np.random.default_rng(1).random(shape)
    out = imresize(x, scale)
    assert out.shape == output_size(shape, scale)
    assert out.shape == tuple(int(np.ceil(scale * n - 1e-9)) for n in shape)


@pytest.mark.parametrize("scale", [2, 3, 4, 1 / 2, 1 / 3, 1 / 4, 0.7])
@pytest.mark.parametrize("kernel", ["bicubic", "nearest"])
def test_numpy_and_torch_agree(scale, kernel):
    x = np.random.default_rng(2).random((37, 29, 3))
    expected = imresize(x, scale, kernel=kernel)
    batch = torch.from_numpy(x.transpose(2, 0, 1)).float()[None].repeat(2, 1, 1, 1)
    got = imresize(batch, scale, kernel=kernel)
    assert got.dtype == torch.float32
    for item in got:
        np.testing.assert_allclose(item.numpy().transpose(1, 2, 0), expected, atol=1e-5)


def test_uint8_input_gives_rounded_uint8():
    x = (np.random.default_rng(3).random((12, 10, 3)) * 255).astype(np.uint8)
    out = imresize(x, 1 / 2)
    assert out.dtype == np.uint8
    reference = np.floor(np.clip(imresize(x.astype(np.float64), 1 / 2), 0, 255) + 0.5)
    np.testing.assert_array_equal(out, reference)
    t = imresize(torch.from_numpy(x.transpose(2, 0, 1).copy()), 1 / 2)
    assert t.dtype == torch.uint8
    np.testing.assert_array_equal(t.numpy().transpose(1, 2, 0), out)


def test_large_images_use_the_tap_loop_with_the_same_result(monkeypatch):
    import glsr.resize as resize

    x = np.random.default_rng(4).random((40, 30))
    dense = imresize(x, 1 / 3)
    dense_t = imresize(torch.from_numpy(x), 1 / 3)
    monkeypatch.setattr(resize, "_DENSE_LIMIT", 0)
    np.testing.assert_allclose(imresize(x, 1 / 3), dense, atol=1e-12)
    torch.testing.assert_close(imresize(torch.from_numpy(x), 1 / 3), dense_t)


def test_autocast_does_not_lower_the_precision_of_interpolation():
    x = torch.rand(1, 3, 20, 24)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = imresize(x, 2)
    assert inside.dtype == torch.float32
    torch.testing.assert_close(inside, imresize(x, 2))
