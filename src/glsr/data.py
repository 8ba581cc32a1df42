"""Benchmark and training image folders, and the degradations that make LR images from them.

A data root holds one folder per set (``Set5``, ``Set14``, ``BSD100``, ``Urban100``, ``T91``,
``BSD200``, or any folder of HR images). It comes from ``--data-root``, else ``$GLSR_DATA``, else
:data:`DEFAULT_DATA_ROOT`.

Degradations (RDN/SRGRN conventions), all from uint8 HR images:

* **BI**: MATLAB bicubic shrink by s;
* **BD**: 7x7 Gaussian blur (sigma 1.6, replicate borders), rounded to uint8, then MATLAB-nearest
  shrink by s (it keeps pixels 1, 4, 7, ... at s = 3);
* **DN**: BI rounded to uint8, plus Gaussian noise of sigma 30 on the 0-255 scale, rounded and clipped.
  The noise is seeded per image from ``(seed, file name)``, so it does not depend on the order.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from glsr.color import quantize, rgb_to_y
from glsr.errors import BadArgument, BadImage, DataNotFound
from glsr.metrics import gaussian_window
from glsr.resize import imresize

Degradation = Literal["BI", "BD", "DN"]
DEGRADATIONS: tuple[str, ...] = ("BI", "BD", "DN")
BENCHMARKS: tuple[str, ...] = ("Set5", "Set14", "BSD100", "Urban100")
TRAIN_291: tuple[str, ...] = ("T91", "BSD200")
IMAGE_SUFFIXES = {".png", ".bmp", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"}
DEFAULT_DATA_ROOT = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "glsr" / "data"
DN_SIGMA = 30.0
BD_SIGMA = 1.6
BD_SIZE = 7


def resolve_data_root(data_root: str | Path | None = None) -> Path:
    """``data_root`` if given, else ``$GLSR_DATA``, else :data:`DEFAULT_DATA_ROOT`."""
    if data_root is not None:
        root = Path(data_root)
    elif os.environ.get("GLSR_DATA"):
        root = Path(os.environ["GLSR_DATA"])
    else:
        root = DEFAULT_DATA_ROOT
    if not root.is_dir():
        raise DataNotFound(f"data root {root} does not exist; pass --data-root DIR or set GLSR_DATA")
    return root


def dataset_folder(name: str, data_root: str | Path | None = None) -> Path:
    """The folder of a named set under the data root (exact name, else a case-insensitive match)."""
    root = resolve_data_root(data_root)
    folder = root / name
    if not folder.is_dir():
        matches = [p for p in root.iterdir() if p.is_dir() and p.name.lower() == name.lower()]
        if not matches:
            known = ", ".join(sorted(p.name for p in root.iterdir() if p.is_dir())) or "none"
            raise DataNotFound(f"unknown dataset {name!r}: no folder {folder} (folders there: {known})")
        folder = matches[0]
    return folder


def list_images(folder: Path) -> list[Path]:
    """The image files of a folder, sorted by name; an error if there are none."""
    if not folder.is_dir():
        raise DataNotFound(f"dataset folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataNotFound(f"dataset folder {folder} holds no images")
    return files


def load_image(path: Path) -> np.ndarray:
    """A benchmark or training image as uint8: ``(H, W)`` for greyscale files, else ``(H, W, 3)``.

    Single-channel files stay single-channel: their values are used as Y (Set14's ``bridge``).
    """
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("L", "LA", "I;16", "I"):
                array = np.asarray(image.convert("L"))
            else:
                array = np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise BadImage(f"{path}: cannot read image ({error})") from None
    return array


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom and right so both sides are multiples of ``scale`` (top-left anchored)."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def luminance(image: np.ndarray) -> np.ndarray:
    """Y of a uint8 image as float64 on the 0-255 scale: ``round(rgb2ycbcr)``, or the grey values."""
    if image.ndim == 2:
        return image.astype(np.float64)
    return rgb_to_y(image).astype(np.float64)


def gaussian_blur(image: np.ndarray, size: int = BD_SIZE, sigma: float = BD_SIGMA) -> np.ndarray:
    """MATLAB ``imfilter(image, fspecial('gaussian', size, sigma), 'replicate')`` in float64."""
    window = gaussian_window(size, sigma)
    half = size // 2
    pad = ((half, half), (half, half)) + ((0, 0),) * (image.ndim - 2)
    padded = np.pad(image.astype(np.float64), pad, mode="edge")
    h, w = image.shape[:2]
    rows = sum(window[i] * padded[i : i + h] for i in range(size))
    return sum(window[j] * rows[:, j : j + w] for j in range(size))


def noise_rng(seed: int, name: str) -> np.random.Generator:
    """The generator for an image's DN noise: fixed by the seed and the file name."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def degrade(hr: np.ndarray, scale: int, degradation: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """Make the uint8 LR image of a modcropped uint8 HR image."""
    if degradation == "BI":
        return imresize(hr, 1 / scale)
    if degradation == "BD":
        blurred = quantize(gaussian_blur(hr)).astype(np.uint8)
        return imresize(blurred, 1 / scale, kernel="nearest")
    if degradation == "DN":
        if rng is None:
            raise ValueError("DN needs a random generator")
        lr = imresize(hr, 1 / scale).astype(np.float64)
        return quantize(lr + rng.normal(0.0, DN_SIGMA, lr.shape)).astype(np.uint8)
    raise BadArgument(f"unknown degradation {degradation!r}; choose from {', '.join(DEGRADATIONS)}")
