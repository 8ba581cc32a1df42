"""Convert ../shared/docs/published.md into src/glsr/published.json, the package copy of the figures.

Usage: python tools/import_published.py [PUBLISHED_MD]

Each "## <title> — degradation <D>" section with a dataset x scale table becomes one entry. The model
name and training set of each section are mapped below; a section we do not map is an error, so a new
section in published.md cannot be dropped silently.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "docs" / "published.md"
TARGET = REPO / "src" / "glsr" / "published.json"

# section title prefix -> (model, training set, source). The first entry of a model is its reference.
SECTIONS = {
    "Bicubic (MATLAB imresize)": ("bicubic", None, "DRRN / SRGRN tables"),
    "SRCNN 9-5-5": ("srcnn", "ImageNet", "DRRN Table 2"),
    "FSRCNN": ("fsrcnn", "91 + General-100", "GLADSR Table II"),
    "DRCN": ("drcn", "291", "DRRN Table 2"),
    "VDSR": ("vdsr", "291", "DRRN Table 2"),
    "DRRN_B1U9": ("drrn_b1u9", "291", "DRRN Table 2"),
    "DRRN_B1U25": ("drrn_b1u25", "291", "DRRN Table 2"),
    "GLRL": ("glrl", "291", "GLRL Table 2"),
    "GLADSR-L, trained on DIV2K": ("gladsr_l", "DIV2K", "GLADSR Table II"),
    "GLADSR trained on the 291 images": ("gladsr", "291", "GLADSR Table VI"),
    "GLADSR, trained on DIV2K": ("gladsr", "DIV2K", "GLADSR Table II"),
    "SRGRN, trained on DIV2K": ("srgrn", "DIV2K", "SRGRN Table 2"),
}
# Sections whose figures we compare against first: the 291-image GLADSR row is what we can train for.
PRIORITY = ["GLADSR trained on the 291 images"]


def parse(text: str) -> list[dict]:
    entries = []
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        title, _, body = block.partition("\n")
        match = re.match(r"(.+?) — degradation (BI|BD|DN)\s*$", title.strip())
        if not match:
            continue
        head, degradation = match.groups()
        key = next((k for k in SECTIONS if head.startswith(k)), None)
        if key is None:
            raise SystemExit(f"unmapped section in published.md: {title!r}")
        model, training, source = SECTIONS[key]
        figures: dict[str, dict[str, list[float | None]]] = {}
        for line in body.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 4 or cells[0] in ("dataset", "") or set(cells[0]) <= {"-"}:
                continue
            for scale, cell in zip((2, 3, 4), cells[1:], strict=True):
                if not cell:
                    continue
                psnr, _, ssim = cell.partition("/")
                figures.setdefault(cells[0], {})[str(scale)] = [float(psnr), float(ssim) if ssim else None]
        entries.append(
            {
                "model": model,
                "degradation": degradation,
                "training": training,
                "source": source,
                "priority": any(head.startswith(p) for p in PRIORITY),
                "figures": figures,
            }
        )
    entries.sort(key=lambda e: not e.pop("priority"))
    return entries


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE
    entries = parse(source.read_text())
    TARGET.write_text(json.dumps({"source": "published.md", "entries": entries}, indent=1) + "\n")
    print(f"wrote {len(entries)} entries to {TARGET}")


if __name__ == "__main__":
    main()
