"""Training throughput: iterations/s and patches/s per recipe, and how much of the time goes to data.

Usage:
    python benchmarks/train_speed.py [--recipes srcnn,glrl,glrl_fast,drrn_b1u9,gladsr] [--device cpu]
        [--iterations 20] [--warmup 5] [--precision recipe|fp32|bf16] [--compile] [--threads N]
        [--train-sets T91] [--data-root DIR] [--set KEY=VALUE ...] [--no-reuse-memory] [--json FILE]

Each recipe runs its own batch size, patch size, model and optimiser for ``--warmup`` + ``--iterations``
steps with the trainer's own pieces (PatchSampler, TrainingForward, make_optimizer, pixel_loss). Time is
split into patch generation (``sample``, on the training device) and the optimisation step; the step's
share is the fraction of time the device does training work (the GPU busy share, on a GPU). The
projected wall time is the recipe's iterations at the measured rate.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from glsr.inference import resolve_device
from glsr.memory import reuse_freed_memory
from glsr.models import create_model, get_spec
from glsr.train.config import load_config
from glsr.train.data import PatchSampler, load_training_images
from glsr.train.loop import TrainingForward, make_optimizer, training_loss


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(recipe: str, args: argparse.Namespace, images: list, device: torch.device) -> dict:
    overrides = [] if args.precision == "recipe" else [f"precision={args.precision}"]
    if args.compile is not None:
        overrides.append(f"compile={str(args.compile).lower()}")
    cfg = load_config(recipe, [*overrides, *args.set])
    spec = get_spec(cfg.model)
    sampler = PatchSampler(images, spec, cfg.data.scales, cfg.data.patch_size, True, device, 0)
    model = create_model(cfg.model, cfg.data.scales[0], **cfg.model_kwargs).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    forward = TrainingForward(model, cfg.aux_weight > 0)
    step_forward = torch.compile(forward) if cfg.compile else forward
    optimizer = make_optimizer(cfg, model)
    data_times, step_times = [], []
    for i in range(args.warmup + args.iterations):
        sync(device)
        t0 = time.perf_counter()
        x, y, _ = sampler.sample(cfg.batch_size)
        x, y = x.to(device), y.to(device)
        sync(device)
        t1 = time.perf_counter()
        loss = training_loss(cfg, step_forward, x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sync(device)
        t2 = time.perf_counter()
        if i >= args.warmup:
            data_times.append(t1 - t0)
            step_times.append(t2 - t1)
    per_iteration = statistics.median([d + s for d, s in zip(data_times, step_times, strict=True)])
    step_share = sum(step_times) / (sum(step_times) + sum(data_times))
    return {
        "recipe": recipe,
        "model": cfg.model,
        "batch_size": cfg.batch_size,
        "patch_size": cfg.data.patch_size,
        "precision": cfg.precision,
        "compile": cfg.compile,
        "iterations_per_s": 1 / per_iteration,
        "patches_per_s": cfg.batch_size / per_iteration,
        "data_ms": 1000 * statistics.median(data_times),
        "step_share": step_share,
        "projected_hours": cfg.iterations * per_iteration / 3600,
        "recipe_iterations": cfg.iterations,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="srcnn,glrl,glrl_fast,drrn_b1u9,gladsr")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--precision", default="recipe", choices=("recipe", "fp32", "bf16"))
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--train-sets", default="T91,BSD200")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe value")
    parser.add_argument(
        "--no-reuse-memory",
        dest="reuse_memory",
        action="store_false",
        help="let malloc unmap freed activations (glsr train reuses them on the CPU: glsr.memory)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    images = [image for _, image in load_training_images(args.train_sets.split(","), args.data_root)]
    what = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"device: {what}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    header = f"{'recipe':16} {'batch':>5} {'patch':>5} {'prec':>5} {'comp':>5} {'it/s':>8} {'patch/s':>9}"
    print(header + f" {'data ms':>8} {'step share':>10} {'recipe h':>9}")
    rows = []
    for recipe in args.recipes.split(","):
        with reuse_freed_memory(args.reuse_memory and device.type == "cpu"):  # as glsr train does
            r = measure(recipe, args, images, device)
        rows.append(r)
        print(
            f"{recipe:16} {r['batch_size']:5} {r['patch_size']:5} {r['precision']:>5} {r['compile']!s:>5} "
            f"{r['iterations_per_s']:8.3f} {r['patches_per_s']:9.1f} {r['data_ms']:8.2f} "
            f"{r['step_share']:10.1%} {r['projected_hours']:9.1f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        threads = torch.get_num_threads()
        args.json.write_text(
            json.dumps(
                {"device": what, "threads": threads, "reuse_memory": args.reuse_memory, "results": rows}, indent=1
            )
        )


if __name__ == "__main__":
    main()
