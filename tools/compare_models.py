"""Compare two shipped models: benchmark PSNR from their manifests, and held-out PSNR per photo.

Usage:
    python tools/compare_models.py gladsr_l glrl [--scales 2,3,4]
        [--heldout benchmarks/results/heldout.json benchmarks/results/heldout_gladsr_l_x2.json ...]

Nothing is measured here: the benchmark figures are those ``tools/export_weights.py`` measured into
each manifest, and the held-out figures those ``benchmarks/heldout.py --json`` stored. It prints the
differences (first model minus second) that README and docs/training.md quote.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from glsr.models import get_spec
from glsr.weights import sha256, weights_path


def benchmark_psnr(model: str, scale: int) -> dict[str, float]:
    """PSNR per dataset from the shipped manifest of ``model`` at ``scale``."""
    manifest = json.loads(weights_path(get_spec(model), scale).with_suffix(".json").read_text())
    return {r["dataset"]: r["psnr"] for r in manifest["results"] if r["scale"] == scale}


def heldout_rows(files: list[Path], precision: str = "fp32", shipped_only: bool = False) -> list[dict]:
    """The per-photo rows of ``benchmarks/heldout.py`` JSON files, each with its file's ``model``.

    Only files measured in ``precision`` count (files from before the field existed are fp32), so a
    glob over the results folder does not mix fp32 and bf16 figures. With ``shipped_only``, only the
    scales whose stored sha256 is that of the weights shipped now.
    """
    rows = []
    for file in files:
        stored = json.loads(file.read_text())
        if stored.get("precision", "fp32") != precision:
            continue
        for r in stored["results"]:
            if shipped_only and not _measured_on_shipped(stored, r["scale"]):
                continue
            rows.append({**r, "model": stored["model"], "measured_on": stored.get("measured_on")})
    return rows


def heldout_psnr(
    files: list[Path], precision: str = "fp32", shipped_only: bool = False
) -> dict[tuple[str, int], dict[str, float]]:
    """PSNR per photo, keyed by (model, scale), from the rows of :func:`heldout_rows`."""
    table: dict[tuple[str, int], dict[str, float]] = {}
    for r in heldout_rows(files, precision, shipped_only):
        table.setdefault((r["model"], r["scale"]), {})[r["photo"]] = r["psnr"]
    return table


def photo_differences(first: dict[str, float], second: dict[str, float]) -> list[tuple[str, float]]:
    """``first - second`` on each photo both have, largest first."""
    photos = set(first) & set(second)
    return sorted(((p, first[p] - second[p]) for p in photos), key=lambda pd: -pd[1])


def _measured_on_shipped(stored: dict, scale: int) -> bool:
    weights = stored.get("weights", {}).get(f"x{scale}")
    return weights is not None and weights["sha256"] == sha256(weights_path(get_spec(stored["model"]), scale))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--scales", default="2,3,4")
    parser.add_argument("--heldout", type=Path, nargs="*", default=[])
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="of the held-out files to use")
    args = parser.parse_args()
    heldout = heldout_psnr(args.heldout, args.precision)
    for scale in (int(s) for s in args.scales.split(",")):
        a, b = benchmark_psnr(args.first, scale), benchmark_psnr(args.second, scale)
        deltas = ", ".join(f"{d} {a[d] - b[d]:+.2f}" for d in a if d in b)
        print(f"x{scale} {args.first} - {args.second}: {deltas}")
        pa, pb = heldout.get((args.first, scale)), heldout.get((args.second, scale))
        if pa and pb:
            differences = photo_differences(pa, pb)
            mean_a = sum(pa[p] for p, _ in differences) / len(differences)
            mean_b = sum(pb[p] for p, _ in differences) / len(differences)
            per_photo = ", ".join(f"{p} {d:+.2f}" for p, d in differences)
            print(f"x{scale} held-out mean {mean_a:.2f} against {mean_b:.2f}: {per_photo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
