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


def test_device_tree_slims_for_the_transfer_and_restores_only_what_is_missing(tmp_path):
    """slim deletes committed runs and weights except the kept paths; restore leaves copied-back files alone."""
    files = {
        "README.md": "x",
        "runs/a/last.ckpt": "old a",
        "runs/b/model.safetensors": "b",
        "runs/b/log.csv": "log b",
        "src/glsr/weights/one.safetensors": "w1",
        "src/glsr/weights/two.safetensors": "w2",
        "src/glsr/weights/two.json": "{}",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "c"], cwd=tmp_path, check=True)
    (tmp_path / "runs/b/log.csv").write_text("changed")  # uncommitted work is never deleted
    tool = str(SCRIPT.with_name("device_tree.sh"))

    slim = subprocess.run(
        ["bash", tool, "slim", "runs/a/", "src/glsr/weights/two.safetensors"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert slim.returncode == 0, slim.stderr
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file() and ".git" not in p.parts)
    assert left == [
        "README.md",
        "runs/a/last.ckpt",
        "runs/b/log.csv",
        "src/glsr/weights/two.json",
        "src/glsr/weights/two.safetensors",
    ]
    assert "uncommitted" in slim.stderr and "removed 2 files" in slim.stdout

    (tmp_path / "runs/a/last.ckpt").write_text("new a")  # a chunk's checkpoint copied back
    restore = subprocess.run(["bash", tool, "restore"], cwd=tmp_path, capture_output=True, text=True)
    assert restore.returncode == 0, restore.stderr
    assert "restored 2 files" in restore.stdout
    assert {name: (tmp_path / name).read_text() for name in files} == {
        **files,
        "runs/a/last.ckpt": "new a",
        "runs/b/log.csv": "changed",
    }
