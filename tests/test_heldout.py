"""The default model on photos in no training or benchmark set beats bicubic by the issue's margins.

The real command (``glsr upscale --scale s``, default model) runs on MATLAB-bicubic-shrunk 240x240
centre crops of the held-out photos (tests/data/heldout, see SOURCES.md there); the gain is mean Y PSNR
over bicubic with ``s`` pixels shaved. ``benchmarks/heldout.py`` prints the same on the whole photos.
"""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.heldout import FOLDER, measure

from glsr.models import get_spec
from glsr.weights import has_weights

DEFAULT_MODEL = "glrl"


def test_the_cli_default_is_glrl():
    from glsr.cli import build_parser

    args = build_parser().parse_args(["upscale", "x.png", "--scale", "2"])
    assert args.model == DEFAULT_MODEL


@pytest.mark.parametrize(("scale", "margin"), [(2, 0.8), (3, 0.5), (4, 0.4)])
def test_default_model_beats_bicubic_on_held_out_photos(scale, margin):
    assert has_weights(get_spec(DEFAULT_MODEL), scale), "the default model ships no weights"
    rows = measure(DEFAULT_MODEL, scale, FOLDER, crop=240, weights=None)
    assert len(rows) == 8
    gain = np.mean([r["psnr"] for r in rows]) - np.mean([r["bicubic_psnr"] for r in rows])
    assert gain >= margin, f"x{scale}: {gain:.2f} dB over bicubic, need {margin}"
