"""End-to-end upscaling speed and memory: what ``glsr upscale`` costs per image.

For every model (``--models``; default ``bicubic`` plus every model with shipped weights) and scale
(``--scales``, default 2,3,4) it times :class:`glsr.inference.Upscaler` on one ``--size`` x ``--size``
uint8 RGB image (a smooth synthetic image, or the centre crop of ``--image``), the whole pipeline a user
gets: colour conversion, bicubic pre-upscale for interpolated-input models, tiling, the network and
the conversion back. It prints:

* ``median s``: the median wall time of ``--repeats`` runs after ``--warmup`` runs;
* ``out MP/s``: output megapixels per second at that median;
* ``peak RSS``: the peak resident memory of the process, in MB. Each model and scale runs in a fresh
  subprocess, so this is that model's own peak (``base`` is the peak before the model was loaded:
  Python, torch and the image);
* ``peak GPU``: the peak CUDA memory allocated, on ``--device cuda``.

A model without shipped weights at a scale is skipped, unless ``--weights FILE`` gives them (one model
only). Examples::

    python benchmarks/upscale.py --threads 2
    python benchmarks/upscale.py --models glrl --weights glrl.safetensors --scales 2 --json glrl.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULT_PREFIX = "RESULT "


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def make_image(size: int, image: str | None, seed: int = 0) -> Any:
    """A ``size x size`` uint8 RGB array: the centre crop of ``image``, or smooth random content."""
    import numpy as np

    if image is not None:
        from PIL import Image

        with Image.open(image) as img:
            array = np.asarray(img.convert("RGB"))
        h, w = array.shape[:2]
        if min(h, w) < size:
            raise SystemExit(f"{image} is {w}x{h}; --size {size} needs at least {size}x{size}")
        top, left = (h - size) // 2, (w - size) // 2
        return np.ascontiguousarray(array[top : top + size, left : left + size])
    from glsr.resize import imresize

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size // 8 + 1, size // 8 + 1, 3)).astype(np.uint8)
    return imresize(small, size=(size, size))  # smooth, photo-like gradients rather than white noise


def child(job: dict[str, Any]) -> dict[str, Any]:
    """Run one model at one scale in this (fresh) process and measure it."""
    import torch

    from glsr.inference import load_model

    if job["threads"]:
        torch.set_num_threads(job["threads"])
    image = make_image(job["size"], job["image"])
    base = _peak_rss_mb()
    start = time.perf_counter()
    upscaler = load_model(
        job["model"],
        job["scale"],
        weights=job["weights"],
        device=job["device"],
        tile=job["tile"],
        ensemble=job["ensemble"],
        precision=job["precision"],
        reuse_memory=job["reuse_memory"],
    )
    load_s = time.perf_counter() - start
    if upscaler.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(job["warmup"]):
        out = upscaler(image)
    times = []
    for _ in range(job["repeats"]):
        start = time.perf_counter()
        out = upscaler(image)  # returns a numpy array: any GPU work has finished
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    out_mp = out.shape[0] * out.shape[1] / 1e6
    return {
        "model": job["model"],
        "scale": job["scale"],
        "input": f"{image.shape[1]}x{image.shape[0]}",
        "output": f"{out.shape[1]}x{out.shape[0]}",
        "load_s": load_s,
        "median_s": median,
        "min_s": min(times),
        "out_mp_per_s": out_mp / median,
        "peak_rss_mb": _peak_rss_mb(),
        "base_rss_mb": base,
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if upscaler.device.type == "cuda" else None,
        "device": str(upscaler.device),
        "threads": torch.get_num_threads(),
    }


def run_child(job: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ)
    if job["threads"]:
        env["OMP_NUM_THREADS"] = str(job["threads"])
    result = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(job)], capture_output=True, text=True, env=env
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if result.returncode != 0 or not lines:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return {"model": job["model"], "scale": job["scale"], "error": tail}
    return json.loads(lines[-1][len(RESULT_PREFIX) :])


def has_parameters(name: str) -> bool:
    """A model with learned parameters needs weights; a parameter-free one (bicubic) does not."""
    from glsr.models import create_model, get_spec

    return any(True for _ in create_model(name, get_spec(name).scales[0]).parameters())


def choose_models(args: argparse.Namespace) -> list[str]:
    from glsr.models import MODELS, get_spec
    from glsr.weights import has_weights

    if args.models:
        names = [name.strip() for name in args.models.split(",") if name.strip()]
        for name in names:
            get_spec(name)  # an unknown name fails here, with the list of valid ones
    else:
        names = ["bicubic"] + [spec.name for spec in MODELS.values() if any(has_weights(spec, s) for s in spec.scales)]
        names = list(dict.fromkeys(names))
    if args.weights and sum(has_parameters(n) for n in names) != 1:
        raise SystemExit("--weights needs exactly one model with parameters in --models")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="comma-separated model names (default: bicubic + shipped)")
    parser.add_argument("--weights", help="a .safetensors file for the one model with parameters")
    parser.add_argument("--scales", default="2,3,4", help="comma-separated scales (default 2,3,4)")
    parser.add_argument("--size", type=int, default=512, help="input side in pixels (default 512)")
    parser.add_argument("--image", help="crop the input from this photo instead of a synthetic image")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs; the median is reported")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--tile", type=int, help="tile size in network-input pixels (default: automatic)")
    parser.add_argument("--ensemble", action="store_true", help="x8 geometric self-ensemble")
    parser.add_argument(
        "--no-reuse-memory",
        dest="reuse_memory",
        action="store_false",
        help="let malloc unmap freed activations, as before glsr.memory (slower, lower peak RSS)",
    )
    parser.add_argument("--json", help="write the results to this JSON file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(RESULT_PREFIX + json.dumps(child(json.loads(args.child))), flush=True)
        return 0

    from glsr.models import get_spec
    from glsr.weights import has_weights

    scales = [int(s) for s in args.scales.split(",") if s.strip()]
    results = []
    header = (
        f"{'model':12} {'x':>2} {'input':>9} {'output':>11} {'median s':>9} {'out MP/s':>9} "
        f"{'peak RSS':>9} {'base':>6} {'peak GPU':>9}"
    )
    print(
        f"# {args.size}x{args.size} RGB {'from ' + args.image if args.image else 'synthetic'}, "
        f"{args.precision}, median of {args.repeats} after {args.warmup} warm-up, "
        f"threads {args.threads or 'default'}{'' if args.reuse_memory else ', --no-reuse-memory'}"
    )
    print(header)
    for name in choose_models(args):
        spec = get_spec(name)
        learned = has_parameters(name)
        weights = args.weights if learned else None
        for scale in scales:
            if scale not in spec.scales:
                continue
            if weights is None and learned and not has_weights(spec, scale):
                print(f"{name:12} {scale:>2} skipped: no shipped weights (pass --weights)")
                continue
            job = {
                "model": name,
                "scale": scale,
                "weights": weights,
                "size": args.size,
                "image": args.image,
                "repeats": args.repeats,
                "warmup": args.warmup,
                "threads": args.threads,
                "precision": args.precision,
                "device": args.device,
                "tile": args.tile,
                "ensemble": args.ensemble,
                "reuse_memory": args.reuse_memory,
            }
            r = run_child(job)
            results.append(r)
            if "error" in r:
                print(f"{name:12} {scale:>2} failed: {r['error']}")
                continue
            gpu = f"{r['peak_gpu_mb']:.0f} MB" if r["peak_gpu_mb"] is not None else "-"
            print(
                f"{name:12} {scale:>2} {r['input']:>9} {r['output']:>11} {r['median_s']:>9.3f} "
                f"{r['out_mp_per_s']:>9.2f} {r['peak_rss_mb']:>6.0f} MB {r['base_rss_mb']:>6.0f} {gpu:>9}",
                flush=True,
            )
    if args.json:
        from glsr.hardware import bf16_units, cpu_name

        meta = {
            "size": args.size,
            "image": args.image,
            "precision": args.precision,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "threads": args.threads,
            "tile": args.tile,
            "ensemble": args.ensemble,
            "reuse_memory": args.reuse_memory,
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu": cpu_name(),
            "bf16_units": bf16_units(),
        }
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
