"""The default model on photos in no training or benchmark set beats bicubic by the issue's margins.

The real command (``glsr upscale --scale s``, default model) runs on MATLAB-bicubic-shrunk 240x240
centre crops of the held-out photos (tests/data/heldout, see SOURCES.md there); the gain is mean Y PSNR
over bicubic with ``s`` pixels shaved. ``benchmarks/heldout.py`` prints the same on the whole photos.
"""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.heldout import FOLDER, measure

from glsr.errors import BadArgument
from glsr.models import default_model, get_spec
from glsr.weights import has_weights


def test_the_default_is_gladsr_l_at_every_scale():
    from glsr.cli import build_parser

    args = build_parser().parse_args(["upscale", "x.png", "--scale", "2"])
    assert args.model is None  # resolved per scale by load_model
    # GLADSR-L beat GLRL on the held-out photos at each scale (README).
    assert [default_model(s) for s in (2, 3, 4)] == ["gladsr_l", "gladsr_l", "gladsr_l"]
    with pytest.raises(BadArgument, match="scale must be 2, 3 or 4"):
        default_model(5)


@pytest.mark.parametrize(("scale", "margin"), [(2, 0.8), (3, 0.5), (4, 0.4)])
def test_default_model_beats_bicubic_on_held_out_photos(scale, margin):
    model = default_model(scale)
    assert has_weights(get_spec(model), scale), f"the default model at x{scale}, {model}, ships no weights"
    rows = measure(model, scale, FOLDER, crop=240, weights=None)
    assert len(rows) == 8
    gain = np.mean([r["psnr"] for r in rows]) - np.mean([r["bicubic_psnr"] for r in rows])
    assert gain >= margin, f"x{scale}: {gain:.2f} dB over bicubic, need {margin}"
