"""bf16 against fp32: what bfloat16 autocast costs a shipped model on the benchmark sets.

Usage: python benchmarks/precision.py [--models gladsr_l,glrl] [--datasets Set5,Set14,BSD100]
    [--scales 2,3,4] [--data-root DIR] [--fp32-from-manifest] [--json FILE [--update]]

Runs ``glsr benchmark``'s measurement (``glsr.evaluate.evaluate``, each model's own protocol, BI) once
in fp32 and once under bf16 autocast on the CPU, and prints both with the differences. ``glsr upscale
--precision auto`` runs bf16 only for models whose descriptor sets ``bf16_auto``, which a test holds to
these stored results (the weights' sha256 included): within 0.01 dB and 0.0001 SSIM. ``--update``
measures only the given models and scales and replaces their rows in the stored file, keeping the
others; each row records the CPU and the date it was measured on.

``--fp32-from-manifest`` takes the fp32 figures from the weights' manifest instead of measuring them
again: ``tools/export_weights.py`` measured them with the same call on the same file (the manifest's
sha256 must match it), which for a DRRN-size network saves most of the run. Such rows name the
machine their fp32 figures came from (``fp32_measured_on``).
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

from glsr.evaluate import Result, evaluate
from glsr.hardware import describe
from glsr.models import MODELS, get_spec
from glsr.weights import has_weights, read_manifest, sha256, weights_path


def manifest_fp32(model: str, datasets: list[str], scales: list[int]) -> tuple[list[Result], list[str]]:
    """The fp32 BI figures the shipped manifest holds for ``datasets`` x ``scales``, in ``evaluate``'s
    order, and the machine each was measured on.

    Raises SystemExit with one line when the manifest does not describe the shipped file or lacks a row.
    """
    spec = get_spec(model)
    manifests = {}
    for path in {weights_path(spec, scale) for scale in scales}:  # a multi-scale model has one file
        manifests[path] = manifest = read_manifest(path)
        if manifest.get("sha256") != sha256(path):
            raise SystemExit(f"error: {path.with_suffix('.json').name} describes another file than {path.name}")
    fields = ("dataset", "scale", "degradation", "protocol", "psnr", "ssim", "images")
    results, machines = [], []
    for dataset in datasets:
        for scale in scales:
            path = weights_path(spec, scale)
            manifest = manifests[path]
            wanted = (dataset, scale, "BI")
            row = next((r for r in manifest["results"] if (r["dataset"], r["scale"], r["degradation"]) == wanted), None)
            if row is None:
                raise SystemExit(f"error: {path.with_suffix('.json').name} has no {dataset} x{scale} BI row")
            results.append(Result(model=model, **{k: row[k] for k in fields}))
            machines.append(row.get("measured_on", manifest.get("measured", {}).get("on", "unknown")))
    return results, machines


def compare(
    model: str, datasets: list[str], scales: list[int], data_root: str | None, fp32_from_manifest: bool = False
) -> list[dict]:
    """One row per dataset and scale: PSNR/SSIM in fp32 and in bf16."""

    def run(precision: str) -> list[Result]:
        return evaluate(model, datasets=datasets, scales=scales, data_root=data_root, device="cpu", precision=precision)

    fp32, machines = manifest_fp32(model, datasets, scales) if fp32_from_manifest else (run("fp32"), None)
    spec = get_spec(model)
    hashes = {path: sha256(path) for path in {weights_path(spec, scale) for scale in scales}}  # one per file
    rows = [
        {
            "model": model,
            "dataset": a.dataset,
            "scale": a.scale,
            "psnr_fp32": round(a.psnr, 4),
            "psnr_bf16": round(b.psnr, 4),
            "ssim_fp32": round(a.ssim, 5),
            "ssim_bf16": round(b.ssim, 5),
            "weights_sha256": hashes[weights_path(spec, a.scale)],
        }
        for a, b in zip(fp32, run("bf16"), strict=True)
    ]
    if machines:
        rows = [{**row, "fp32_measured_on": m} for row, m in zip(rows, machines, strict=True)]
    return rows


def merge(stored: dict, new: list[dict]) -> list[dict]:
    """The stored file's rows of the models and scales not in ``new``, then ``new``.

    A model measured again at one scale (per-scale weights, one of them re-shipped) keeps its other
    scales' rows. Files written before ``--update`` existed hold the CPU and date once, at the top;
    the kept rows take them along.
    """
    measured = {(r["model"], r["scale"]) for r in new}
    stamp = {k: stored[k] for k in ("measured_on", "date") if k in stored}
    kept = [{**stamp, **r} for r in stored["results"] if (r["model"], r["scale"]) not in measured]
    return kept + new


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="comma-separated (default: every shipped model)")
    parser.add_argument("--datasets", default="Set5,Set14,BSD100")
    parser.add_argument("--scales", default="2,3,4")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--fp32-from-manifest", action="store_true", help="take the fp32 figures from the weights' manifest"
    )
    parser.add_argument(
        "--update", action="store_true", help="replace only these models' rows at these scales in the --json file"
    )
    args = parser.parse_args()
    if args.update and not (args.json and args.json.is_file()):
        parser.error("--update needs an existing --json file")
    datasets = args.datasets.split(",")
    scales = [int(s) for s in args.scales.split(",")]
    if args.models:
        models = args.models.split(",")
    else:
        models = [n for n, spec in MODELS.items() if all(has_weights(spec, s) for s in scales)]
    rows = []
    stamp = {"measured_on": describe("cpu"), "date": datetime.date.today().isoformat()}
    print(f"# fp32 and bf16 autocast on {stamp['measured_on']}")
    print(f"{'model':10} {'dataset':9} x  PSNR fp32    bf16   diff  SSIM fp32    bf16     diff")
    for model in models:
        for r in compare(model, datasets, scales, args.data_root, args.fp32_from_manifest):
            rows.append({**r, **stamp})
            print(
                f"{model:10} {r['dataset']:9} {r['scale']}  {r['psnr_fp32']:9.2f} {r['psnr_bf16']:7.2f} "
                f"{r['psnr_bf16'] - r['psnr_fp32']:+6.3f}  {r['ssim_fp32']:9.4f} {r['ssim_bf16']:7.4f} "
                f"{r['ssim_bf16'] - r['ssim_fp32']:+8.5f}",
                flush=True,
            )
    worst_psnr = min(r["psnr_bf16"] - r["psnr_fp32"] for r in rows)
    worst_ssim = min(r["ssim_bf16"] - r["ssim_fp32"] for r in rows)
    print(f"largest loss in bf16: PSNR {worst_psnr:+.3f} dB, SSIM {worst_ssim:+.5f}")
    if args.json:
        if args.update:
            rows = merge(json.loads(args.json.read_text()), rows)
        args.json.write_text(json.dumps({"results": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
