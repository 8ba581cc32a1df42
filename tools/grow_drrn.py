"""Start a DRRN with more residual units from a smaller one's weights (DRRN_B1U9 -> DRRN_B1U25).

Usage:
    python tools/grow_drrn.py src/glsr/weights/drrn_b1u9.safetensors --units 25
        -o runs/drrn_b1u25_start/grown.safetensors [--off-scale 1e-4]

Both models have the same shared convolutions (the paper's 297K weights); the grown one has more
unrolled units, each with its own BatchNorm. ``glsr.models.drrn.grow_units`` puts the smaller
network's units last and the new ones first, all but switched off, so the start computes what the
source computes to within ``--off-scale`` (the largest difference on a random input is measured and
recorded). ``glsr train <recipe> --init <file>`` then trains the deeper network from there. Beside the
file, a JSON record of the same name names the source and its sha256, so that
``tools/export_weights.py`` lists the source's training as earlier stages of the grown network's.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from glsr.models import create_model
from glsr.models.drrn import grow_units
from glsr.weights import save_grown

TOLERANCE = 1e-3  # of the [0, 1] output: a quarter of a grey level; a wrong copy is far larger


def source_units(state: dict[str, torch.Tensor]) -> int:
    """U of the DRRN (B = 1) whose state this is: the number of ``blocks.0.units.<u>`` modules."""
    if any(k.startswith("blocks.1.") for k in state):
        raise ValueError("a DRRN with more than one recursive block; only B = 1 is published")
    found = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.0\.units\.(\d+)\.", k))}
    if not found:
        raise ValueError("not a DRRN state with BatchNorm (no blocks.0.units.* tensors)")
    return max(found) + 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="safetensors of the smaller DRRN (B = 1)")
    parser.add_argument("--units", type=int, default=25, help="U of the grown network (DRRN_B1U25: 25)")
    parser.add_argument("--off-scale", type=float, default=1e-4, help="the new units' BatchNorm scale")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args()

    try:
        state = load_file(str(args.source))
        old = source_units(state)
    except (SafetensorError, OSError, ValueError) as error:
        print(f"error: {args.source}: {error}", file=sys.stderr)
        return 1
    if args.units <= old:
        print(f"error: the source already has {old} units; --units must be more", file=sys.stderr)
        return 1
    # The multi-scale DRRN has no scale-specific layer, so any scale builds the same network.
    source = create_model("drrn", 2, units=old).eval()
    try:
        source.load_state_dict(state)
        grown = create_model("drrn", 2, units=args.units).eval()
        grown.load_state_dict(grow_units(state, grown, args.off_scale))
    except (RuntimeError, ValueError) as error:
        print(f"error: {args.source} does not fit DRRN B1U{old}: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1

    details = {
        "units": {"source": old, "grown": args.units},
        "off_scale": args.off_scale,
        "command": "python tools/grow_drrn.py " + " ".join(sys.argv[1:]),
    }
    sample = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    try:
        gap = save_grown(grown, source, sample, TOLERANCE, args.out, args.source, details)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.out}: B1U{old} -> B1U{args.units}, largest output difference {gap:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
