"""Held-out photos: how much ``glsr upscale`` gains over bicubic on images in no training or test set.

Usage: python benchmarks/heldout.py [--model glrl] [--weights FILE] [--scales 2,3,4] [--crop N]
    [--folder tests/data/heldout] [--precision auto] [--json FILE]

Each photo is modcropped (and centre-cropped to N pixels if --crop is given), shrunk with MATLAB bicubic
to a uint8 LR file, upscaled by the real command (``glsr upscale --scale s --model M``) and by MATLAB
bicubic, and both are measured on Y (``round(rgb2ycbcr)``, the grey values of greyscale photos) with
``s`` pixels shaved. Prints per-photo and mean PSNR and the gain over bicubic.
"""

from __future__ import annotations

import argparse
import datetime
import json
import tempfile
from pathlib import Path
from typing import get_args

import numpy as np
import torch
from PIL import Image

from glsr.cli import main as glsr_main
from glsr.data import list_images, load_image, luminance, modcrop
from glsr.hardware import describe
from glsr.inference import Precision, resolve_precision
from glsr.metrics import psnr
from glsr.models import get_spec
from glsr.resize import imresize
from glsr.weights import sha256, weights_path

FOLDER = Path(__file__).resolve().parents[1] / "tests" / "data" / "heldout"


def centre_crop(image: np.ndarray, size: int | None) -> np.ndarray:
    if not size:
        return image
    h, w = image.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[top : top + size, left : left + size]


def measure(
    model: str, scale: int, folder: Path, crop: int | None, weights: str | None, precision: str = "auto"
) -> list[dict]:
    """Per photo: PSNR of ``glsr upscale`` and of bicubic against the HR photo."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        names = []
        for path in list_images(folder):
            hr = modcrop(centre_crop(load_image(path), crop), scale)
            Image.fromarray(imresize(hr, 1 / scale)).save(work / f"{path.stem}.png")
            names.append((path.stem, hr))
        argv = ["upscale", *(str(work / f"{n}.png") for n, _ in names), "--scale", str(scale)]
        argv += ["--model", model, "--out-dir", str(work / "out"), "--device", "cpu", "--precision", precision]
        if weights:
            argv += ["--weights", weights]
        if glsr_main(argv) != 0:
            raise SystemExit("glsr upscale failed")
        for stem, hr in names:
            lr = load_image(work / f"{stem}.png")
            sr = load_image(work / "out" / f"{stem}_x{scale}.png")
            bicubic = imresize(lr, scale)
            rows.append(
                {
                    "photo": stem,
                    "scale": scale,
                    "psnr": psnr(luminance(sr), luminance(hr), scale),
                    "bicubic_psnr": psnr(luminance(bicubic), luminance(hr), scale),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="glrl")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--scales", default="2,3,4")
    parser.add_argument("--crop", type=int, default=None)
    parser.add_argument("--folder", type=Path, default=FOLDER)
    parser.add_argument("--precision", default="auto", choices=get_args(Precision), help="as glsr upscale's")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results = []
    mean_gain: dict[str, float] = {}
    arithmetic = resolve_precision(args.precision, torch.device("cpu"), get_spec(args.model))
    print(f"{args.model} on {args.folder} (Y PSNR, shave = scale, {arithmetic})")
    scales = [int(s) for s in args.scales.split(",")]
    for scale in scales:
        rows = measure(args.model, scale, args.folder, args.crop, args.weights, args.precision)
        results += rows
        for r in rows:
            gain = r["psnr"] - r["bicubic_psnr"]
            print(f"  x{scale} {r['photo']:10} {r['psnr']:6.2f} dB  bicubic {r['bicubic_psnr']:6.2f}  {gain:+.2f}")
        ours = float(np.mean([r["psnr"] for r in rows]))
        base = float(np.mean([r["bicubic_psnr"] for r in rows]))
        gain = ours - base
        mean_gain[f"x{scale}"] = round(gain, 4)
        print(f"x{scale} mean over {len(rows)} photos: {ours:.2f} dB, bicubic {base:.2f} dB, gain {gain:+.2f} dB")
    if args.json:
        spec = get_spec(args.model)
        weights = {}  # per scale: one multi-scale file, or one file per scale
        for scale in scales:
            used = Path(args.weights) if args.weights else weights_path(spec, scale)
            weights[f"x{scale}"] = {"file": used.name, "sha256": sha256(used) if used.is_file() else None}
        meta = {
            "model": args.model,
            "weights": weights,
            "photos": "tests/data/heldout" if args.folder == FOLDER else str(args.folder),
            "crop": args.crop,
            "measured_on": describe("cpu"),
            "precision": arithmetic,
            "date": datetime.date.today().isoformat(),
            "mean_gain_db": mean_gain,
        }
        args.json.write_text(json.dumps({**meta, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
