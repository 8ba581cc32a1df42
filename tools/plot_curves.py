"""Plot validation curves from training logs as an SVG (no plotting library needed).

Usage: python tools/plot_curves.py LOG.csv [LOG.csv ...] -o docs/curves/name.svg [--title TEXT] [--chain]

Draws each ``val_psnr_x<s>`` column of each ``log.csv`` written by ``glsr train`` against the iteration,
one line per scale and run. ``--chain`` draws the logs as successive stages of one training (a run
started from the previous one's weights with ``init``): each log's iterations continue from the last
iteration of the one before, one line per scale, with a dashed line where each stage starts.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
WIDTH, HEIGHT, PAD = 720, 420, 60


def read_curves(path: Path) -> dict[str, list[tuple[float, float]]]:
    curves: dict[str, list[tuple[float, float]]] = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key and key.startswith("val_psnr_x") and value:
                    curves.setdefault(key.removeprefix("val_psnr_"), []).append((float(row["iteration"]), float(value)))
    return curves


def last_iteration(path: Path) -> float:
    """The last logged iteration of a ``log.csv`` (where the next stage of a chain starts)."""
    with path.open() as f:
        return max((float(row["iteration"]) for row in csv.DictReader(f)), default=0.0)


def svg(series: list[tuple[str, list[tuple[float, float]]]], title: str, stages: list[tuple[float, str]] = ()) -> str:
    xs = [x for _, pts in series for x, _ in pts]
    ys = [y for _, pts in series for _, y in pts]
    x0, x1 = 0.0, max(xs)
    y0, y1 = min(ys) - 0.2, max(ys) + 0.2

    def px(x: float) -> float:
        return PAD + (x - x0) / (x1 - x0 or 1) * (WIDTH - 2 * PAD)

    def py(y: float) -> float:
        return HEIGHT - PAD - (y - y0) / (y1 - y0 or 1) * (HEIGHT - 2 * PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" '
        'font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="black"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="black"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 15}" text-anchor="middle">iteration</text>',
        f'<text x="15" y="{HEIGHT / 2}" transform="rotate(-90 15 {HEIGHT / 2})" text-anchor="middle">'
        "Set5 PSNR (dB)</text>",
    ]
    for i in range(6):
        y = y0 + (y1 - y0) * i / 5
        parts.append(f'<text x="{PAD - 6}" y="{py(y) + 4}" text-anchor="end">{y:.2f}</text>')
        parts.append(f'<line x1="{PAD}" y1="{py(y)}" x2="{WIDTH - PAD}" y2="{py(y)}" stroke="#ddd"/>')
        x = x0 + (x1 - x0) * i / 5
        parts.append(f'<text x="{px(x)}" y="{HEIGHT - PAD + 16}" text-anchor="middle">{x:,.0f}</text>')
    for x, label in stages:
        dashed = 'stroke="#888" stroke-dasharray="4 3"'
        parts.append(f'<line x1="{px(x):.1f}" y1="{PAD}" x2="{px(x):.1f}" y2="{HEIGHT - PAD}" {dashed}/>')
        parts.append(f'<text x="{px(x) + 4:.1f}" y="{PAD + 12}" fill="#555">{label}</text>')
    for k, (label, pts) in enumerate(series):
        colour = COLOURS[k % len(COLOURS)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        # Labels end where their line ends, just above it, so that long run names stay inside the image.
        end_x, end_y = px(pts[-1][0]), py(pts[-1][1])
        parts.append(f'<text x="{end_x:.1f}" y="{end_y - 6:.1f}" text-anchor="end" fill="{colour}">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def run_name(log: Path) -> str:
    """What a log is called in the plot: its run folder for a ``log.csv``, else the file's own stem
    (the logs of runs whose folders are not kept, stored as ``docs/curves/<name>.csv``)."""
    return log.parent.name if log.name == "log.csv" else log.stem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--title", default="Set5 validation PSNR")
    parser.add_argument("--chain", action="store_true", help="the logs are successive stages of one training")
    args = parser.parse_args()
    series: list[tuple[str, list[tuple[float, float]]]] = []
    stages: list[tuple[float, str]] = []
    if args.chain:
        joined: dict[str, list[tuple[float, float]]] = {}
        offset = 0.0
        for log in args.logs:
            if offset:
                stages.append((offset, run_name(log)))
            for scale, pts in read_curves(log).items():
                joined.setdefault(scale, []).extend((x + offset, y) for x, y in pts)
            offset += last_iteration(log)
        series = sorted(joined.items())
    else:
        for log in args.logs:
            for scale, pts in sorted(read_curves(log).items()):
                label = scale if len(args.logs) == 1 else f"{run_name(log)} {scale}"
                series.append((label, pts))
    if not series:
        raise SystemExit("no val_psnr_x<s> columns with values in the logs")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(svg(series, args.title, stages))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
