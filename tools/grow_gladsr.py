"""Start a GLADSR with more GLAMs per NDG from a smaller one's weights (GLADSR-L G2B4 -> GLADSR G4B4).

Usage:
    python tools/grow_gladsr.py src/glsr/weights/gladsr_l_x4.safetensors --scale 4 --glams 4
        -o runs/gladsr_x4_start/grown.safetensors [--seed 0]

The new file computes exactly what the source computes (``glsr.models.gladsr.grow_glams``: the new
GLAMs' bottleneck weights are zero); this is checked on a random input before anything is written.
``glsr train gladsr_grow --scale 4 --init <file>`` then trains the larger network from there. Beside
the file, a JSON record of the same name (``grown.json``) names the source and its sha256, so that
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
from glsr.models.gladsr import grow_glams
from glsr.weights import save_grown

TOLERANCE = 1e-5  # fp32 round-off of the same sums in another order; a wrong copy is far larger


def source_glams(state: dict[str, torch.Tensor]) -> int:
    """G of the GLADSR whose state this is: the number of ``basic.glams.<g>`` modules."""
    found = {int(m.group(1)) for k in state if (m := re.match(r"basic\.glams\.(\d+)\.", k))}
    if not found:
        raise ValueError("not a GLADSR state (no basic.glams.* tensors)")
    return max(found) + 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="safetensors of the smaller GLADSR")
    parser.add_argument("--scale", type=int, required=True, choices=(2, 3, 4))
    parser.add_argument("--glams", type=int, default=4, help="G of the grown network (GLADSR: 4)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the new GLAMs' initialisation")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args()

    try:
        state = load_file(str(args.source))
        old = source_glams(state)
    except (SafetensorError, OSError, ValueError) as error:
        print(f"error: {args.source}: {error}", file=sys.stderr)
        return 1
    if args.glams <= old:
        print(f"error: the source already has {old} GLAMs per NDG; --glams must be more", file=sys.stderr)
        return 1
    source = create_model("gladsr", args.scale, glams=old).eval()
    try:
        source.load_state_dict(state)
        torch.manual_seed(args.seed)
        grown = create_model("gladsr", args.scale, glams=args.glams).eval()
        grown.load_state_dict(grow_glams(state, grown))
    except (RuntimeError, ValueError) as error:
        print(f"error: {args.source} does not fit GLADSR x{args.scale}: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1

    details = {
        "glams": {"source": old, "grown": args.glams},
        "scale": args.scale,
        "seed": args.seed,
        "command": "python tools/grow_gladsr.py " + " ".join(sys.argv[1:]),
    }
    sample = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    try:
        gap = save_grown(grown, source, sample, TOLERANCE, args.out, args.source, details)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.out}: G{old} -> G{args.glams} at x{args.scale}, largest output difference {gap:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
