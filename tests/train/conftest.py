"""A tiny data root for training tests: a few crops of real images, so runs take seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image


@pytest.fixture(scope="session")
def tiny_root(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny_data")
    (root / "Train").mkdir()
    (root / "Val").mkdir()
    for i, name in enumerate(["baby", "bird", "butterfly"]):
        image = Image.open(data_root / "Set5" / f"{name}.png").convert("RGB")
        image.crop((20 * i, 10, 20 * i + 72, 10 + 60)).save(root / "Train" / f"{name}.png")
    Image.open(data_root / "Set5" / "head.png").convert("RGB").crop((100, 100, 148, 136)).save(
        root / "Val" / "head.png"
    )
    return root


TINY = [
    "data.train_sets=['Train']",
    "data.val_sets=['Val']",
    "data.patch_size=16",
    "batch_size=4",
    "val_every=0",
    "log_every=2",
    "precision='fp32'",
    "compile=false",
]
