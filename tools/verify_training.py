"""Check the trainer's promises at full size, as the training issue states them.

Usage: python tools/verify_training.py [--data-root DIR] [--work DIR] [--iterations 300]

Runs ``glsr train srcnn --scale 3 --max-iterations N --seed 0 --device cpu`` three ways: straight through,
and stopped at N/2 then continued with ``--resume``. Prints the first and last logged training loss,
whether the files exist, and whether the two final weight files are bit-identical. Exit code 1 if a
check fails.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path


def run(args: list[str]) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "glsr", "train", *args], check=True, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--work", default="runs/verify_training")
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    n = args.iterations
    common = ["srcnn", "--scale", "3", "--seed", "0", "--device", "cpu"]
    if args.data_root:
        common += ["--data-root", args.data_root]
    straight = run([*common, "--max-iterations", str(n), "--out", str(work / "A")])
    first = run([*common, "--max-iterations", str(n // 2), "--out", str(work / "B")])
    second = run([*common, "--max-iterations", str(n), "--out", str(work / "B"), "--resume"])
    with (work / "A" / "log.csv").open() as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f)]
    digest = {k: hashlib.sha256((work / k / "model.safetensors").read_bytes()).hexdigest() for k in "AB"}
    files = all((work / "A" / name).is_file() for name in ("model.safetensors", "model.json", "log.csv"))
    cut = 1 - losses[-1] / losses[0]
    print(
        f"srcnn x3, {n} iterations on this machine: {straight:.0f} s straight, "
        f"{first:.0f} + {second:.0f} s stopped and resumed"
    )
    print(f"training loss: first logged {losses[0]:.4g}, last logged {losses[-1]:.4g} (cut by {cut:.0%})")
    print(f"A/model.safetensors, A/model.json, A/log.csv written: {files}")
    print(
        f"sha256 straight {digest['A'][:16]}, stopped at {n // 2} and resumed {digest['B'][:16]}: "
        f"{'bit-identical' if digest['A'] == digest['B'] else 'DIFFERENT'}"
    )
    return 0 if files and cut >= 0.2 and digest["A"] == digest["B"] else 1


if __name__ == "__main__":
    sys.exit(main())
