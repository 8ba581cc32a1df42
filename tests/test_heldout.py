"""The default model on photos in no training or benchmark set beats bicubic by the issue's margins.

The real command (``glsr upscale --scale s``, default model) runs on MATLAB-bicubic-shrunk 240x240
centre crops of the held-out photos (tests/data/heldout, see SOURCES.md there); the gain is mean Y PSNR
over bicubic with ``s`` pixels shaved. ``benchmarks/heldout.py`` prints the same on the whole photos.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from benchmarks.heldout import FOLDER, measure

from glsr.errors import BadArgument
from glsr.models import default_model, get_spec
from glsr.weights import has_weights

# Issue 7's rule: "the best RGB model beats the default luma model at x4. If it does, make it the
# default." The best RGB model at a scale is the shipped one with the higher mean PSNR over the benchmark
# sets in its manifest, except that a slower model (benchmarks/results/upscale.json, the same run for
# all) must lead a faster one by more than LEAD_DB: GLADSR grown from GLADSR-L computes the same thing
# at the start, so a short cycle leaves it a few thousandths of a dB ahead at twice the time, and the
# default is what CPU users run. It is the default where its held-out mean, as benchmarks/heldout.py
# stored it for the shipped weights (fp32), beats the luma flagship's, and glrl is the default
# otherwise. Held-out photos do not rank the RGB models: eight photos are too few, and one of them
# (brick) swings by more than a dB between cycles that gain on every benchmark set (README).
LUMA = "glrl"
RGB = ("gladsr_l", "gladsr")
# Two GLADSR-L x4 cycles from the same start (refine9 and patch48b: other seeds, patch sizes and lengths)
# ended 0.01 to 0.03 dB apart on each set (docs/training.md); 0.05 dB is more than that spread.
LEAD_DB = 0.05
REPO = Path(__file__).resolve().parents[1]
SPEED = REPO / "benchmarks" / "results" / "upscale.json"


def test_the_default_is_gladsr_l_at_every_scale():
    from glsr.cli import build_parser

    args = build_parser().parse_args(["upscale", "x.png", "--scale", "2"])
    assert args.model is None  # resolved per scale by load_model
    assert [default_model(s) for s in (2, 3, 4)] == ["gladsr_l", "gladsr_l", "gladsr_l"]
    with pytest.raises(BadArgument, match="scale must be 2, 3 or 4"):
        default_model(5)


def _tool(name: str):
    """A script of tools/ as a module (they are not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _seconds(scale: int) -> dict[str, float]:
    """Median seconds per 512x512 input of each model at this scale, from the stored speed run."""
    rows, _ = _tool("make_tables")._speed_rows(SPEED)
    return {row["model"]: row["median_s"] for row in rows if row["scale"] == scale}


def best_rgb_model(means: dict[str, float], seconds: dict[str, float]) -> str:
    """The fastest model whose mean benchmark PSNR is within LEAD_DB of the highest mean."""
    top = max(means.values())
    return min((m for m in means if means[m] >= top - LEAD_DB), key=lambda m: (seconds[m], -means[m]))


def _best_rgb_model(scale: int) -> str:
    """The best shipped RGB model by its mean benchmark PSNR (Set5, Set14, BSD100, Urban100) and speed."""
    compare = _tool("compare_models")
    shipped = [m for m in RGB if has_weights(get_spec(m), scale)]
    psnr = {m: compare.benchmark_psnr(m, scale) for m in shipped}
    assert len({frozenset(p) for p in psnr.values()}) == 1, f"x{scale}: the manifests measured different sets"
    seconds = _seconds(scale)
    assert set(shipped) <= set(seconds), f"x{scale}: {SPEED.name} has no time for {set(shipped) - set(seconds)}"
    return best_rgb_model({m: float(np.mean(list(psnr[m].values()))) for m in shipped}, seconds)


def test_a_slower_rgb_model_must_lead_by_more_than_lead_db():
    seconds = {"fast": 1.0, "slow": 2.0}
    assert best_rgb_model({"fast": 30.0, "slow": 30.0 + LEAD_DB / 2}, seconds) == "fast"
    assert best_rgb_model({"fast": 30.0, "slow": 30.0 + LEAD_DB * 2}, seconds) == "slow"
    assert best_rgb_model({"fast": 30.1, "slow": 30.0}, seconds) == "fast"
    assert best_rgb_model({"fast": 30.0}, seconds) == "fast"


def _stored_heldout_means(scale: int) -> dict[str, float]:
    """Mean held-out PSNR per candidate, from stored files measured on the weights that ship now."""
    table = _tool("compare_models").heldout_psnr(
        sorted((REPO / "benchmarks" / "results").glob("heldout*.json")), shipped_only=True
    )
    return {m: float(np.mean(list(table[m, scale].values()))) for m in (LUMA, *RGB) if (m, scale) in table}


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_default_follows_issue_7s_rule(scale):
    means = _stored_heldout_means(scale)
    shipped = [m for m in (LUMA, *RGB) if has_weights(get_spec(m), scale)]
    assert sorted(means) == sorted(shipped), f"x{scale}: rerun benchmarks/heldout.py for {set(shipped) - set(means)}"
    best = _best_rgb_model(scale)
    expected = best if means[best] > means[LUMA] else LUMA
    assert default_model(scale) == expected, f"x{scale}: best RGB model {best}, held-out means {means}"


@pytest.mark.parametrize(("scale", "margin"), [(2, 0.8), (3, 0.5), (4, 0.4)])
def test_default_model_beats_bicubic_on_held_out_photos(scale, margin):
    model = default_model(scale)
    assert has_weights(get_spec(model), scale), f"the default model at x{scale}, {model}, ships no weights"
    rows = measure(model, scale, FOLDER, crop=240, weights=None)
    assert len(rows) == 8
    gain = np.mean([r["psnr"] for r in rows]) - np.mean([r["bicubic_psnr"] for r in rows])
    assert gain >= margin, f"x{scale}: {gain:.2f} dB over bicubic, need {margin}"
