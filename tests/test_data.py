"""glsr.data: data roots, image loading and the BI/BD/DN degradations."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from glsr.data import (
    BD_SIGMA,
    DEFAULT_DATA_ROOT,
    degrade,
    gaussian_blur,
    list_images,
    load_image,
    modcrop,
    noise_rng,
    resolve_data_root,
)
from glsr.errors import BadArgument, BadImage, DataNotFound
from glsr.resize import imresize


def test_data_root_order(tmp_path, monkeypatch):
    explicit, env = tmp_path / "a", tmp_path / "b"
    explicit.mkdir()
    env.mkdir()
    monkeypatch.setenv("GLSR_DATA", str(env))
    assert resolve_data_root(explicit) == explicit
    assert resolve_data_root() == env
    monkeypatch.delenv("GLSR_DATA")
    if not DEFAULT_DATA_ROOT.is_dir():
        with pytest.raises(DataNotFound, match="--data-root"):
            resolve_data_root()


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DataNotFound, match="does not exist"):
        list_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFound, match="holds no images"):
        list_images(tmp_path / "empty")


def test_unreadable_image_names_the_file(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(BadImage, match=r"bad\.png"):
        load_image(bad)


def test_greyscale_files_stay_single_channel(data_root):
    bridge = load_image(data_root / "Set14" / "bridge.png")
    assert bridge.ndim == 2 and bridge.dtype == np.uint8
    assert load_image(data_root / "Set5" / "baby.png").shape == (512, 512, 3)


def test_modcrop_is_top_left_anchored():
    x = np.arange(7 * 11).reshape(7, 11)
    np.testing.assert_array_equal(modcrop(x, 3), x[:6, :9])


def test_bi_is_rounded_matlab_bicubic():
    hr = (np.random.default_rng(0).random((24, 18, 3)) * 255).astype(np.uint8)
    lr = degrade(hr, 3, "BI")
    assert lr.dtype == np.uint8 and lr.shape == (8, 6, 3)
    np.testing.assert_array_equal(lr, imresize(hr, 1 / 3))


def test_bd_blurs_then_keeps_pixels_1_4_7():
    hr = (np.random.default_rng(1).random((21, 15, 3)) * 255).astype(np.uint8)
    lr = degrade(hr, 3, "BD")
    blurred = np.floor(np.clip(gaussian_blur(hr), 0, 255) + 0.5)
    np.testing.assert_array_equal(lr, blurred[1::3, 1::3])


def test_gaussian_blur_replicates_borders_and_keeps_constants():
    flat = np.full((9, 9), 77.0)
    np.testing.assert_allclose(gaussian_blur(flat), flat)
    spike = np.zeros((15, 15))
    spike[7, 7] = 1
    kernel = gaussian_blur(spike)[4:11, 4:11]
    g = np.exp(-(np.arange(-3, 4) ** 2) / (2 * BD_SIGMA**2))
    np.testing.assert_allclose(kernel, np.outer(g, g) / np.outer(g, g).sum())


def test_dn_noise_is_seeded_per_image():
    hr = np.full((30, 30, 3), 128, dtype=np.uint8)
    a = degrade(hr, 2, "DN", noise_rng(0, "x.png"))
    b = degrade(hr, 2, "DN", noise_rng(0, "x.png"))
    c = degrade(hr, 2, "DN", noise_rng(1, "x.png"))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 25 < np.std(a.astype(float)) < 35


def test_unknown_degradation():
    with pytest.raises(BadArgument, match="unknown degradation"):
        degrade(np.zeros((4, 4), np.uint8), 2, "XX")


def test_webp_files_decode_losslessly(data_root, tmp_path):
    image = load_image(next((data_root / "BSD100").iterdir()))
    path = tmp_path / "x.webp"
    Image.fromarray(image).save(path, lossless=True)
    np.testing.assert_array_equal(load_image(path), image)
