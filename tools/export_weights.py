"""Ship a training run's weights: copy them into src/glsr/weights/ and write a measured manifest.

Usage:
    python tools/export_weights.py RUN_DIR [--scales 2,3,4] [--datasets Set5,Set14,BSD100,Urban100]
        [--data-root DIR] [--device cpu] [--notes TEXT] [--resume | --resume-from MANIFEST]

RUN_DIR holds ``model.safetensors`` and ``model.json`` from ``glsr train``. The file is copied to
``src/glsr/weights/<model>[_x<scale>].safetensors``; then every figure in the manifest is measured here,
on the copied file, by the same code ``glsr benchmark`` runs, and the manifest records the command that
reproduces each figure. No figure is typed by hand.

The manifest is rewritten after every dataset and scale, so a stopped export loses at most the figure
it was measuring; ``--resume`` keeps the rows of a manifest written for the same file (same sha256) and
measures the rest. A deep network's fp32 Urban100 rows take hours on a small CPU, and may be finished
by another session or machine; each row names the machine it was measured on. A partial manifest must
not land in ``src/glsr/weights/`` (the tests require complete ones), so a session keeps a copy beside
the run, and ``--resume-from COPY`` continues from it in a fresh clone. A resumed export keeps the
earlier notes unless ``--notes`` gives new ones.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import time
from pathlib import Path

from glsr.data import BENCHMARKS
from glsr.evaluate import evaluate, published_figure
from glsr.files import write_text
from glsr.hardware import describe
from glsr.models import get_spec
from glsr.weights import WEIGHTS_DIR, load_weights_file, sha256, weights_path

REPO = Path(__file__).resolve().parents[1]
RUNS = REPO / "runs"  # where committed runs keep their weights


def earlier_stages(info: dict) -> list[dict]:
    """The runs this one started from (``init``), oldest first, read from their ``model.json``.

    A run started from another run's ``model.safetensors`` inherits its training; the manifest lists
    each earlier stage so that the cost and schedule of the shipped weights are complete. A start
    from shipped weights (``src/glsr/weights/x.safetensors``, another scale's, say) takes the stages
    from their manifest when its sha256 matches. A start from any other file ends the chain.
    """
    stages: list[dict] = []
    record = info.get("initialised_from")
    while record:
        start = Path(record["file"])
        run_info = _beside(start, "model.json")
        if not run_info.is_file():
            beside = _beside(start, start.stem + ".json")
            source = _grown_from(beside, record)
            if source:
                record = source
                continue
            shipped = _shipped_stages(beside, record)
            found = None if shipped else _committed_run(record["sha256"])
            if found is None:
                stages[:0] = shipped
                break
            run_info = found
        earlier = json.loads(run_info.read_text())
        stages.insert(
            0,
            {
                "recipe": earlier["recipe"]["name"],
                "run": _relative(run_info.parent),
                "iterations": earlier["iterations"],
                "hardware": earlier["hardware"],
                **_machines(earlier),
                "wall_seconds": earlier["wall_seconds"],
                "git_commit": earlier["git_commit"],
                "weights_sha256": record["sha256"],
            },
        )
        record = earlier.get("initialised_from")
    return stages


def _relative(folder: Path) -> str:
    """A run folder as the repository names it (``runs/x``), however it was found."""
    return str(folder.relative_to(REPO)) if folder.is_absolute() and folder.is_relative_to(REPO) else str(folder)


def _committed_run(digest: str) -> Path | None:
    """The ``model.json`` of the run under ``runs/`` whose ``model.safetensors`` has this sha256.

    A start that travelled under another name (a GPU chunk's ``.device_data/x.safetensors``) is found
    by its content, where that run's weights are kept.
    """
    for weights in sorted(RUNS.glob("*/model.safetensors")):
        if sha256(weights) == digest and weights.with_name("model.json").is_file():
            return weights.with_name("model.json")
    return None


def _machines(info: dict) -> dict:
    """The wall seconds per machine of a run resumed across machines, where its ``model.json`` has them."""
    return {"hardware_seconds": info["hardware_seconds"]} if "hardware_seconds" in info else {}


def _beside(file: Path, name: str) -> Path:
    """``name`` in ``file``'s folder; the path is as glsr train saw it, usually relative to the repository."""
    path = file.with_name(name)
    if not path.is_file() and not path.is_absolute():
        path = REPO / path
    return path


def _grown_from(record_path: Path, record: dict) -> dict | None:
    """The weights a grown start was made from (``tools/grow_gladsr.py``), if its record describes that file.

    A grown start computes what its source computes, so the source's training is the grown
    network's first stages.
    """
    if not record_path.is_file():
        return None
    grown = json.loads(record_path.read_text())
    if grown.get("sha256") != record["sha256"]:
        return None
    return grown.get("grown_from")


def _shipped_stages(manifest_path: Path, record: dict) -> list[dict]:
    """The stages behind shipped weights, from their manifest, if it describes exactly that file."""
    if not manifest_path.is_file():
        return []
    manifest = json.loads(manifest_path.read_text())
    training = manifest.get("training")
    if manifest.get("sha256") != record["sha256"] or not training:
        return []
    own = {
        "recipe": training["recipe"],
        "run": f"shipped {manifest['file']}",
        "iterations": training["iterations"],
        "hardware": training["hardware"],
        "wall_seconds": training["wall_seconds"],
        "git_commit": training["git_commit"],
        "weights_sha256": record["sha256"],
    }
    return [*training.get("earlier_stages", []), own]


def kept_rows(manifest_path: Path, digest: str) -> tuple[list[dict], float, str]:
    """The rows, measuring seconds and notes of an earlier export of the same file, for ``--resume``."""
    if not manifest_path.is_file():
        return [], 0.0, ""
    earlier = json.loads(manifest_path.read_text())
    if earlier.get("sha256") != digest:
        raise SystemExit(f"--resume: {manifest_path} describes another file; export without --resume")
    return earlier.get("results", []), earlier.get("measured", {}).get("seconds", 0.0), earlier.get("notes", "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--scales", default=None, help="default: the run's scales")
    parser.add_argument("--datasets", default=",".join(BENCHMARKS))
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--notes", default="", help="what these weights are, in a sentence")
    parser.add_argument("--resume", action="store_true", help="keep the rows an earlier export of this file measured")
    parser.add_argument(
        "--resume-from",
        type=Path,
        default=None,
        help="like --resume, with the earlier rows (and notes) from this copy of a stopped export's manifest",
    )
    args = parser.parse_args()

    info = json.loads((args.run / "model.json").read_text())
    spec = get_spec(info["model"])
    scales = [int(s) for s in args.scales.split(",")] if args.scales else info["scales"]
    if not spec.multiscale and len(scales) != 1:
        parser.error(f"{spec.name} ships one file per scale: pass --scales S")
    target = weights_path(spec, scales[0])
    source = args.run / "model.safetensors"
    # Refuse a file that does not load strictly into the shipped architecture.
    from glsr.models import create_model

    load_weights_file(create_model(spec.name, scales[0]), source)
    manifest_path = target.with_suffix(".json")
    digest = sha256(source)
    earlier_path = args.resume_from or (manifest_path if args.resume else None)
    kept, seconds_before, notes_before = kept_rows(earlier_path, digest) if earlier_path else ([], 0.0, "")
    notes = args.notes or notes_before  # a resumed export keeps its notes unless given new ones
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    if sha256(target) != digest:
        raise SystemExit(f"{target} does not match {source} after copying")
    manifest = {
        "model": spec.name,
        "file": target.name,
        "sha256": digest,
        "scales": scales,
        "input": spec.input,
        "protocol": spec.protocol,
        "model_kwargs": info.get("model_kwargs") or {},
        "notes": notes,
        "training": {
            "recipe": info["recipe"]["name"],
            "recipe_values": info["recipe"],
            "training_set": info["training_set"],
            "training_images": info["training_images"],
            "iterations": info["iterations"],
            "complete": info["complete"],
            "hardware": info["hardware"],
            **_machines(info),
            "wall_seconds": info["wall_seconds"],
            "git_commit": info["git_commit"],
            "initialised_from": info.get("initialised_from"),
            "earlier_stages": earlier_stages(info),
        },
        "results": [],
    }
    measured_on = describe(args.device)
    started = time.monotonic()
    wanted = [(d, s) for d in args.datasets.split(",") for s in scales]
    done = {(r["dataset"], r["scale"]): r for r in kept}
    manifest["results"] = [done[key] for key in wanted if key in done]

    def save(complete: bool) -> None:
        # Written after every row (and first with only the checksum, so the shipped-weights loader
        # accepts the file while it is measured).
        manifest["results"].sort(key=lambda r: wanted.index((r["dataset"], r["scale"])))
        machines = list(dict.fromkeys(r.get("measured_on", measured_on) for r in manifest["results"]))
        manifest["measured"] = {
            "on": "; ".join(machines) or measured_on,
            "device": args.device,
            "date": datetime.date.today().isoformat(),
            "seconds": round(seconds_before + time.monotonic() - started, 1),
            "complete": complete,
        }
        write_text(manifest_path, json.dumps(manifest, indent=1) + "\n")  # a kill leaves a whole file

    save(complete=False)
    for dataset, scale in wanted:
        if (dataset, scale) in done:
            print(f"{dataset} x{scale}: kept from the earlier export", file=sys.stderr)
            continue
        (result,) = evaluate(
            spec.name,
            datasets=[dataset],
            scales=[scale],
            data_root=args.data_root,
            device=args.device,
            progress=True,
        )
        paper = published_figure(spec.name, dataset, scale)
        manifest["results"].append(
            {
                "dataset": dataset,
                "scale": scale,
                "degradation": "BI",
                "protocol": result.protocol,
                "psnr": round(result.psnr, 4),
                "ssim": round(result.ssim, 5),
                "images": result.images,
                "paper_psnr": paper[0] if paper else None,
                "paper_ssim": paper[1] if paper else None,
                "command": f"glsr benchmark --model {spec.name} --datasets {dataset} --scales {scale}",
                "measured_on": measured_on,
            }
        )
        save(complete=False)
        print(f"{dataset} x{scale}: {result.psnr:.2f} dB / {result.ssim:.4f}", file=sys.stderr)
    if sha256(target) != digest:
        raise SystemExit(f"{target} changed while it was measured")
    save(complete=True)
    print(f"wrote {target} and {manifest_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
