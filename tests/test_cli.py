"""The glsr command: subcommands, JSON output, one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from glsr.cli import main
from glsr.models import MODELS


def _error(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    # What a terminal shows: a progress bar overwritten with carriage returns is gone.
    lines = [line.rsplit("\r", 1)[-1] for line in err.strip().split("\n")]
    lines = [line for line in lines if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("glsr: error:"), err
    return lines[0]


def test_models_json(capsys):
    assert main(["models", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in records] == list(MODELS)
    for record in records:
        keys = {"name", "paper", "input", "protocol", "scales", "params", "weights", "default_for", "bf16_auto"}
        assert set(record) == keys
        assert record["input"] in ("luma-interpolated", "luma-lowres", "rgb-lowres")
        assert set(record["params"]) == set(record["weights"]) == {str(s) for s in record["scales"]}
    drrn = next(r for r in records if r["name"] == "drrn_b1u9")
    assert drrn["params"]["2"] == 302_467
    assert {r["name"] for r in records if r["bf16_auto"]} == {n for n, spec in MODELS.items() if spec.bf16_auto}


def test_models_table_lines_up(capsys):
    # The widest parameter counts (RDN's 22M at three scales) must not shift the later columns.
    assert main(["models"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert [row.split()[0] for row in rows] == list(MODELS)
    start = header.index("weights")
    assert header.index("description") > start
    for row in rows:
        assert row[start - 1] == " " and row[start] in "x-", row
        assert row[header.index("params")] in "0123456789", row


def test_a_closed_pipe_ends_quietly():
    # glsr models | head: the reader closes the pipe before glsr writes (it is still importing torch).
    proc = subprocess.Popen([sys.executable, "-m", "glsr", "models"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""


def test_benchmark_json_output(capsys, data_root, tmp_path):
    out = tmp_path / "r.json"
    argv = ["benchmark", "--model", "bicubic", "--datasets", "Set5", "--scales", "4"]
    assert main([*argv, "--data-root", str(data_root), "--json", str(out)]) == 0
    assert "28.42" in capsys.readouterr().out
    (record,) = json.loads(out.read_text())["results"]
    assert set(record) == {"model", "dataset", "scale", "degradation", "protocol", "psnr", "ssim", "images"}
    assert record["images"] == 5


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["benchmark", "--model", "nope"], "unknown model"),
        (["benchmark", "--model", "bicubic", "--scales", "5"], "scale 5"),
        (["benchmark", "--model", "bicubic", "--degradation", "XX"], "unknown degradation"),
        (["benchmark", "--model", "bicubic", "--protocol", "yuv"], "unknown protocol"),
        (["benchmark", "--model", "bicubic", "--datasets", "Nope"], "unknown dataset"),
        (["benchmark", "--model", "bicubic", "--scales", "x"], "expected comma-separated integers"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_benchmark_input(capsys, data_root, argv, needle):
    assert needle in _error(capsys, [*argv, "--data-root", str(data_root)] if argv[0] == "benchmark" else argv)


def test_missing_empty_and_unreadable_datasets(capsys, tmp_path):
    assert "does not exist" in _error(capsys, ["benchmark", "--model", "bicubic", "--data-root", str(tmp_path / "x")])
    (tmp_path / "Set5").mkdir()
    argv = ["benchmark", "--model", "bicubic", "--datasets", "Set5", "--data-root", str(tmp_path)]
    assert "holds no images" in _error(capsys, argv)
    (tmp_path / "Set5" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert "broken.png" in _error(capsys, argv)


def test_console_script_and_module_give_one_line_errors():
    for command in (["glsr"], [sys.executable, "-m", "glsr"]):
        done = subprocess.run([*command, "benchmark", "--model", "nope"], capture_output=True, text=True)
        assert done.returncode == 2
        assert done.stderr.strip().startswith("glsr: error: unknown model 'nope'")
        assert "Traceback" not in done.stderr
