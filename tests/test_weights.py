"""glsr.weights: every shipped file loads strictly, matches its manifest and its measured figure."""

from __future__ import annotations

import json

import pytest
import torch

from glsr.errors import MissingWeights
from glsr.evaluate import evaluate
from glsr.models import MODELS, create_model, get_spec
from glsr.weights import (
    WEIGHTS_DIR,
    load_pretrained,
    load_weights_file,
    read_manifest,
    save_grown,
    save_weights,
    sha256,
)

SHIPPED = sorted(WEIGHTS_DIR.glob("*.safetensors"))


def test_the_default_model_ships_weights():
    assert (WEIGHTS_DIR / "glrl.safetensors") in SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_file_matches_its_manifest_and_loads_strictly(path):
    manifest = read_manifest(path)
    assert manifest["sha256"] == sha256(path)
    assert manifest["file"] == path.name
    spec = get_spec(manifest["model"])
    assert spec.weights_stem(manifest["scales"][0]) == path.stem
    assert manifest["input"] == spec.input
    for key in ("recipe", "training_set", "iterations"):
        assert manifest["training"][key]
    datasets = {(r["dataset"], r["scale"]) for r in manifest["results"]}
    for dataset in ("Set5", "Set14", "BSD100", "Urban100"):
        for scale in manifest["scales"]:
            assert (dataset, scale) in datasets
    for record in manifest["results"]:
        assert record["command"].startswith(f"glsr benchmark --model {spec.name} ")
    assert manifest["measured"].get("complete", True), "an export stopped before it measured every row"
    for scale in manifest["scales"]:
        create_model(spec.name, scale, pretrained=True)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_file_reproduces_its_set5_figure(path, data_root):
    manifest = read_manifest(path)
    record = next(r for r in manifest["results"] if r["dataset"] == "Set5")
    (result,) = evaluate(
        manifest["model"],
        datasets=["Set5"],
        scales=[record["scale"]],
        data_root=data_root,
        device="cpu",
        progress=False,
    )
    assert result.psnr == pytest.approx(record["psnr"], abs=0.01)
    assert result.ssim == pytest.approx(record["ssim"], abs=1e-4)


def test_missing_weights_are_a_clear_error():
    spec = next(s for s in MODELS.values() if s.name == "rdn")
    if (WEIGHTS_DIR / f"{spec.weights_stem(2)}.safetensors").exists():
        pytest.skip("rdn ships weights")
    with pytest.raises(MissingWeights, match="no shipped weights for rdn x2"):
        create_model("rdn", 2, pretrained=True)


def test_corrupt_and_mismatched_files_never_leave_random_weights(tmp_path):
    model = create_model("glrl", 2, channels=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00" * 64)
    with pytest.raises(MissingWeights, match="not a readable safetensors file"):
        load_weights_file(model, corrupt)
    other = tmp_path / "other.safetensors"
    save_weights(create_model("vdsr", 2), other)
    with pytest.raises(MissingWeights, match="does not match the model") as caught:
        load_weights_file(model, other)
    # One short line, not torch's list of every key.
    message = str(caught.value)
    assert "tensors missing (first " in message and "unexpected (first " in message and "--model" in message
    assert "\n" not in message and len(message) < 400, message
    # Shared tensors are counted once: a file with none of the model's names misses each tensor once.
    shared = create_model("glrl", 2, channels=8, share_weights=True)
    tensors = {p.data_ptr() for p in shared.state_dict(keep_vars=True).values()}
    assert len(tensors) < len(shared.state_dict())  # the premise: some names alias one tensor
    with pytest.raises(MissingWeights, match=f": {len(tensors)} tensors missing "):
        load_weights_file(shared, other)
    wider = tmp_path / "wider.safetensors"
    save_weights(create_model("glrl", 2, channels=16), wider)
    with pytest.raises(MissingWeights, match="does not match the model: size mismatch for "):
        load_weights_file(model, wider)
    with pytest.raises(MissingWeights, match="not found"):
        load_weights_file(model, tmp_path / "absent.safetensors")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_file_that_does_not_match_its_manifest_checksum_is_refused(tmp_path, monkeypatch):
    import glsr.weights as weights

    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    spec = get_spec("srcnn")
    path = tmp_path / f"{spec.weights_stem(3)}.safetensors"
    save_weights(create_model("srcnn", 3), path)
    path.with_suffix(".json").write_text(json.dumps({"sha256": "0" * 64}))
    with pytest.raises(MissingWeights, match="corrupt"):
        load_pretrained(create_model("srcnn", 3), spec, 3)


def test_save_grown_writes_the_start_and_its_record_only_if_it_computes_like_the_source(tmp_path):
    small = torch.nn.Conv2d(1, 1, 3, padding=1)
    source = tmp_path / "small.safetensors"
    save_weights(small, source)
    same = torch.nn.Conv2d(1, 1, 3, padding=1)
    same.load_state_dict(small.state_dict())
    x = torch.rand(1, 1, 8, 8)
    out = tmp_path / "start" / "grown.safetensors"
    assert save_grown(same, small, x, 1e-6, out, source, {"command": "test"}) == 0.0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["sha256"] == sha256(out) and record["grown_from"] == {"file": str(source), "sha256": sha256(source)}
    assert record["max_output_difference"] == 0.0 and record["command"] == "test"
    # A start that computes something else is refused and nothing is written.
    with torch.no_grad():
        same.bias.add_(0.5)
    other = tmp_path / "other.safetensors"
    with pytest.raises(ValueError, match=r"differs from the source by 5\.00e-01"):
        save_grown(same, small, x, 1e-6, other, source, {})
    assert not other.exists() and not other.with_suffix(".json").exists()
