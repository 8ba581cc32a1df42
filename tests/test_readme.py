"""README.md: two Quick start commands, the second being CI's, and generated tables that are up to date."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _quick_start() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the Quick start has no bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_is_two_commands_and_ci_runs_the_second():
    first, second = _quick_start()
    assert first.startswith("pip install torch==2.13.0 && pip install -e . && glsr upscale ")
    assert "--model" not in first  # the default model, with its shipped weights
    assert second == 'pip install -e ".[test]" && python -m pytest -q'
    ci = (REPO / ".ci" / "run").read_text()
    assert "pip install -q torch==2.13.0" in ci
    assert ci.index("torch==2.13.0") < ci.index('eval "$command"')


def test_quick_start_input_ships_with_the_repo():
    image = _quick_start()[0].split("glsr upscale ", 1)[1].split()[0]
    assert (REPO / image).is_file()


def test_generated_tables_are_up_to_date():
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "make_tables.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
