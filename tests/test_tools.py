"""tools/: the training-stage chain that export_weights records, and the tables make_tables renders."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from glsr.models import MODELS, create_model, default_model
from glsr.weights import save_weights, sha256

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(folder: Path, recipe: str, hardware: str, seconds: float, init: dict | None) -> dict:
    folder.mkdir()
    info = {
        "recipe": {"name": recipe},
        "iterations": 100,
        "hardware": hardware,
        "wall_seconds": seconds,
        "git_commit": "abc",
        "initialised_from": init,
    }
    (folder / "model.json").write_text(json.dumps(info))
    return info


def test_export_lists_every_earlier_stage_oldest_first(tmp_path):
    export = _tool("export_weights")
    _run(tmp_path / "a", "first", "1 x AMD EPYC", 600.0, None)
    b = _run(
        tmp_path / "b",
        "second",
        "1 x NVIDIA H200",
        120.0,
        {"file": str(tmp_path / "a" / "model.safetensors"), "sha256": "1"},
    )
    c = {"initialised_from": {"file": str(tmp_path / "b" / "model.safetensors"), "sha256": "2"}}
    stages = export.earlier_stages(c)
    assert [s["recipe"] for s in stages] == ["first", "second"]
    assert [s["weights_sha256"] for s in stages] == ["1", "2"]
    assert stages[1]["wall_seconds"] == b["wall_seconds"]
    assert "hardware_seconds" not in stages[0]  # a run written before machines were recorded
    b["hardware_seconds"] = {"1 x NVIDIA H200": 100.0, "1 x AMD EPYC": 20.0}
    (tmp_path / "b" / "model.json").write_text(json.dumps(b))
    assert export.earlier_stages(c)[1]["hardware_seconds"] == b["hardware_seconds"]
    # A start from a file outside a run folder ends the chain; no start, no stages.
    assert export.earlier_stages({"initialised_from": {"file": str(tmp_path / "x.safetensors"), "sha256": "3"}}) == []
    assert export.earlier_stages({}) == []


def test_export_finds_a_start_that_travelled_under_another_name(tmp_path, monkeypatch):
    # A GPU chunk starts from a copy (.device_data/x.safetensors); the run it came from is found by content.
    export = _tool("export_weights")
    runs = tmp_path / "runs"
    runs.mkdir()
    _run(runs / "a", "first", "1 x NVIDIA H200", 150.0, None)
    weights = runs / "a" / "model.safetensors"
    weights.write_bytes(b"weights of run a")
    monkeypatch.setattr(export, "RUNS", runs)
    copy = {"file": str(tmp_path / ".device_data" / "a_copy.safetensors"), "sha256": sha256(weights)}
    stages = export.earlier_stages({"initialised_from": copy})
    assert [s["recipe"] for s in stages] == ["first"] and stages[0]["weights_sha256"] == sha256(weights)
    weights.write_bytes(b"other weights")  # no run holds that content: the chain ends
    assert export.earlier_stages({"initialised_from": copy}) == []


def test_export_follows_a_start_from_shipped_weights_through_their_manifest(tmp_path):
    export = _tool("export_weights")
    earlier = {"recipe": "fast", "iterations": 10, "hardware": "cpu", "wall_seconds": 5.0, "git_commit": "a"}
    training = {"recipe": "refine", "iterations": 20, "hardware": "cpu", "wall_seconds": 7.0, "git_commit": "b"}
    manifest = {"file": "m_x4.safetensors", "sha256": "9", "training": {**training, "earlier_stages": [earlier]}}
    (tmp_path / "m_x4.json").write_text(json.dumps(manifest))
    start = {"initialised_from": {"file": str(tmp_path / "m_x4.safetensors"), "sha256": "9"}}
    stages = export.earlier_stages(start)
    assert [s["recipe"] for s in stages] == ["fast", "refine"]
    assert stages[1]["wall_seconds"] == 7.0 and stages[1]["weights_sha256"] == "9"
    # Weights that changed since their manifest was written are not those stages.
    start["initialised_from"]["sha256"] = "8"
    assert export.earlier_stages(start) == []


def test_export_follows_a_grown_start_to_the_weights_it_was_grown_from(tmp_path):
    export = _tool("export_weights")
    _run(tmp_path / "small", "small_run", "cpu", 9.0, None)
    source = {"file": str(tmp_path / "small" / "model.safetensors"), "sha256": "5"}
    (tmp_path / "grown.json").write_text(json.dumps({"sha256": "6", "grown_from": source}))
    start = {"initialised_from": {"file": str(tmp_path / "grown.safetensors"), "sha256": "6"}}
    stages = export.earlier_stages(start)
    assert [s["recipe"] for s in stages] == ["small_run"]
    assert stages[0]["weights_sha256"] == "5"
    # A grown file that changed since its record was written ends the chain.
    start["initialised_from"]["sha256"] = "7"
    assert export.earlier_stages(start) == []


def test_grow_gladsr_writes_a_larger_network_with_the_same_output(tmp_path, monkeypatch, capsys):
    grow = _tool("grow_gladsr")
    tiny = {k: v for k, v in MODELS["gladsr"].test_kwargs.items() if k != "glams"}
    torch.manual_seed(0)
    small = create_model("gladsr", 2, glams=1, **tiny).eval()
    save_weights(small, tmp_path / "small.safetensors")
    out = tmp_path / "start" / "grown.safetensors"
    # The tool builds the paper's widths, so give it the tiny ones through create_model's defaults.
    real_create = grow.create_model
    monkeypatch.setattr(grow, "create_model", lambda name, scale, **kw: real_create(name, scale, **{**tiny, **kw}))
    monkeypatch.setattr(
        sys, "argv", ["grow", str(tmp_path / "small.safetensors"), "--scale", "2", "--glams", "2", "-o", str(out)]
    )
    assert grow.main() == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["sha256"] == sha256(out) and record["grown_from"]["sha256"] == sha256(tmp_path / "small.safetensors")
    big = real_create("gladsr", 2, glams=2, **tiny).eval()
    big.load_state_dict(load_file(str(out)))
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(big(x), small(x))
    # Fewer GLAMs than the source, or another scale's file, is a one-line error and writes nothing.
    for argv in (["--scale", "2", "--glams", "1"], ["--scale", "4", "--glams", "2"]):
        other = tmp_path / "other.safetensors"
        monkeypatch.setattr(sys, "argv", ["grow", str(tmp_path / "small.safetensors"), *argv, "-o", str(other)])
        assert grow.main() == 1
        assert not other.exists()
    assert capsys.readouterr().err.count("error:") == 2


def test_grow_drrn_writes_a_deeper_network_with_nearly_the_same_output(tmp_path, monkeypatch, capsys):
    grow = _tool("grow_drrn")
    torch.manual_seed(0)
    small = create_model("drrn", 2, units=2, channels=8).eval()
    save_weights(small, tmp_path / "small.safetensors")
    out = tmp_path / "start" / "grown.safetensors"
    real_create = grow.create_model
    monkeypatch.setattr(grow, "create_model", lambda name, scale, **kw: real_create(name, scale, channels=8, **kw))
    monkeypatch.setattr(sys, "argv", ["grow", str(tmp_path / "small.safetensors"), "--units", "4", "-o", str(out)])
    assert grow.main() == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["sha256"] == sha256(out) and record["grown_from"]["sha256"] == sha256(tmp_path / "small.safetensors")
    assert record["units"] == {"source": 2, "grown": 4} and 0 < record["max_output_difference"] < 1e-3
    big = real_create("drrn", 2, units=4, channels=8).eval()
    big.load_state_dict(load_file(str(out)))
    x = torch.rand(1, 1, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(big(x), small(x), atol=1e-3, rtol=0)
    # No more units than the source, or a scale so large the start drifts, is an error; nothing written.
    for argv in (["--units", "2"], ["--units", "4", "--off-scale", "10"]):
        other = tmp_path / "other.safetensors"
        monkeypatch.setattr(sys, "argv", ["grow", str(tmp_path / "small.safetensors"), *argv, "-o", str(other)])
        assert grow.main() == 1
        assert not other.exists() and not other.with_suffix(".json").exists()
    assert capsys.readouterr().err.count("error:") == 2


def test_tables_count_every_stage_of_the_cost_and_schedule():
    tables = _tool("make_tables")
    manifest = {
        "training": {
            "recipe": "refine",
            "iterations": 3_600,
            "hardware": "1 x AMD EPYC, 2 threads",
            "wall_seconds": 1_800.0,
            "earlier_stages": [
                {"recipe": "fast", "iterations": 12_000, "hardware": "1 x NVIDIA H200 (cuda)", "wall_seconds": 600.0}
            ],
        }
    }
    assert tables._training_cost(manifest) == "10 GPU-min + CPU 0.5 h"
    assert tables._schedule(manifest) == "fast (12,000 iterations) then refine (3,600 iterations)"
    del manifest["training"]["earlier_stages"]
    assert tables._training_cost(manifest) == "0 GPU-min (CPU, 0.5 h)"
    # A run resumed across machines counts its GPU chunks as GPU minutes and the rest as CPU hours.
    gpu, cpu = "1 x NVIDIA H200 (cuda)", "1 x AMD EPYC, 2 threads"
    manifest["training"] |= {"hardware": f"{gpu} / {cpu}", "hardware_seconds": {gpu: 1_200.0, cpu: 600.0}}
    assert tables._training_cost(manifest) == "20 GPU-min + CPU 0.2 h"
    manifest["training"]["hardware_seconds"] = {gpu: 1_800.0}
    assert tables._training_cost(manifest) == "30 GPU-min"


def test_speed_table_names_the_cpu_and_its_bf16_units(tmp_path):
    tables = _tool("make_tables")
    rows = [
        {"model": "srcnn", "scale": 3, "median_s": 1.25, "out_mp_per_s": 1.89, "peak_rss_mb": 400.0},
        {"model": "srcnn", "scale": 2, "median_s": 0.5, "out_mp_per_s": 2.1, "peak_rss_mb": 300.0},
        {"model": "glrl", "scale": 3, "median_s": 10.0, "out_mp_per_s": 0.24, "peak_rss_mb": 800.0},
        {"model": "glrl", "scale": 2, "error": "x"},
    ]
    meta = {"cpu": "Intel(R) Xeon(R) Processor", "bf16_units": "AVX-512 BF16, no AMX", "threads": 2, "size": 512}
    path = tmp_path / "upscale.json"
    path.write_text(json.dumps({"meta": meta, "results": rows}))
    text = tables.speed_table(path)
    assert "| srcnn | x3 | 1250 | 1.89 | 400 | 8.0x |" in text
    assert "| glrl | x3 | 10000 | 0.24 | 800 | 1.0x |" in text
    assert "| srcnn | x2 | 500 | 2.10 | 300 | - |" in text  # no glrl figure at x2: its row failed
    assert "| glrl | x2" not in text  # a failed row is left out
    assert text.endswith(
        "Measured on Intel(R) Xeon(R) Processor (AVX-512 BF16, no AMX), 2 threads, fp32, 512x512 RGB input."
    )
    for reuse, words in ((True, "freed memory reused (glsr.memory)"), (False, "--no-reuse-memory")):
        path.write_text(json.dumps({"meta": {**meta, "reuse_memory": reuse}, "results": rows}))
        assert tables.speed_table(path).endswith(f"512x512 RGB input, {words}.")


def test_speed_table_adds_bf16_columns_from_a_second_file(tmp_path):
    tables = _tool("make_tables")
    meta = {"cpu": "Intel(R) Xeon(R) Processor", "bf16_units": "AMX", "threads": 2, "size": 512}
    rows = [
        {"model": "glrl", "scale": 2, "median_s": 6.0, "out_mp_per_s": 0.18, "peak_rss_mb": 3000.0},
        {"model": "srcnn", "scale": 2, "median_s": 0.6, "out_mp_per_s": 1.7, "peak_rss_mb": 900.0},
    ]
    fp32, bf16 = tmp_path / "fp32.json", tmp_path / "bf16.json"
    fp32.write_text(json.dumps({"meta": meta, "results": rows}))
    bf16.write_text(json.dumps({"meta": {**meta, "precision": "bf16"}, "results": [{**rows[0], "median_s": 1.5}]}))
    text = tables.speed_table(fp32, bf16)
    assert text.startswith("| model | scale | ms per 512x512 input | output MP/s | peak RSS (MB) | faster than glrl |")
    assert "| glrl | x2 | 6000 | 0.18 | 3000 | 1.0x | 1500 | 4.0x |" in text
    assert "| srcnn | x2 | 600 | 1.70 | 900 | 10.0x | - | - |" in text  # not measured in bf16
    assert text.splitlines()[1] == "|---" * 8 + "|"
    assert text.endswith("bf16 columns: Intel(R) Xeon(R) Processor (AMX), 2 threads, bf16, 512x512 RGB input.")
    assert tables.speed_table(fp32, tmp_path / "missing.json") == tables.speed_table(fp32)
    # bf16 measured on another CPU: no columns (the speed-up would compare two machines), and the note says so.
    bf16.write_text(
        json.dumps({"meta": {**meta, "precision": "bf16", "cpu": "AMD EPYC", "bf16_units": None}, "results": [rows[0]]})
    )
    text = tables.speed_table(fp32, bf16)
    assert text.startswith(tables.speed_table(fp32)) and "1500" not in text
    assert text.endswith(
        "The bf16 file (bf16.json) was measured on AMD EPYC, 2 threads, bf16, 512x512 RGB input: not compared."
    )


def test_curves_name_a_kept_copy_by_its_file_and_a_run_log_by_its_folder(tmp_path, monkeypatch):
    plot = _tool("plot_curves")
    assert plot.run_name(Path("runs/srcnn_refine_x3/log.csv")) == "srcnn_refine_x3"
    assert plot.run_name(Path("docs/curves/srcnn_refine_x3.csv")) == "srcnn_refine_x3"
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("iteration,val_psnr_x3\n500,32.0\n1000,32.5\n")
    second.write_text("iteration,val_psnr_x3\n500,32.4\n1000,32.6\n")
    out = tmp_path / "chain.svg"
    monkeypatch.setattr("sys.argv", ["plot_curves", str(first), str(second), "--chain", "-o", str(out)])
    plot.main()
    text = out.read_text()
    assert ">second</text>" in text  # the second stage's start is marked with its name
    assert text.count("<polyline") == 1  # one line per scale across the stages


def test_train_speed_runs_a_recipe_with_overridden_values(tmp_path, data_root):
    from benchmarks.train_speed import main

    out = tmp_path / "speed.json"
    argv = ["--recipes", "gladsr_l_fast", "--iterations", "1", "--warmup", "0", "--train-sets", "Set5"]
    argv += ["--data-root", str(data_root), "--set", "batch_size=2", "--set", "data.patch_size=12"]
    argv += ["--set", "model_kwargs.glams=1", "--set", "model_kwargs.blocks=1", "--json", str(out)]
    main(argv)
    (row,) = json.loads(out.read_text())["results"]
    assert (row["recipe"], row["batch_size"], row["patch_size"]) == ("gladsr_l_fast", 2, 12)
    assert row["iterations_per_s"] > 0


def test_compare_models_pairs_photos_by_model_and_scale(tmp_path, capsys, monkeypatch):
    compare = _tool("compare_models")
    files = []
    for model, psnr in (("a", {"p": 30.0, "q": 20.0}), ("b", {"p": 29.5, "q": 20.25})):
        results = [{"photo": photo, "scale": 2, "psnr": v} for photo, v in psnr.items()]
        files.append(tmp_path / f"{model}.json")
        files[-1].write_text(json.dumps({"model": model, "results": results}))
    table = compare.heldout_psnr(files)
    assert table == {("a", 2): {"p": 30.0, "q": 20.0}, ("b", 2): {"p": 29.5, "q": 20.25}}
    # A bf16 run of the same model is kept apart from the fp32 figures.
    files.append(tmp_path / "a_bf16.json")
    files[-1].write_text(
        json.dumps({"model": "a", "precision": "bf16", "results": [{"photo": "p", "scale": 2, "psnr": 1}]})
    )
    assert compare.heldout_psnr(files) == table
    assert compare.heldout_psnr(files, "bf16") == {("a", 2): {"p": 1}}
    monkeypatch.setattr(compare, "benchmark_psnr", lambda model, scale: {"Set5": 37.0 if model == "a" else 36.9})
    monkeypatch.setattr("sys.argv", ["compare_models", "a", "b", "--scales", "2", "--heldout", *map(str, files)])
    compare.main()
    out = capsys.readouterr().out.splitlines()
    assert out == ["x2 a - b: Set5 +0.10", "x2 held-out mean 25.00 against 24.88: p +0.50, q -0.25"]


def test_compare_models_reads_the_shipped_manifests():
    psnr = _tool("compare_models").benchmark_psnr("glrl", 3)
    manifest = json.loads((REPO / "src/glsr/weights/glrl.json").read_text())
    assert psnr == {r["dataset"]: r["psnr"] for r in manifest["results"] if r["scale"] == 3}
    assert set(psnr) == {"Set5", "Set14", "BSD100", "Urban100"}


def test_compare_models_keeps_only_held_out_figures_of_the_shipped_weights(tmp_path):
    compare = _tool("compare_models")
    shipped = sha256(REPO / "src/glsr/weights/glrl.safetensors")
    files = []
    for name, digest in (("now", shipped), ("before", "0" * 64)):
        files.append(tmp_path / f"{name}.json")
        stored = {
            "model": "glrl",
            "weights": {"x2": {"sha256": digest}},
            "results": [{"photo": name, "scale": 2, "psnr": 1}],
        }
        files[-1].write_text(json.dumps(stored))
    assert compare.heldout_psnr(files) == {("glrl", 2): {"now": 1, "before": 1}}
    assert compare.heldout_psnr(files, shipped_only=True) == {("glrl", 2): {"now": 1}}


def test_heldout_table_lists_the_shipped_weights_per_scale_with_bicubic_and_the_default(tmp_path):
    tables = _tool("make_tables")
    shipped = {m: sha256(REPO / f"src/glsr/weights/{m}_x2.safetensors") for m in ("gladsr_l", "gladsr")}

    def store(name: str, model: str, digest: str, psnr: tuple[float, float], precision: str = "fp32") -> None:
        results = [
            {"photo": photo, "scale": 2, "psnr": v, "bicubic_psnr": b}
            for photo, v, b in zip(("p", "q"), psnr, (30.0, 20.0), strict=True)
        ]
        stored = {"model": model, "precision": precision, "measured_on": "cpu", "results": results}
        (tmp_path / f"heldout_{name}.json").write_text(json.dumps(stored | {"weights": {"x2": {"sha256": digest}}}))

    store("a", "gladsr", shipped["gladsr"], (31.0, 21.5))
    store("b", "gladsr_l", shipped["gladsr_l"], (31.0, 21.0))
    store("bf16", "gladsr_l", shipped["gladsr_l"], (50.0, 50.0), "bf16")  # fp32 figures only
    lines = tables.heldout_table(tmp_path).splitlines()
    assert lines[0] == "| model | scale | mean | over bicubic | p | q |"
    # Best mean first; the default is marked whatever its rank.
    named = {m: f"**{m}** (default)" if m == default_model(2) else m for m in shipped}
    assert lines[2:5] == [
        "| bicubic | x2 | 25.00 | - | 30.00 | 20.00 |",
        f"| {named['gladsr']} | x2 | 26.25 | +1.25 | 31.00 | 21.50 |",
        f"| {named['gladsr_l']} | x2 | 26.00 | +1.00 | 31.00 | 21.00 |",
    ]
    assert "(default)" in lines[3] + lines[4] or default_model(2) not in shipped
    assert lines[-1].endswith("measured on cpu.")
    # Figures of weights that no longer ship are an error, not a row quietly left out.
    store("old", "gladsr", "0" * 64, (40.0, 40.0))
    with pytest.raises(SystemExit, match="gladsr x2 are not of its shipped weights"):
        tables.heldout_table(tmp_path)
    (tmp_path / "heldout_old.json").unlink()
    stored = json.loads((tmp_path / "heldout_a.json").read_text())
    stored["results"][0]["bicubic_psnr"] = 29.0
    (tmp_path / "heldout_a.json").write_text(json.dumps(stored))
    with pytest.raises(SystemExit, match="disagree on bicubic for p x2"):
        tables.heldout_table(tmp_path)


def _manifest(model: str, scale: int, **psnr: float) -> dict:
    return {"model": model, "results": [{"dataset": d, "scale": scale, "psnr": v} for d, v in psnr.items()]}


def test_targets_table_measures_each_model_against_its_issues_bar():
    tables = _tool("make_tables")
    # VDSR's published x2 row is 37.53 / 33.03 / 31.90; issue 6 holds glrl to it minus 0.1 dB.
    lines = tables.targets_table([_manifest("glrl", 2, Set5=37.43, Set14=32.9202, BSD100=31.9)]).splitlines()
    assert lines[2] == (
        "| glrl | x2 | vdsr (291) - 0.1 dB (#6) | 37.43 / 37.43 (+0.00) | 32.92 / 32.93 (-0.01) "
        "| 31.90 / 31.80 (+0.10) | no: Set14 |"
    )
    # A model with no weights keeps its row, and a model with no target has none.
    assert "| srgrn | - | srgrn (DIV2K) - 0.4 dB (#7) | - | - | - | no weights ship |" in lines
    assert not any(line.startswith("| fsrcnn ") for line in lines)


def test_comparison_table_is_each_model_minus_the_scales_default(tmp_path):
    tables = _tool("make_tables")
    default = default_model(2)
    other = "glrl" if default != "glrl" else "vdsr"
    for model, psnr in ((default, (31.0, 21.0)), (other, (31.5, 20.0))):
        stem = MODELS[model].weights_stem(2)
        stored = {
            "model": model,
            "weights": {"x2": {"sha256": sha256(REPO / f"src/glsr/weights/{stem}.safetensors")}},
            "results": [{"photo": p, "scale": 2, "psnr": v} for p, v in zip("pq", psnr, strict=True)],
        }
        (tmp_path / f"heldout_{model}.json").write_text(json.dumps(stored))
    manifests = [
        _manifest(default, 2, Set5=37.0, Set14=33.0, BSD100=32.0, Urban100=30.0),
        _manifest(other, 2, Set5=36.9, Set14=33.1, BSD100=32.0, Urban100=29.5),
        _manifest(other, 3, Set5=30.0),  # no default at x3 among these manifests: no row
    ]
    lines = tables.comparison_table(tmp_path, manifests).splitlines()
    assert lines[2:3] == [f"| {other} | x2 | -0.10 | +0.10 | +0.00 | -0.50 | -0.25 | p +0.50 |"]
    assert not any("| x3 |" in line for line in lines)


def test_precision_update_replaces_only_the_measured_models_and_scales_rows():
    from benchmarks.precision import merge

    stored = {
        "measured_on": "old cpu",
        "date": "2026-12-01",
        "results": [
            {"model": "a", "scale": 2, "psnr_bf16": 1.0},
            {"model": "b", "scale": 2, "psnr_bf16": 2.0},
            {"model": "b", "scale": 4, "psnr_bf16": 4.0},
        ],
    }
    new = [{"model": "b", "scale": 4, "psnr_bf16": 5.0, "measured_on": "new cpu", "date": "2026-12-02"}]
    assert merge(stored, new) == [
        {"model": "a", "scale": 2, "psnr_bf16": 1.0, "measured_on": "old cpu", "date": "2026-12-01"},
        {"model": "b", "scale": 2, "psnr_bf16": 2.0, "measured_on": "old cpu", "date": "2026-12-01"},
        *new,
    ]


def test_precision_takes_fp32_from_the_manifest_and_measures_bf16(data_root, monkeypatch):
    import benchmarks.precision as precision

    manifest = json.loads((REPO / "src/glsr/weights/srcnn_x2.json").read_text())
    stored = next(r for r in manifest["results"] if r["dataset"] == "Set5" and r["scale"] == 2)
    measured = []
    real_evaluate = precision.evaluate
    monkeypatch.setattr(
        precision, "evaluate", lambda *a, **k: measured.append(k["precision"]) or real_evaluate(*a, **k)
    )
    [row] = precision.compare("srcnn", ["Set5"], [2], str(data_root), fp32_from_manifest=True)
    assert measured == ["bf16"]
    assert (row["psnr_fp32"], row["ssim_fp32"]) == (stored["psnr"], stored["ssim"])
    assert row["fp32_measured_on"] == manifest["measured"]["on"]
    assert abs(row["psnr_bf16"] - stored["psnr"]) < 0.05


def test_precision_refuses_a_manifest_of_another_file(monkeypatch):
    import benchmarks.precision as precision

    monkeypatch.setattr(precision, "sha256", lambda path: "0" * 64)
    with pytest.raises(SystemExit, match="describes another file"):
        precision.manifest_fp32("srcnn", ["Set5"], [2])
    monkeypatch.undo()
    with pytest.raises(SystemExit, match="has no Urban101 x3 BI row"):
        precision.manifest_fp32("vdsr", ["Urban101"], [3])


def _srcnn_run_to_export(tmp_path: Path, monkeypatch):
    """A tiny srcnn run folder, and export_weights writing into ``tmp_path / "weights"``."""
    from glsr.models import create_model
    from glsr.weights import save_weights

    export = _tool("export_weights")
    run = tmp_path / "run"
    run.mkdir()
    save_weights(create_model("srcnn", 2), run / "model.safetensors")
    info = {"model": "srcnn", "scales": [2], "recipe": {"name": "srcnn"}, "training_set": "T91"}
    info |= {"training_images": 91, "iterations": 10, "complete": True, "hardware": "cpu", "wall_seconds": 1.0}
    (run / "model.json").write_text(json.dumps(info | {"git_commit": "abc"}))
    shipped = tmp_path / "weights"
    monkeypatch.setattr(export, "WEIGHTS_DIR", shipped)
    monkeypatch.setattr(export, "weights_path", lambda spec, scale: shipped / f"{spec.weights_stem(scale)}.safetensors")
    monkeypatch.setattr(export, "describe", lambda device: "test machine")
    return export, run, shipped


def test_a_stopped_export_resumes_with_the_rows_it_had_measured(tmp_path, monkeypatch):
    import sys

    import pytest

    from glsr.evaluate import Result
    from glsr.models import create_model
    from glsr.weights import save_weights

    export, run, shipped = _srcnn_run_to_export(tmp_path, monkeypatch)
    calls: list[str] = []

    def fake_evaluate(model, datasets, scales, stop_at=None, **kwargs):
        if len(calls) == stop_at:
            raise KeyboardInterrupt
        calls.append(datasets[0])
        return [Result(model, datasets[0], scales[0], "BI", "luma", 30.0 + len(calls), 0.9, 5)]

    def export_main(*extra, stop_at=None):
        monkeypatch.setattr(export, "evaluate", lambda *a, **k: fake_evaluate(*a, stop_at=stop_at, **k))
        argv = ["export_weights.py", str(run), "--datasets", "Set5,Set14,BSD100", *extra]
        monkeypatch.setattr(sys, "argv", argv)
        return export.main()

    with pytest.raises(KeyboardInterrupt):
        export_main(stop_at=2)
    stopped = json.loads((shipped / "srcnn_x2.json").read_text())
    assert [r["dataset"] for r in stopped["results"]] == ["Set5", "Set14"]
    assert stopped["measured"]["complete"] is False
    assert sorted(p.name for p in shipped.iterdir()) == ["srcnn_x2.json", "srcnn_x2.safetensors"]  # no temporary file

    export_main("--resume")
    resumed = json.loads((shipped / "srcnn_x2.json").read_text())
    assert calls == ["Set5", "Set14", "BSD100"]  # only the missing row was measured again
    rows = [(r["dataset"], r["psnr"]) for r in resumed["results"]]
    assert rows == [("Set5", 31.0), ("Set14", 32.0), ("BSD100", 33.0)]
    assert resumed["measured"]["complete"] is True
    assert resumed["measured"]["on"] == "test machine"

    export_main()  # without --resume every row is measured again
    assert calls[3:] == ["Set5", "Set14", "BSD100"]

    save_weights(create_model("srcnn", 2), run / "model.safetensors")  # new weights, old manifest
    with pytest.raises(SystemExit, match="describes another file"):
        export_main("--resume")


def test_an_export_resumes_from_a_kept_copy_of_its_manifest_and_keeps_its_notes(tmp_path, monkeypatch):
    import shutil
    import sys

    import pytest

    from glsr.evaluate import Result

    export, run, shipped = _srcnn_run_to_export(tmp_path, monkeypatch)
    calls: list[str] = []
    stop_at = {"n": 1}

    def fake_evaluate(model, datasets, scales, **kwargs):
        if len(calls) == stop_at["n"]:
            raise KeyboardInterrupt
        calls.append(datasets[0])
        return [Result(model, datasets[0], scales[0], "BI", "luma", 30.0, 0.9, 5)]

    monkeypatch.setattr(export, "evaluate", fake_evaluate)
    argv = ["export_weights.py", str(run), "--datasets", "Set5,Set14"]
    monkeypatch.setattr(sys, "argv", [*argv, "--notes", "first notes"])
    with pytest.raises(KeyboardInterrupt):
        export.main()
    # A session keeps the stopped manifest beside the run; a fresh clone has no shipped files.
    kept = run / "partial.json"
    shutil.copyfile(shipped / "srcnn_x2.json", kept)
    shutil.rmtree(shipped)
    stop_at["n"] = None
    monkeypatch.setattr(sys, "argv", [*argv, "--resume-from", str(kept)])
    export.main()
    resumed = json.loads((shipped / "srcnn_x2.json").read_text())
    assert [r["dataset"] for r in resumed["results"]] == ["Set5", "Set14"]
    assert calls == ["Set5", "Set14"] and resumed["measured"]["complete"] is True
    assert resumed["notes"] == "first notes"
