"""The benchmark protocols: PSNR/SSIM on Y, as the papers measured them.

Two protocols, each model declaring its own (``--protocol`` overrides):

* **luma** (SRCNN, VDSR, DRRN, GLRL and every bicubic row). Y = round(rgb2ycbcr(HR)), or the grey
  values of a single-channel file; modcrop; under BI, LR = imresize(Y, 1/s) kept in float and the
  network gets it (bicubic-upscaled for interpolated-input models); the output x 255 is rounded to
  uint8. Under BD and DN the LR is a uint8 RGB image: a luma model takes Y of it, an RGB model (bicubic
  included) upscales the RGB image, which is rounded before its Y is taken.
* **rgb** (GLADSR, SRGRN, RDN). HR uint8 RGB, modcropped; LR = round(degradation(HR)); SR = the model's
  RGB output rounded to uint8; Y of both = round(rgb2ycbcr). A luma model goes through its full RGB
  pipeline (Y by the network, Cb/Cr by bicubic).

Both then shave ``s`` pixels from each border and average PSNR and SSIM (:mod:`glsr.metrics`) over the
images.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from glsr.color import quantize, rgb_to_y
from glsr.data import (
    BENCHMARKS,
    DEGRADATIONS,
    dataset_folder,
    degrade,
    list_images,
    load_image,
    luminance,
    modcrop,
    noise_rng,
)
from glsr.errors import BadArgument
from glsr.files import write_text
from glsr.inference import Upscaler, load_model
from glsr.metrics import psnr, ssim
from glsr.models import get_spec
from glsr.resize import imresize

Protocol = Literal["luma", "rgb"]
PROTOCOLS = ("luma", "rgb")


@dataclass
class Result:
    """The mean PSNR/SSIM of one model on one dataset, scale and degradation."""

    model: str
    dataset: str
    scale: int
    degradation: str
    protocol: str
    psnr: float
    ssim: float
    images: int
    per_image: list[tuple[str, float, float]] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The record ``glsr benchmark --json`` writes."""
        record = asdict(self)
        record.pop("per_image")
        return record


@cache
def published() -> list[dict[str, Any]]:
    """The papers' figures (../shared/docs/published.md, carried as package data)."""
    text = resources.files("glsr").joinpath("published.json").read_text()
    return json.loads(text)["entries"]


def published_figure(
    model: str, dataset: str, scale: int, degradation: str = "BI", training: str | None = None
) -> tuple[float, float | None, str] | None:
    """The published (PSNR, SSIM, source) for a model, or ``None`` if the papers give none.

    ``training`` picks the row of a model published for several training sets (GLADSR's 291 and
    DIV2K rows); without it, the first row in published.json.
    """
    for entry in published():
        if entry["model"] == model and entry["degradation"] == degradation and training in (None, entry["training"]):
            figure = entry["figures"].get(dataset, {}).get(str(scale))
            if figure is not None:
                source = entry["source"] + (f", trained on {entry['training']}" if entry["training"] else "")
                return figure[0], figure[1], source
    return None


def super_resolve_y(
    upscaler: Upscaler, hr: np.ndarray, degradation: str, protocol: str, rng: np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray]:
    """The (SR, HR) Y channels of one modcropped uint8 HR image, as float64 holding uint8 values."""
    s = upscaler.scale
    hr_y = luminance(hr)
    spec = upscaler.spec
    if protocol == "luma" and degradation == "BI":
        lr_y = imresize(hr_y / 255.0, 1 / s)
        return quantize(upscaler.luma(lr_y) * 255.0), hr_y
    lr = degrade(hr, s, degradation, rng)
    if protocol == "luma" and spec.channels == 1:
        # Y of the LR image in float: Y of its bicubic upscale is the same, as both maps are linear.
        lr_y = rgb_to_y(lr / 255.0) if lr.ndim == 3 else lr / 255.0
        return quantize(upscaler.luma(lr_y) * 255.0), hr_y
    sr = upscaler(lr)
    return luminance(sr), hr_y


def measure_images(
    upscaler: Upscaler,
    images: Iterable[tuple[str, np.ndarray]],
    degradation: str = "BI",
    protocol: str | None = None,
    seed: int = 0,
) -> list[tuple[str, float, float]]:
    """(name, PSNR, SSIM) for each ``(name, uint8 HR image)``, shaving ``scale`` pixels."""
    protocol = protocol or upscaler.spec.protocol
    s = upscaler.scale
    rows = []
    for name, image in images:
        hr = modcrop(image, s)
        rng = noise_rng(seed, name) if degradation == "DN" else None
        sr_y, hr_y = super_resolve_y(upscaler, hr, degradation, protocol, rng)
        rows.append((name, psnr(sr_y, hr_y, s), ssim(sr_y, hr_y, s)))
    return rows


