"""tools/device_chunk.sh: a GPU training chunk, run here on the CPU, starts, resumes and hands back its files."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.train.conftest import TINY

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "device_chunk.sh"


def _chunk(cwd: Path, out: Path, data: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # python3 = this venv's
        "OUT": str(out),
        "RUN": "srcnn_x3",
        "GLSR_DEVICE": "cpu",
        "GLSR_DEVICE_DATA": str(data),
        "OMP_NUM_THREADS": "1",
    }
    command = ["bash", str(SCRIPT), "srcnn", "1", "--scale", "3", *args, *[a for item in TINY for a in ("--set", item)]]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_chunk_resumes_the_carried_run_and_hands_back_its_files(tiny_root, tmp_path):
    first = _chunk(tmp_path, tmp_path / "out1", tiny_root, "--max-iterations", "2", "--set", "iterations=4")
    assert first.returncode == 0, first.stderr[-2000:]
    back = tmp_path / "out1" / "srcnn_x3"
    assert sorted(p.name for p in back.iterdir()) == ["last.ckpt", "log.csv", "model.json", "model.safetensors"]
    assert json.loads((back / "model.json").read_text())["complete"] is False  # stopped at 2 of 4

    second = _chunk(tmp_path, tmp_path / "out2", tiny_root, "--set", "iterations=4")
    assert second.returncode == 0, second.stderr[-2000:]
    back = tmp_path / "out2" / "srcnn_x3"
    assert json.loads((back / "model.json").read_text())["complete"] is True
    with open(back / "log.csv") as f:
        iterations = [int(row["iteration"]) for row in csv.DictReader(f)]
    assert iterations == [2, 4]  # the second chunk went on from iteration 2


def test_a_missing_data_folder_is_one_line_and_exit_2(tmp_path):
    done = _chunk(tmp_path, tmp_path / "out", tmp_path / "nowhere")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "nowhere" in done.stderr
