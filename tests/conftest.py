"""Shared fixtures: the benchmark data root, and deterministic torch and precision settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path | None:
    for candidate in (os.environ.get("GLSR_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "Set5").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder holding Set5, Set14, ... ($GLSR_DATA, else ../shared/data beside the repo).

    Protocol tests need the real images. Without them the tests are skipped, unless
    GLSR_REQUIRE_DATA=1 (set by .ci/run), where a missing folder is a failure.
    """
    root = _data_root()
    if root is None:
        message = "benchmark images not found: set GLSR_DATA or put them in ../shared/data"
        if os.environ.get("GLSR_REQUIRE_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _no_fast_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--precision auto`` resolves to fp32 here, so a test gives the same figures on a CPU with fast
    bf16 (where auto means bf16) as without; tests of bf16 ask for it, and tests of auto patch this."""
    import glsr.inference

    monkeypatch.setattr(glsr.inference, "fast_bf16", lambda: False)
