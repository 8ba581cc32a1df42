"""glsr.train.data: exact augmentations and aligned LR/HR pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glsr.data import load_image
from glsr.evaluate import measure_images
from glsr.inference import _inverse, _transform
from glsr.metrics import psnr
from glsr.models import get_spec
from glsr.train.data import PatchSampler, dihedral_grid


@pytest.mark.parametrize("k", range(8))
def test_dihedral_grids_are_the_ensemble_transforms(k):
    x = torch.arange(5 * 5).view(5, 5)
    rows, cols = dihedral_grid(5, k)
    assert torch.equal(x[rows, cols], _transform(x, k))
    assert torch.equal(_inverse(_transform(x, k), k), x)


def test_the_eight_transforms_are_distinct():
    x = torch.arange(16).view(4, 4)
    assert len({tuple(_transform(x, k).flatten().tolist()) for k in range(8)}) == 8


def _sampler(images, model, scales, patch, augment=True, seed=0):
    return PatchSampler(images, get_spec(model), scales, patch, augment, torch.device("cpu"), seed)


@pytest.mark.parametrize("model", ["glrl", "gladsr_l"])
def test_augmented_patches_are_transforms_of_the_plain_patch(data_root, model):
    image = load_image(data_root / "Set5" / "bird.png")
    plain = _sampler([image], model, [2], 24, augment=False, seed=3)
    augmented = _sampler([image], model, [2], 24, augment=True, seed=3)
    # Same generator draws for image and position; the augmented sampler also draws a k per patch.
    x0, y0, _ = plain.sample(6)
    generator = torch.Generator().manual_seed(3)
    torch.multinomial(augmented.weights, 6, replacement=True, generator=generator)
    torch.rand(6, generator=generator, dtype=torch.float64)
    torch.rand(6, generator=generator, dtype=torch.float64)
    ks = torch.randint(0, 8, (6,), generator=generator)
    x1, y1, _ = augmented.sample(6)
    for b, k in enumerate(ks.tolist()):
        assert torch.equal(x1[b], _transform(x0[b], k))
        assert torch.equal(y1[b], _transform(y0[b], k))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_a_loader_pair_scores_exactly_the_protocol_bicubic_psnr(data_root, scale):
    """A whole-image 'patch' of butterfly (256x256): ILR vs HR must equal the luma protocol's bicubic."""
    image = load_image(data_root / "Set5" / "butterfly.png")
    size = 256 - 256 % scale
    sampler = _sampler([image], "glrl", [scale], size, augment=False)
    x, y, scales = sampler.sample(1)
    assert scales.tolist() == [scale]
    ilr = np.floor(np.clip(x[0, 0].double().numpy() * 255, 0, 255) + 0.5)
    hr = np.round(y[0, 0].double().numpy() * 255)
    from glsr.inference import load_model

    ((_, expected, _),) = measure_images(load_model("bicubic", scale, device="cpu"), [("butterfly", image)])
    assert psnr(ilr, hr, scale) == pytest.approx(expected, abs=1e-3)  # float32 ILR: equal to 1e-3 dB


def test_rgb_pairs_are_protocol_lr_and_hr(data_root):
    from glsr.data import degrade, modcrop

    image = load_image(data_root / "Set5" / "head.png")  # 280x280
    sampler = _sampler([image], "gladsr_l", [4], 70, augment=False)
    x, y, _ = sampler.sample(1)
    hr = modcrop(image, 4)
    np.testing.assert_array_equal(np.round(y[0].numpy() * 255).astype(np.uint8).transpose(1, 2, 0), hr)
    np.testing.assert_array_equal(
        np.round(x[0].numpy() * 255).astype(np.uint8).transpose(1, 2, 0), degrade(hr, 4, "BI")
    )


def test_scale_augmentation_mixes_scales_and_generator_state_resumes(data_root):
    images = [load_image(data_root / "Set5" / n) for n in ("baby.png", "bird.png")]
    sampler = _sampler(images, "vdsr", [2, 3, 4], 20)
    state = sampler.state()
    first = [sampler.sample(8) for _ in range(3)]
    assert set(torch.cat([f[2] for f in first]).tolist()) == {2, 3, 4}
    sampler.set_state(state)
    again = [sampler.sample(8) for _ in range(3)]
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_downscaled_copies_follow_the_originals_at_matlab_sizes(data_root):
    from glsr.resize import imresize
    from glsr.train.data import downscaled_copies

    rgb = load_image(data_root / "Set5" / "bird.png")
    grey = load_image(data_root / "Set14" / "bridge.png")
    assert grey.ndim == 2
    out = downscaled_copies([rgb, grey], [0.9, 0.5])
    assert len(out) == 6 and out[0] is rgb and out[1] is grey
    for copy, source, factor in zip(out[2:], [rgb, grey, rgb, grey], [0.9, 0.9, 0.5, 0.5], strict=True):
        assert copy.dtype == np.uint8 and copy.ndim == source.ndim
        # MATLAB's imresize output size: ceil(factor * side).
        assert copy.shape[:2] == tuple(int(np.ceil(factor * s)) for s in source.shape[:2])
    # Channel by channel the same as resizing that channel alone, rounded as MATLAB rounds.
    green = imresize(torch.from_numpy(rgb[..., 1].astype(np.float64)), 0.5)
    assert np.array_equal(out[4][..., 1], np.floor(green.clamp(0, 255).numpy() + 0.5).astype(np.uint8))
    # A copy is the picture made smaller, not something else: its bicubic upscaling back to the
    # original size is close to the original (35 dB on bird; a copy of noise would give about 12).
    back = imresize(torch.from_numpy(out[4].transpose(2, 0, 1).astype(np.float64)), 2).numpy()
    h, w = rgb.shape[:2]
    assert psnr(back[1, :h, :w], rgb[..., 1].astype(np.float64)) > 30
    assert downscaled_copies([rgb], []) == [rgb]
