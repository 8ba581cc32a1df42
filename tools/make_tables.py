"""Regenerate the README's results (and speed) tables from measured files; no figure is typed by hand.

Usage: python tools/make_tables.py [--check] [--speed benchmarks/results/upscale.json] [--bicubic]

* Results: every manifest in src/glsr/weights/*.json (figures measured by tools/export_weights.py with
  ``glsr benchmark``), beside the papers' figures from src/glsr/published.json.
* Speed: the JSON written by ``benchmarks/upscale.py --json`` if it exists, with bf16 columns from the
  one written with ``--precision bf16`` (``--speed-bf16``) if that exists and was measured on the same host.
* Bicubic (``--bicubic``): runs ``glsr benchmark --model bicubic`` for BI at x2/x3/x4 and BD/DN at x3 on
  the four benchmark sets (a few minutes) and stores the results in benchmarks/results/bicubic.json;
  without ``--bicubic`` the stored results are used.

* Held-out photos: the per-photo Y PSNR that ``benchmarks/heldout.py --json`` stored in
  benchmarks/results/heldout*.json, for the weights shipped now (fp32), with bicubic and the default.

* Targets: each shipped model against the bar its issue sets (a published row minus a margin).
* Comparison: each shipped model minus each scale's default model, on the benchmark sets and the
  held-out photos.

* Training runs: docs/training.md's table of the runs behind the shipped weights (from the manifests),
  with the validation curve of each (docs/curves/<model>.svg, drawn by tools/plot_curves.py from the
  log.csv of each stage, kept in runs/).

The tables replace what stands between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` markers in
README.md (results, targets, compare, bicubic, heldout, speed) and docs/training.md (runs).
``--check`` exits 1 if README.md is out of date instead of writing it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
TRAINING_DOC = REPO / "docs" / "training.md"
CURVES = REPO / "docs" / "curves"
RESULTS = REPO / "benchmarks" / "results"
WEIGHTS = REPO / "src" / "glsr" / "weights"
DATASETS = ["Set5", "Set14", "BSD100", "Urban100"]


def _manifests() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(WEIGHTS.glob("*.json"))]


def _stages(manifest: dict) -> list[dict]:
    """Every training stage behind a weight file, oldest first (earlier ones were started from with ``init``)."""
    training = manifest["training"]
    return [*training.get("earlier_stages", []), training]


def _on_gpu(hardware: str) -> bool:
    where = hardware.lower()
    return any(word in where for word in ("cuda", "nvidia", " h100", " h200"))


def _gpu_minutes(stage: dict) -> float:
    """Wall minutes a stage spent on a GPU; a run resumed across machines counts only its GPU chunks."""
    if "hardware_seconds" in stage:
        return sum(s for name, s in stage["hardware_seconds"].items() if _on_gpu(name)) / 60
    return stage["wall_seconds"] / 60 if _on_gpu(stage["hardware"]) else 0.0


def _machine_names(stage: dict) -> list[str]:
    """The machines a stage ran on, in order."""
    return list(stage["hardware_seconds"]) if "hardware_seconds" in stage else [stage["hardware"]]


def _total_gpu_minutes(manifest: dict) -> float:
    """GPU minutes over every stage behind a weight file."""
    return sum(_gpu_minutes(stage) for stage in _stages(manifest))


def _training_cost(manifest: dict) -> str:
    gpu = _total_gpu_minutes(manifest)
    cpu_hours = max(0.0, sum(t["wall_seconds"] - 60 * _gpu_minutes(t) for t in _stages(manifest)) / 3600)
    if gpu:
        return f"{gpu:.0f} GPU-min" + (f" + CPU {cpu_hours:.1f} h" if round(cpu_hours, 1) else "")
    return f"0 GPU-min (CPU, {cpu_hours:.1f} h)"


def _schedule(manifest: dict) -> str:
    """The stages as text: ``glrl_fast (12,000 iterations) then glrl_refine (3,600 iterations)``."""
    stages = _stages(manifest)
    parts = [f"{t['recipe']} ({t['iterations']:,} iterations)" for t in stages]
    return " then ".join(parts)


def _stem(manifest: dict) -> str:
    """The weight file's stem: ``glrl`` for a multi-scale model, ``srcnn_x2`` for one scale's file."""
    return Path(manifest["file"]).stem


def results_table() -> str:
    manifests = _manifests()
    if not manifests:
        return "_No weights ship yet._"
    lines = [
        "| model | dataset | scale | PSNR / SSIM (ours) | paper | dPSNR | training |",
        "|---|---|---|---|---|---|---|",
    ]
    # One model's per-scale files (srcnn_x2, srcnn_x3, ...) form one block, ordered dataset, scale.
    models = list(dict.fromkeys(m["model"] for m in manifests))
    order = {d: i for i, d in enumerate(DATASETS)}
    rows = [(m, r) for m in manifests for r in m["results"]]
    rows.sort(key=lambda mr: (models.index(mr[0]["model"]), order.get(mr[1]["dataset"], 99), mr[1]["scale"]))
    for manifest, r in rows:
        paper = "-"
        delta = "-"
        if r["paper_psnr"] is not None:
            paper = f"{r['paper_psnr']:.2f}" + (f" / {r['paper_ssim']:.4f}" if r["paper_ssim"] else "")
            delta = f"{r['psnr'] - r['paper_psnr']:+.2f}"
        ours = f"{r['psnr']:.2f} / {r['ssim']:.4f}"
        row = [manifest["model"], r["dataset"], f"x{r['scale']}", ours, paper, delta, _training_cost(manifest)]
        lines.append("| " + " | ".join(row) + " |")
    notes = sorted(
        {
            f"{_stem(m)}: {_schedule(m)} on {m['training']['hardware']}"
            + (
                f", started from {m['training']['initialised_from']['file']}"
                if m["training"].get("initialised_from")
                else ""
            )
            + f"; measured on {m['measured']['on']} ({m['measured']['date']})"
            for m in manifests
        }
    )
    return "\n".join([*lines, "", *[f"- {n}" for n in notes]])


# The issues' bars, as data: (model, issue, the published row it is measured against (model, training
# set), the margin below it, the datasets the issue names). Issue 6 holds glrl to VDSR's figures.
TARGETS = (
    ("glrl", 6, ("vdsr", "291"), 0.1, ("Set5", "Set14", "BSD100")),
    ("vdsr", 6, ("vdsr", "291"), 0.1, ("Set5", "Set14", "BSD100")),
    ("drrn_b1u9", 6, ("drrn_b1u9", "291"), 0.1, ("Set5", "Set14", "BSD100")),
    ("drrn_b1u25", 6, ("drrn_b1u25", "291"), 0.1, ("Set5", "Set14")),
    ("srcnn", 6, ("srcnn", "ImageNet"), 0.1, ("Set5", "Set14", "BSD100")),
    ("gladsr_l", 7, ("gladsr_l", "DIV2K"), 0.3, ("Set5", "Set14", "BSD100")),
    ("gladsr", 7, ("gladsr", "291"), 0.1, ("Set5", "Set14", "BSD100")),
    ("srgrn", 7, ("srgrn", "DIV2K"), 0.4, ("Set5", "Set14")),
)


def _shipped_psnr(manifests: list[dict] | None = None) -> dict[tuple[str, int], dict[str, float]]:
    """PSNR per dataset, keyed by (model, scale), from the manifests (default: the shipped ones)."""
    shipped: dict[tuple[str, int], dict[str, float]] = {}
    for m in _manifests() if manifests is None else manifests:
        for r in m["results"]:
            shipped.setdefault((m["model"], r["scale"]), {})[r["dataset"]] = r["psnr"]
    return shipped


def targets_table(manifests: list[dict] | None = None) -> str:
    """Each shipped model against its issue's bar: ours / the bar (the gap), per named dataset and scale."""
    from glsr.evaluate import published_figure

    shipped = _shipped_psnr(manifests)
    lines = [
        "| model | scale | bar (issue) | Set5 | Set14 | BSD100 | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, issue, (source, training), margin, datasets in TARGETS:
        label = f"{source} ({training}) - {margin:.1f} dB (#{issue})"
        if not any((model, scale) in shipped for scale in (2, 3, 4)):
            lines.append(f"| {model} | - | {label} | - | - | - | no weights ship |")
            continue
        for scale in (2, 3, 4):
            if (model, scale) not in shipped:
                continue
            cells, short = [], []
            for dataset in ("Set5", "Set14", "BSD100"):
                paper = published_figure(source, dataset, scale, training=training)
                if dataset not in datasets or paper is None:
                    cells.append("-")
                    continue
                bar = paper[0] - margin
                ours = shipped[model, scale][dataset]
                cells.append(f"{ours:.2f} / {bar:.2f} ({ours - bar:+.2f})")
                if ours < bar - 1e-9:  # unrounded: 32.9202 against 32.93 is short
                    short.append(dataset)
            met = "no: " + ", ".join(short) if short else "yes"
            lines.append(f"| {model} | x{scale} | {label} | {' | '.join(cells)} | {met} |")
    lines.append("")
    lines.append(
        "Each cell: ours / the bar (ours minus the bar), PSNR in dB, BI; ours from the weight manifests,"
        " the bar from the published row named (src/glsr/published.json) minus the issue's margin."
    )
    return "\n".join(lines)


def comparison_table(results: Path = RESULTS, manifests: list[dict] | None = None) -> str:
    """Every shipped model minus each scale's default: benchmark PSNR and held-out photos (fp32)."""
    from glsr.models import default_model

    compare = _compare_models()
    heldout = compare.heldout_psnr(sorted(results.glob("heldout*.json")), "fp32", shipped_only=True)
    shipped = _shipped_psnr(manifests)
    lines = [
        "| model | scale | Set5 | Set14 | BSD100 | Urban100 | held-out mean | held-out photos ahead |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scale in (2, 3, 4):
        default = default_model(scale)
        base = shipped.get((default, scale))
        if base is None:
            continue
        others = [m for (m, s) in shipped if s == scale and m != default]
        for model in sorted(others, key=lambda m: -sum(shipped[m, scale].values())):
            ours = shipped[model, scale]
            cells = [f"{ours[d] - base[d]:+.2f}" if d in ours and d in base else "-" for d in DATASETS]
            mine, theirs = heldout.get((model, scale)), heldout.get((default, scale))
            mean, ahead = "-", "-"
            if mine and theirs and set(mine) == set(theirs):
                differences = compare.photo_differences(mine, theirs)
                mean = f"{sum(d for _, d in differences) / len(differences):+.2f}"
                ahead = ", ".join(f"{p} {d:+.2f}" for p, d in differences if d > 0) or "none"
            lines.append(f"| {model} | x{scale} | {' | '.join(cells)} | {mean} | {ahead} |")
    lines.append("")
    lines.append(
        "PSNR in dB of each shipped model minus that of the scale's default (glsr models), from the weight"
        " manifests (benchmark sets) and benchmarks/results/heldout*.json (fp32, the shipped weights)."
        " `python tools/compare_models.py MODEL DEFAULT --heldout benchmarks/results/heldout*.json`"
        " prints every photo's difference."
    )
    return "\n".join(lines)


SPEED_REFERENCE = "glrl"  # the flagship; issue 7 measures GLADSR-L against it at the same scale


def _speed_rows(path: Path) -> tuple[list[dict], dict]:
    data = json.loads(path.read_text())
    rows = data["results"] if isinstance(data, dict) else data
    meta = data.get("meta", {}) if isinstance(data, dict) else {}
    return [r for r in rows if "error" not in r], meta


def _machine(meta: dict) -> str:
    cpu = meta.get("cpu") or meta.get("processor") or "this machine"
    if meta.get("bf16_units"):
        cpu += f" ({meta['bf16_units']})"
    size = meta.get("size", 512)
    threads, precision = meta.get("threads") or "all", meta.get("precision", "fp32")
    machine = f"{cpu}, {threads} threads, {precision}, {size}x{size} RGB input"
    if "reuse_memory" in meta:  # glsr.memory; files written before it existed ran without it
        machine += ", freed memory reused (glsr.memory)" if meta["reuse_memory"] else ", --no-reuse-memory"
    return machine


def _host(meta: dict) -> tuple:
    """What must match for two speed files to share a table: CPU, bf16 units, threads, input size."""
    return (
        meta.get("cpu") or meta.get("processor"),
        meta.get("bf16_units"),
        meta.get("threads"),
        meta.get("size", 512),
    )


def speed_table(path: Path, bf16_path: Path | None = None) -> str:
    """The fp32 table of ``path``, with bf16 columns from ``bf16_path`` if it exists and shares its host."""
    if not path.is_file():
        return "_Not measured yet: run `python benchmarks/upscale.py --json " + str(path.relative_to(REPO)) + "`._"
    rows, meta = _speed_rows(path)
    bf16: dict[tuple[str, int], float] = {}
    other_host = ""
    if bf16_path is not None and bf16_path.is_file():
        bf16_rows, bf16_meta = _speed_rows(bf16_path)
        if _host(bf16_meta) == _host(meta):
            bf16 = {(r["model"], r["scale"]): r["median_s"] for r in bf16_rows}
        else:  # a bf16 speed-up is only meaningful against fp32 on the same CPU, threads and size
            other_host = f" The bf16 file ({bf16_path.name}) was measured on {_machine(bf16_meta)}: not compared."
    # The speed-up over the reference model at the same scale, so the prose never types a ratio.
    reference = {r["scale"]: r["median_s"] for r in rows if r["model"] == SPEED_REFERENCE}
    header = f"| model | scale | ms per 512x512 input | output MP/s | peak RSS (MB) | faster than {SPEED_REFERENCE} |"
    lines = [header + (" bf16 ms | bf16 speed-up |" if bf16 else ""), "|---" * (6 + 2 * bool(bf16)) + "|"]
    for r in rows:
        figures = f"{1000 * r['median_s']:.0f} | {r['out_mp_per_s']:.2f} | {r['peak_rss_mb']:.0f}"
        ratio = f"{reference[r['scale']] / r['median_s']:.1f}x" if r["scale"] in reference else "-"
        line = f"| {r['model']} | x{r['scale']} | {figures} | {ratio} |"
        if bf16:
            fast = bf16.get((r["model"], r["scale"]))
            line += f" {1000 * fast:.0f} | {r['median_s'] / fast:.1f}x |" if fast else " - | - |"
        lines.append(line)
    note = f"\nMeasured on {_machine(meta)}."
    if bf16:
        note += f" bf16 columns: {_machine(bf16_meta)}."
    return "\n".join(lines) + "\n" + note + other_host


BICUBIC = REPO / "benchmarks" / "results" / "bicubic.json"


def runs_table() -> str:
    manifests = _manifests()
    if not manifests:
        return "_No trained weights ship yet._"
    lines = [
        "| model | recipe | iterations | trained on | wall time | GPU-minutes | Set5 (x2 / x3 / x4) | curve |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in manifests:
        set5 = {r["scale"]: r["psnr"] for r in m["results"] if r["dataset"] == "Set5"}
        figures = " / ".join(f"{set5[s]:.2f}" for s in sorted(set5))
        stages = _stages(m)
        gpu = _total_gpu_minutes(m)
        curve = CURVES / f"{_stem(m)}.svg"
        link = f"[svg](curves/{curve.name})" if curve.is_file() else "-"
        hours = sum(stage["wall_seconds"] for stage in stages) / 3600
        recipes = " + ".join(f"`{stage['recipe']}`" for stage in stages)
        iterations = " + ".join(f"{stage['iterations']:,}" for stage in stages)
        hardware = " / ".join(dict.fromkeys(name for stage in stages for name in _machine_names(stage)))
        row = [_stem(m), recipes, iterations, hardware, f"{hours:.1f} h", f"{gpu:.0f}"]
        lines.append("| " + " | ".join([*row, figures, link]) + " |")
    return "\n".join(lines)


def bicubic_table(measure: bool, data_root: str | None) -> str:
    if measure:
        from glsr.evaluate import evaluate

        results = []
        for degradation, scales in (("BI", [2, 3, 4]), ("BD", [3]), ("DN", [3])):
            for r in evaluate(
                "bicubic", datasets=DATASETS, scales=scales, degradation=degradation, data_root=data_root
            ):
                results.append(r.to_json())
        BICUBIC.parent.mkdir(parents=True, exist_ok=True)
        BICUBIC.write_text(json.dumps({"command": "glsr benchmark --model bicubic", "results": results}, indent=1))
    if not BICUBIC.is_file():
        return "_Not measured yet: run `python tools/make_tables.py --bicubic`._"
    from glsr.evaluate import published_figure

    lines = [
        "| degradation | dataset | scale | PSNR / SSIM (ours) | paper | dPSNR / dSSIM |",
        "|---|---|---|---|---|---|",
    ]
    for r in json.loads(BICUBIC.read_text())["results"]:
        paper = published_figure("bicubic", r["dataset"], r["scale"], r["degradation"])
        ours = f"{r['psnr']:.2f} / {r['ssim']:.4f}"
        theirs = f"{paper[0]:.2f} / {paper[1]:.4f}" if paper else "-"
        delta = f"{r['psnr'] - paper[0]:+.2f} / {r['ssim'] - paper[1]:+.4f}" if paper else "-"
        lines.append(f"| {r['degradation']} | {r['dataset']} | x{r['scale']} | {ours} | {theirs} | {delta} |")
    return "\n".join(lines)


def _compare_models():
    spec = importlib.util.spec_from_file_location("compare_models", Path(__file__).with_name("compare_models.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def heldout_table(results: Path = RESULTS) -> str:
    """Y PSNR per held-out photo for every model's shipped weights (fp32), with bicubic, per scale."""
    from glsr.models import default_model

    files = sorted(results.glob("heldout*.json"))
    compare = _compare_models()
    rows = compare.heldout_rows(files, "fp32", shipped_only=True)
    stale = [(r["model"], r["scale"]) for r in compare.heldout_rows(files, "fp32") if r not in rows]
    if stale:
        model, scale = stale[0]
        raise SystemExit(f"the stored held-out figures of {model} x{scale} are not of its shipped weights")
    photos = sorted({r["photo"] for r in rows})
    psnr: dict[tuple[int, str], dict[str, float]] = {}
    bicubic: dict[tuple[int, str], float] = {}
    for r in rows:
        psnr.setdefault((r["scale"], r["model"]), {})[r["photo"]] = r["psnr"]
        if abs(bicubic.setdefault((r["scale"], r["photo"]), r["bicubic_psnr"]) - r["bicubic_psnr"]) > 1e-3:
            raise SystemExit(f"held-out files disagree on bicubic for {r['photo']} x{r['scale']}: measure them again")
    head = "| model | scale | mean | over bicubic | " + " | ".join(photos) + " |"
    lines = [head, "|---" * (4 + len(photos)) + "|"]
    for scale in sorted({s for s, _ in psnr}):
        base = [bicubic[scale, p] for p in photos]
        mean_base = sum(base) / len(base)
        lines.append(f"| bicubic | x{scale} | {mean_base:.2f} | - | " + " | ".join(f"{v:.2f}" for v in base) + " |")
        full = {m: v for (s, m), v in psnr.items() if s == scale and set(v) == set(photos)}
        for model in sorted(full, key=lambda m: -sum(full[m].values())):
            values = [full[model][p] for p in photos]
            mean = sum(values) / len(values)
            name = f"**{model}** (default)" if model == default_model(scale) else model
            cells = " | ".join(f"{v:.2f}" for v in values)
            lines.append(f"| {name} | x{scale} | {mean:.2f} | {mean - mean_base:+.2f} | {cells} |")
    hosts = sorted({r["measured_on"] for r in rows if r["measured_on"]})
    lines.append("")
    lines.append(
        f"Y PSNR (dB, `scale` pixels shaved) on the {len(photos)} whole photos in tests/data/heldout, shrunk"
        " with MATLAB bicubic, fp32, the weights shipped now: benchmarks/results/heldout*.json, stored by"
        f" `python benchmarks/heldout.py --precision fp32 --json ...`, measured on {'; '.join(hosts)}."
    )
    return "\n".join(lines)


def replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no <!-- {name}:start --> ... <!-- {name}:end --> block")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--speed", type=Path, default=REPO / "benchmarks" / "results" / "upscale.json")
    parser.add_argument(
        "--speed-bf16", type=Path, default=REPO / "benchmarks" / "results" / "upscale_bf16.json", help="bf16 columns"
    )
    parser.add_argument("--bicubic", action="store_true", help="measure the bicubic rows again")
    parser.add_argument("--data-root", default=None, help="for --bicubic (default: $GLSR_DATA)")
    args = parser.parse_args()
    text = README.read_text()
    new = replace_block(text, "results", results_table())
    new = replace_block(new, "bicubic", bicubic_table(args.bicubic, args.data_root))
    new = replace_block(new, "heldout", heldout_table())
    new = replace_block(new, "targets", targets_table())
    new = replace_block(new, "compare", comparison_table())
    if "<!-- speed:start -->" in new:
        new = replace_block(new, "speed", speed_table(args.speed, args.speed_bf16))
    doc = TRAINING_DOC.read_text()
    new_doc = replace_block(doc, "runs", runs_table())
    if args.check:
        if new != text or new_doc != doc:
            print("README.md or docs/training.md tables are out of date: run python tools/make_tables.py")
            return 1
        return 0
    README.write_text(new)
    TRAINING_DOC.write_text(new_doc)
    print("README.md tables updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