def check_options(scales: Sequence[int], degradation: str, protocol: str | None) -> None:
    """Reject scales outside 2-4 and unknown degradations or protocols with a one-line error."""
    if not scales:
        raise BadArgument("no scale given; choose from 2, 3, 4")
    for scale in scales:
        if scale not in (2, 3, 4):
            raise BadArgument(f"scale {scale} is not supported; choose 2, 3 or 4")
    if degradation not in DEGRADATIONS:
        raise BadArgument(f"unknown degradation {degradation!r}; choose from {', '.join(DEGRADATIONS)}")
    if protocol is not None and protocol not in PROTOCOLS:
        raise BadArgument(f"unknown protocol {protocol!r}; choose luma or rgb")


def evaluate(
    model: str,
    *,
    weights: str | Path | None = None,
    datasets: Sequence[str] = BENCHMARKS,
    scales: Sequence[int] = (2, 3, 4),
    degradation: str = "BI",
    protocol: str | None = None,
    ensemble: bool = False,
    data_root: str | Path | None = None,
    device: str = "auto",
    precision: str = "fp32",
    seed: int = 0,
    progress: bool = True,
) -> list[Result]:
    """Benchmark a model: one :class:`Result` per dataset and scale.

    Without ``weights``, a network model uses its shipped weights and fails with a clear error if it
    has none; it never measures random weights.
    """
    spec = get_spec(model)
    check_options(scales, degradation, protocol)
    if not datasets:
        raise BadArgument("no dataset given, e.g. --datasets Set5,Set14")
    for scale in scales:
        if scale not in spec.scales:
            raise BadArgument(f"{model} supports scales {', '.join(map(str, spec.scales))}, not {scale}")
    protocol = protocol or spec.protocol
    folders = {name: list_images(dataset_folder(name, data_root)) for name in datasets}
    upscalers = {
        s: load_model(model, s, weights=weights, device=device, ensemble=ensemble, precision=precision)  # type: ignore[arg-type]
        for s in scales
    }
    results = []
    for name, files in folders.items():
        for scale in scales:
            desc = f"{model} {name} x{scale}"
            with tqdm(files, desc=desc, unit="img", disable=not progress, leave=False) as bar:
                images = ((path.name, load_image(path)) for path in bar)
                rows = measure_images(upscalers[scale], images, degradation, protocol, seed)
            results.append(
                Result(
                    model=model,
                    dataset=name,
                    scale=scale,
                    degradation=degradation,
                    protocol=protocol,
                    psnr=float(np.mean([r[1] for r in rows])),
                    ssim=float(np.mean([r[2] for r in rows])),
                    images=len(rows),
                    per_image=rows,
                )
            )
    return results


def format_table(results: Sequence[Result], markdown: bool = False) -> str:
    """Our figures beside the published ones, with the differences."""
    header = ["dataset", "scale", "PSNR", "SSIM", "paper PSNR", "paper SSIM", "dPSNR", "dSSIM", "images"]
    rows = []
    for r in results:
        # A paper's figure is only comparable under the protocol the paper used.
        paper = published_figure(r.model, r.dataset, r.scale, r.degradation)
        if r.protocol != get_spec(r.model).protocol:
            paper = None
        p_psnr, p_ssim = (paper[0], paper[1]) if paper else (None, None)
        rows.append(
            [
                r.dataset,
                f"x{r.scale}",
                f"{r.psnr:.2f}",
                f"{r.ssim:.4f}",
                f"{p_psnr:.2f}" if p_psnr is not None else "-",
                f"{p_ssim:.4f}" if p_ssim is not None else "-",
                f"{r.psnr - p_psnr:+.2f}" if p_psnr is not None else "-",
                f"{r.ssim - p_ssim:+.4f}" if p_ssim is not None else "-",
                str(r.images),
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def write_report(results: Sequence[Result], folder: Path, command: str) -> None:
    """A Markdown report and a per-image CSV in ``folder``."""
    if folder.exists() and not folder.is_dir():
        raise BadArgument(f"--report {folder} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    first = results[0]
    sources = sorted(
        {paper[2] for r in results if (paper := published_figure(r.model, r.dataset, r.scale, r.degradation))}
    )
    text = [
        f"# {first.model}: {first.degradation}, {first.protocol} protocol",
        "",
        f"Measured by `{command}`. PSNR/SSIM on Y, `scale` pixels shaved.",
        "",
        format_table(results, markdown=True),
        "",
        "Published figures: " + ("; ".join(sources) if sources else "none"),
        "",
    ]
    write_text(folder / "report.md", "\n".join(text))
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["model", "dataset", "scale", "degradation", "protocol", "image", "psnr", "ssim"])
    for r in results:
        for name, p, s in r.per_image:
            writer.writerow([r.model, r.dataset, r.scale, r.degradation, r.protocol, name, f"{p:.4f}", f"{s:.5f}"])
    write_text(folder / "per_image.csv", table.getvalue())
