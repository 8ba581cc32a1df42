"""Checks every model in the table: a model is tested the moment it is registered."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from glsr.models import MODELS, count_parameters, create_model, describe_defaults
from glsr.models._spec import ModelSpec
from glsr.weights import load_weights_file, save_weights, sha256, weights_path

CASES = [(name, scale) for name, spec in MODELS.items() for scale in spec.scales]
LR_SIZE = (17, 23)


def _input(spec: ModelSpec, scale: int, batch: int = 1) -> torch.Tensor:
    h, w = LR_SIZE
    if spec.interpolated:
        h, w = h * scale, w * scale
    return torch.rand(batch, spec.channels, h, w)


def _tiny(name: str, scale: int) -> torch.nn.Module:
    return create_model(name, scale, **MODELS[name].test_kwargs)


def test_the_table_holds_the_public_names():
    expected = {
        "bicubic", "srcnn", "fsrcnn", "vdsr", "drcn", "drrn", "drrn_b1u9", "drrn_b1u25", "glrl",
        "gladsr", "gladsr_l", "gladsr_large", "rdn", "srgrn",
    }  # fmt: skip
    assert expected <= set(MODELS)


@pytest.mark.parametrize(
    ("defaults", "words"),
    [
        ({"gladsr_l": (2, 3, 4)}, "gladsr_l at x2, x3 and x4"),
        ({"gladsr_l": (2, 4), "glrl": (3,)}, "gladsr_l at x2 and x4, glrl at x3"),
        ({"srcnn": (2,), "glrl": (3,), "vdsr": (4,)}, "srcnn at x2, glrl at x3, vdsr at x4"),
    ],
)
def test_describe_defaults_names_each_scale_once(monkeypatch, defaults, words):
    for name, spec in MODELS.items():
        monkeypatch.setitem(MODELS, name, dataclasses.replace(spec, default_for=defaults.get(name, ())))
    assert describe_defaults() == words


@pytest.mark.parametrize(("name", "scale"), CASES)
def test_full_model_maps_17x23_to_scale_times(name, scale):
    spec = MODELS[name]
    model = create_model(name, scale).eval()
    with torch.inference_mode():
        y = model(_input(spec, scale))
    assert y.shape == (1, spec.channels, LR_SIZE[0] * scale, LR_SIZE[1] * scale)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize(("name", "scale"), CASES)
def test_tiny_model_backward_is_finite(name, scale):
    spec = MODELS[name]
    model = _tiny(name, scale).train()
    x = _input(spec, scale, batch=2)
    y = model(x)
    loss = y.square().mean()
    if not loss.requires_grad:  # parameter-free models
        assert count_parameters(model) == 0
        return
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize(("name", "scale"), [c for c in CASES if MODELS[c[0]].paper_params])
def test_parameter_count_matches_the_paper(name, scale):
    spec = MODELS[name]
    if scale not in spec.paper_params:
        pytest.skip(f"the paper gives no count at x{scale}")
    counted = count_parameters(create_model(name, scale), spec.param_count)
    paper = spec.paper_params[scale]
    if paper == 0:
        assert counted == 0
    else:
        assert abs(counted - paper) / paper <= spec.param_tolerance, f"{counted} vs paper {paper}"


@pytest.mark.parametrize(("name", "scale"), CASES)
def test_safetensors_round_trip_loads_strictly(name, scale, tmp_path):
    spec = MODELS[name]
    model = _tiny(name, scale).eval()
    path = tmp_path / "w.safetensors"
    save_weights(model, path)
    fresh = _tiny(name, scale).eval()
    load_weights_file(fresh, path)
    x = _input(spec, scale)
    with torch.inference_mode():
        assert torch.equal(model(x), fresh(x))


@pytest.mark.parametrize("name", list(MODELS))
def test_compiles_without_graph_breaks(name):
    spec = MODELS[name]
    scale = spec.scales[-1]
    model = _tiny(name, scale).eval()
    x = _input(spec, scale)
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)


# The TorchScript exporter is the one checked here: torch 2.13 warns that it is legacy, and its
# dynamo exporter adds deprecation warnings of its own (saving to a BytesIO) on the same models.
@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export")
@pytest.mark.parametrize("name", list(MODELS))
def test_exports_to_onnx_and_runs_the_same(name):
    ort = pytest.importorskip("onnxruntime")
    spec = MODELS[name]
    scale = spec.scales[-1]
    model = _tiny(name, scale).eval()
    x = _input(spec, scale)
    buffer = io.BytesIO()
    torch.onnx.export(model, (x,), buffer, input_names=["x"], output_names=["y"], dynamo=False)
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    (y_onnx,) = session.run(None, {"x": x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(y_onnx, model(x).numpy(), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", [n for n in MODELS if n != "bicubic"])
def test_the_layers_that_touch_the_image_stay_float32_under_bf16_autocast(name):
    # bf16 rounding of the image, going in or coming out, costs PSNR and SSIM (README, "bf16"): the
    # first layer, which reads the image, and the output stay float32; the rest runs in bf16.
    spec = MODELS[name]
    model = _tiny(name, spec.scales[-1]).eval()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)]
    dtypes: dict[torch.nn.Module, torch.dtype] = {}
    for conv in convs:
        conv.register_forward_hook(lambda m, args, out: dtypes.__setitem__(m, out.dtype))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(_input(spec, spec.scales[-1]))
    assert y.dtype == torch.float32
    assert dtypes[convs[0]] == torch.float32
    assert torch.bfloat16 in dtypes.values()


def test_bf16_auto_is_set_only_where_the_stored_measurement_backs_it():
    # benchmarks/precision.py wrote these figures for the shipped weights; new weights need a new run.
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "precision.json"
    rows = json.loads(path.read_text())["results"]
    allowed = [spec for spec in MODELS.values() if spec.bf16_auto]
    assert allowed
    for spec in allowed:
        mine = [r for r in rows if r["model"] == spec.name]
        wanted = {(d, s) for d in ("Set5", "Set14", "BSD100") for s in spec.scales}
        assert wanted <= {(r["dataset"], r["scale"]) for r in mine}, spec.name
        for r in mine:
            assert r["weights_sha256"] == sha256(weights_path(spec, r["scale"])), (spec.name, r["scale"])
            assert r["psnr_bf16"] >= r["psnr_fp32"] - 0.01, r
            assert r["ssim_bf16"] >= r["ssim_fp32"] - 0.0001, r
