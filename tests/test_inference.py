"""Tests of glsr.inference: tiling, x8 self-ensemble, colour handling and load_model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from glsr import inference
from glsr.color import rgb_to_ycbcr
from glsr.errors import BadArgument, BadImage
from glsr.inference import Upscaler, _inverse, _transform, load_model, minimum_input_size, resolve_precision
from glsr.metrics import psnr
from glsr.models import MODELS, create_model, get_spec
from glsr.resize import imresize
from glsr.weights import has_weights, save_weights


def tiny(name: str, scale: int = 2, **options: object) -> Upscaler:
    """A random-weights test-size variant of a model (nothing trained; for exactness, not quality)."""
    spec = get_spec(name)
    net = create_model(name, scale, **spec.test_kwargs).eval()
    return Upscaler(net, spec, scale, torch.device("cpu"), **options)  # type: ignore[arg-type]


def image(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 4 + 2, w // 4 + 2, channels)).astype(np.uint8)
    out = imresize(small, size=(h, w))
    return out[..., 0] if channels == 1 else out


# ----------------------------------------------------------------------------------------------- tiling


@pytest.mark.parametrize("name", ["glrl", "fsrcnn"])  # interpolated input (factor 1) and LR input (factor s)
def test_tiled_output_equals_whole_image(name: str) -> None:
    rgb = image(70, 100)  # 100x70 RGB at x2; glrl sees the 200x140 bicubic upscale
    whole = tiny(name, tile=0)
    tiled = tiny(name, tile=48)
    tiled.net = whole.net
    a, b = whole(rgb).astype(int), tiled(rgb).astype(int)
    assert a.shape == b.shape == (140, 200, 3)
    assert np.abs(a - b).max() <= 1, f"max abs difference {np.abs(a - b).max()} grey levels"
    # in floats, convolutions with the receptive-field margin reproduce the whole image exactly
    x = torch.rand(1, 1, 35, 50)
    for tile in (48, 16, 7):
        tiled.tile = tile
        assert torch.allclose(whole.network(x), tiled.network(x), atol=1e-5), tile


def test_tiles_cover_smaller_than_image_in_both_directions() -> None:
    up = tiny("fsrcnn", tile=16)
    calls: list[tuple[int, int]] = []
    up.net.register_forward_hook(lambda m, inputs, out: calls.append(tuple(inputs[0].shape[-2:])))
    up(image(70, 100))
    assert len(calls) == 5 * 7  # ceil(70/16) x ceil(100/16) tiles, each with context
    assert max(h for h, _ in calls) < 70 and max(w for _, w in calls) < 100


def test_tile_overlap_below_margin_is_refused() -> None:
    up = tiny("glrl", tile=32, tile_overlap=get_spec("glrl").margin - 1)
    with pytest.raises(BadArgument, match="margin"):
        up(image(20, 20))


# ---------------------------------------------------------------------------------------------- ensemble


def test_dihedral_transforms_invert() -> None:
    x = torch.rand(1, 2, 5, 7)
    seen = []
    for k in range(8):
        y = _transform(x, k)
        assert torch.equal(_inverse(y, k), x), k
        seen.append(y.flatten().tolist())
    assert len({tuple(v) for v in seen}) == 8  # all eight are different


def test_ensemble_is_the_mean_of_the_eight_inverted_outputs() -> None:
    up = tiny("glrl")
    x = torch.rand(1, 1, 12, 9)
    plain = up.network(x)
    up.ensemble = True
    ensemble = up.network(x)
    with torch.no_grad():
        lr = imresize(x, 2)  # glrl takes the bicubic upscale
        outputs = []
        for flip in (False, True):
            for quarter in range(4):
                t = torch.rot90(lr, quarter, dims=(2, 3))
                t = torch.flip(t, dims=(3,)) if flip else t
                y = up.net(t)
                y = torch.flip(y, dims=(3,)) if flip else y
                outputs.append(torch.rot90(y, -quarter, dims=(2, 3)))
    expected = torch.stack(outputs).mean(dim=0)
    assert torch.allclose(ensemble, expected, atol=1e-6)
    assert not torch.allclose(ensemble, plain, atol=1e-3)  # a random network is not equivariant


def test_ensemble_leaves_bicubic_unchanged() -> None:
    """Bicubic is equivariant to flips and quarter turns, so a wrong inverse would show here."""
    rgb = image(15, 22)
    plain = load_model("bicubic", 3, device="cpu")
    ensemble = load_model("bicubic", 3, device="cpu", ensemble=True)
    assert np.array_equal(plain(rgb), ensemble(rgb))


@pytest.mark.skipif(not has_weights(MODELS["glrl"], 2), reason="glrl has no shipped weights yet")
def test_ensemble_does_not_lower_psnr(data_root: Path) -> None:
    hr = np.asarray(Image.open(data_root / "Set5" / "butterfly.png").convert("RGB"))
    hr = hr[: hr.shape[0] // 2 * 2, : hr.shape[1] // 2 * 2]
    lr = imresize(hr, 1 / 2)
    y = rgb_to_ycbcr(hr)[..., 0]
    scores = []
    for ensemble in (False, True):
        out = load_model("glrl", 2, device="cpu", ensemble=ensemble)(lr)
        scores.append(psnr(rgb_to_ycbcr(out)[..., 0], y, shave_border=2))
    assert scores[1] >= scores[0] - 0.01


# ------------------------------------------------------------------------------------------------ colour


def test_luma_model_keeps_bicubic_chroma() -> None:
    up = tiny("glrl", 3)
    rgb = image(16, 20)
    expected = imresize(rgb_to_ycbcr(rgb / 255.0), 3)[..., 1:]
    out = up(rgb / 255.0)  # float in, float out: no rounding or clipping
    assert np.abs(rgb_to_ycbcr(out)[..., 1:] - expected).max() < 1e-5
    luma = rgb_to_ycbcr(out)[..., 0]
    assert np.abs(luma - imresize(rgb_to_ycbcr(rgb / 255.0)[..., 0], 3)).max() > 1e-3  # Y is the network's
    # uint8: within the rounding of the RGB output, where nothing was clipped
    out8 = up(rgb)
    unclipped = ((out8 > 0) & (out8 < 255)).all(axis=2)
    chroma8 = rgb_to_ycbcr(out8.astype(np.float64) / 255.0)[..., 1:] * 255.0
    assert np.abs(chroma8 - expected * 255.0)[unclipped].max() <= 1.0


def test_grey_input_gives_grey_output() -> None:
    grey = image(12, 17, channels=1)
    bicubic = load_model("bicubic", 2, device="cpu")  # an RGB model
    out = bicubic(grey)
    assert out.shape == (24, 34) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - imresize(grey, 2)).max() <= 1
    assert tiny("glrl")(grey).shape == (24, 34)  # a luma model
    rgb_net = tiny("rdn")  # an RGB network sees the grey three times; its channels are averaged
    expected = rgb_net(np.repeat(grey[..., None] / 255.0, 3, axis=2)).mean(axis=2)
    assert np.abs(rgb_net(grey / 255.0) - expected).max() < 1e-6


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_model_equals_imresize(scale: int) -> None:
    rgb = image(13, 18)
    out = load_model("bicubic", scale, device="cpu")(rgb)
    assert out.dtype == np.uint8
    assert np.array_equal(out, imresize(rgb, scale))


def test_sixteen_bit_matches_float() -> None:
    grey = image(12, 17, channels=1).astype(np.uint16) * 257 + 100
    bicubic = load_model("bicubic", 2, device="cpu")
    out = bicubic(grey)
    assert out.dtype == np.uint16
    reference = np.clip(bicubic(grey / 65535.0), 0, 1) * 65535.0
    # Rounding is half a level; the float32 colour pipeline adds up to ~0.004 of a 16-bit level.
    assert np.abs(out - reference).max() <= 0.5 + 0.01


def test_load_model_with_weights_file(tmp_path: Path) -> None:
    net = create_model("glrl", 2)
    path = tmp_path / "glrl.safetensors"
    save_weights(net, path)
    up = load_model("glrl", 2, weights=path, device="cpu", tile=24, tile_overlap=20, ensemble=True)
    assert (up.tile, up.tile_overlap, up.ensemble, up.precision) == (24, 20, True, "fp32")
    x = torch.rand(1, 1, 8, 8)
    with torch.no_grad():
        expected = net.eval()(imresize(x, 2))
    up.ensemble = False
    assert torch.allclose(up.network(x), expected, atol=1e-5)


def test_images_below_the_minimum_size_are_refused_by_the_upscaler_itself() -> None:
    bicubic = load_model("bicubic", 2, device="cpu")
    assert minimum_input_size(bicubic.spec) == 2
    for shape in [(1, 9), (9, 1), (1, 1, 3)]:
        with pytest.raises(BadImage, match="needs at least 2 on each side"):
            bicubic(np.zeros(shape, dtype=np.uint8))
    assert bicubic(np.zeros((2, 2), dtype=np.uint8)).shape == (4, 4)


def test_weights_of_a_non_default_variant_load_through_their_sidecar(tmp_path: Path) -> None:
    import json

    from glsr.weights import save_weights

    save_weights(create_model("glrl", 2, channels=8), tmp_path / "model.safetensors")
    (tmp_path / "model.json").write_text(json.dumps({"model": "glrl", "model_kwargs": {"channels": 8}}))
    up = load_model("glrl", 2, weights=tmp_path / "model.safetensors", device="cpu")
    assert up.net.features.conv1.out_channels == 8
    with pytest.raises(BadArgument, match="holds glrl weights"):
        load_model("vdsr", 2, weights=tmp_path / "model.safetensors", device="cpu")
    # An option of the right name with a value its constructor refuses is a clear error too.
    save_weights(create_model("gladsr_l", 2), tmp_path / "model.safetensors")
    (tmp_path / "model.json").write_text(json.dumps({"model": "gladsr_l", "model_kwargs": {"pool_window": -1}}))
    with pytest.raises(BadArgument, match="gladsr_l: pool_window must be 0"):
        load_model("gladsr_l", 2, weights=tmp_path / "model.safetensors", device="cpu")


@pytest.mark.parametrize(
    ("fast", "device", "allowed", "expected"),
    [
        (True, "cpu", True, "bf16"),
        (True, "cpu", False, "fp32"),  # the model lost accuracy in bf16
        (False, "cpu", True, "fp32"),
        (True, "cuda", True, "fp32"),
    ],
)
def test_auto_precision_is_bf16_only_for_a_measured_model_on_a_cpu_with_fast_bf16(
    monkeypatch, fast, device, allowed, expected
):
    monkeypatch.setattr(inference, "fast_bf16", lambda: fast)
    spec = dataclasses.replace(get_spec("glrl"), bf16_auto=allowed)
    assert resolve_precision("auto", torch.device(device), spec) == expected
    assert resolve_precision("fp32", torch.device(device), spec) == "fp32"
    assert resolve_precision("bf16", torch.device(device), spec) == "bf16"


def test_load_model_resolves_auto_precision(monkeypatch):
    monkeypatch.setattr(inference, "fast_bf16", lambda: True)
    assert load_model("gladsr_l", 2, device="cpu").precision == "bf16"
    assert load_model("srcnn", 2, device="cpu").precision == "fp32"
    assert load_model("gladsr_l", 2, device="cpu", precision="fp32").precision == "fp32"
    monkeypatch.setattr(inference, "fast_bf16", lambda: False)
    assert load_model("gladsr_l", 2, device="cpu").precision == "fp32"


def test_load_model_rejects_an_unknown_precision():
    with pytest.raises(BadArgument, match="unknown precision"):
        load_model("bicubic", 2, precision="fp16")  # type: ignore[arg-type]


def test_load_model_runs_the_inference_form_of_a_model_that_offers_one() -> None:
    from glsr.models.gladsr import FusedGLADSR
    from glsr.weights import load_pretrained

    up = load_model("gladsr_l", 4, device="cpu")
    assert isinstance(up.net, FusedGLADSR)
    net = create_model("gladsr_l", 4)
    load_pretrained(net, get_spec("gladsr_l"), 4)
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        expected = net.eval()(x)
    torch.testing.assert_close(up.network(x), expected, atol=1e-5, rtol=0)


def test_load_model_without_a_name_takes_the_scale_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_model(None, 4, device="cpu").spec.name == "gladsr_l"
    # Defaults are per scale: with glrl the default at x3 only, x3 and x4 resolve differently.
    monkeypatch.setitem(MODELS, "glrl", dataclasses.replace(MODELS["glrl"], default_for=(3,)))
    monkeypatch.setitem(MODELS, "gladsr_l", dataclasses.replace(MODELS["gladsr_l"], default_for=(2, 4)))
    assert load_model(scale=3, device="cpu").spec.name == "glrl"
    assert load_model(scale=4, device="cpu").spec.name == "gladsr_l"


# ----------------------------------------------------------------------------------------- memory reuse


@pytest.mark.parametrize("reuse", [True, False])
def test_upscaler_runs_inside_the_memory_reuse_block_unless_told_not_to(reuse: bool) -> None:
    from glsr import memory

    seen: list[int] = []
    up = tiny("fsrcnn", reuse_memory=reuse)
    up.net.register_forward_pre_hook(lambda module, args: seen.append(memory._depth))
    out = up(image(24, 20))
    assert out.shape == (48, 40, 3)
    assert seen and all((depth > 0) == (reuse and memory.is_supported()) for depth in seen)
    assert memory._depth == 0
    assert load_model("fsrcnn", 2, reuse_memory=reuse).reuse_memory is reuse
    assert load_model("bicubic", 2, reuse_memory=reuse).reuse_memory is False  # no activations to reuse
