"""glsr.train.loop: schedules, clipping, checkpoints, bit-exact resume, signals, torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from glsr.train.config import load_config
from glsr.train.loop import (
    clip_threshold,
    is_main_process,
    learning_rate,
    load_checkpoint,
    pixel_loss,
    train,
    training_loss,
)
from tests.train.conftest import TINY


def _cfg(recipe: str = "glrl", extra: tuple[str, ...] = ()):
    return load_config(recipe, [*TINY, "model_kwargs={channels=8}", "iterations=12", *extra])


def test_step_schedule_halves_every_ten_epochs():
    cfg = load_config("drrn_b1u9")
    assert learning_rate(cfg, 0) == 0.1
    assert learning_rate(cfg, 65_359) == 0.1
    assert learning_rate(cfg, 65_360) == 0.05
    assert learning_rate(cfg, 3 * 65_360) == 0.0125


def test_cosine_schedule_with_warmup():
    cfg = load_config("glrl_fast", ["iterations=1000", "optim.warmup=100", "optim.lr=1e-3"])
    assert learning_rate(cfg, 0) == pytest.approx(1e-5)
    assert learning_rate(cfg, 99) == pytest.approx(1e-3)
    assert learning_rate(cfg, 100) == pytest.approx(1e-3)
    assert learning_rate(cfg, 550) == pytest.approx(cfg.optim.min_lr + 0.5 * (1e-3 - cfg.optim.min_lr))


def test_adjustable_clipping_bounds_the_global_norm_by_theta_over_lr():
    cfg = load_config("drrn_b1u9")
    assert clip_threshold(cfg, 0.1) == pytest.approx(0.1)
    assert clip_threshold(cfg, 0.0125) == pytest.approx(0.8)
    layer = torch.nn.Linear(10, 10)
    layer(torch.randn(4, 10)).pow(2).sum().mul(100).backward()
    before = torch.nn.utils.clip_grad_norm_(layer.parameters(), clip_threshold(cfg, 0.1))
    after = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in layer.parameters()]))
    assert before > 0.1 and after == pytest.approx(0.1, rel=1e-5)


def test_euclidean_loss_is_caffe_sum_over_2n():
    a, b = torch.zeros(4, 1, 3, 3), torch.ones(4, 1, 3, 3)
    assert pixel_loss("euclidean", a, b).item() == pytest.approx(9 / 2)
    assert pixel_loss("mse", a, b).item() == 1.0 and pixel_loss("l1", a, 2 * b).item() == 2.0


class _Fixed(torch.nn.Module):
    """Returns a set output and intermediate predictions, whatever the input."""

    def __init__(self, final: torch.Tensor, intermediate: list[torch.Tensor]) -> None:
        super().__init__()
        self.final, self.intermediate = final, intermediate

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.final, self.intermediate


def test_loss_crop_scores_only_the_patch_centre():
    y = torch.rand(2, 1, 12, 12)
    wrong_border = y.clone()
    wrong_border[..., :3, :] += 0.5
    wrong_border[..., :, -3:] -= 0.5
    x = torch.zeros_like(y)
    cropped = load_config("srcnn", ["loss_crop=3", "data.patch_size=12"])
    assert training_loss(cropped, _Fixed(wrong_border, []), x, y).item() == 0.0
    assert training_loss(load_config("srcnn"), _Fixed(wrong_border, []), x, y).item() > 0.05
    # an error in the centre counts, in the intermediate predictions too (mean of the two: 1/36 / 2)
    wrong_centre = y.clone()
    wrong_centre[..., 5, 5] += 1.0
    drcn = load_config("drcn", ["loss_crop=3", "data.patch_size=12", "loss=mse"])
    got = training_loss(drcn, _Fixed(y, [wrong_centre, y]), x, y).item()
    assert got == pytest.approx(drcn.aux_weight / 72, rel=1e-5)


def test_a_short_run_writes_its_outputs_and_learns(tiny_root, tmp_path):
    """SRCNN (no global residual) starts far from the answer: 40 iterations cut its loss by over 20%."""
    out = tmp_path / "run"
    cfg = load_config("srcnn", [*TINY, "iterations=40"])
    weights = train(cfg, out, device="cpu", data_root=str(tiny_root), progress=False)
    assert weights == out / "model.safetensors" and weights.is_file()
    info = json.loads((out / "model.json").read_text())
    assert info["model"] == "srcnn" and info["iterations"] == 40 and info["complete"]
    assert info["recipe"]["optim"]["lr"] == 1e-4 and info["training_set"] == "Train"
    assert set(info["set5_psnr"]) == {"x3"}
    rows = (out / "log.csv").read_text().splitlines()
    assert rows[0] == "iteration,epoch,loss,lr,grad_norm,val_psnr,seconds,val_psnr_x3"
    losses = [float(r.split(",")[2]) for r in rows[1:]]
    assert losses[-1] < 0.8 * losses[0]
    checkpoint = load_checkpoint(out / "last.ckpt")  # weights_only=True
    assert checkpoint["iteration"] == 40
    assert not list(out.glob("*.tmp"))


def test_validation_covers_every_training_scale(tiny_root, tmp_path):
    out = tmp_path / "run"
    train(_cfg(extra=("iterations=2",)), out, device="cpu", data_root=str(tiny_root), progress=False)
    assert set(json.loads((out / "model.json").read_text())["set5_psnr"]) == {"x2", "x3", "x4"}


def test_stopping_and_resuming_is_bit_exact(tiny_root, tmp_path):
    cfg = _cfg()
    straight = train(cfg, tmp_path / "a", device="cpu", data_root=str(tiny_root), progress=False)
    train(cfg, tmp_path / "b", device="cpu", data_root=str(tiny_root), progress=False, max_iterations=5)
    assert load_checkpoint(tmp_path / "b" / "last.ckpt")["iteration"] == 5
    resumed = train(cfg, tmp_path / "b", resume=True, device="cpu", data_root=str(tiny_root), progress=False)
    a, b = load_file(straight), load_file(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in log[1:]] == [2, 4, 5, 6, 8, 10, 12]


def test_a_run_resumed_on_another_machine_keeps_each_machines_wall_time(tiny_root, tmp_path, monkeypatch):
    from glsr.train import loop

    out = tmp_path / "run"
    monkeypatch.setattr(loop, "hardware", lambda device, world: "1 x NVIDIA H200 (cuda)")
    train(_cfg(), out, device="cpu", data_root=str(tiny_root), progress=False, max_iterations=5)
    first = loop.machines_of(load_checkpoint(out / "last.ckpt"))
    assert list(first) == ["1 x NVIDIA H200 (cuda)"]
    monkeypatch.setattr(loop, "hardware", lambda device, world: "1 x Some CPU, 2 threads")
    train(_cfg(), out, resume=True, device="cpu", data_root=str(tiny_root), progress=False)
    info = json.loads((out / "model.json").read_text())
    assert info["hardware"] == "1 x NVIDIA H200 (cuda) / 1 x Some CPU, 2 threads"
    seconds = info["hardware_seconds"]
    assert seconds["1 x NVIDIA H200 (cuda)"] == pytest.approx(first["1 x NVIDIA H200 (cuda)"], abs=0.1)
    assert sum(seconds.values()) == pytest.approx(info["wall_seconds"], abs=0.2)


def test_a_checkpoint_without_machines_counts_its_time_as_unrecorded():
    from glsr.train.loop import UNRECORDED, machines_of

    assert machines_of({"seconds": 12.5}) == {UNRECORDED: 12.5}
    assert machines_of({"seconds": 0.0}) == {}


def test_resume_refuses_a_different_recipe_and_a_fresh_run_refuses_an_old_folder(tiny_root, tmp_path):
    from glsr.errors import BadArgument

    train(_cfg(), tmp_path / "a", device="cpu", data_root=str(tiny_root), progress=False, max_iterations=2)
    with pytest.raises(BadArgument, match="already holds a run"):
        train(_cfg(), tmp_path / "a", device="cpu", data_root=str(tiny_root), progress=False)
    with pytest.raises(BadArgument, match="different recipe"):
        train(_cfg(extra=("batch_size=2",)), tmp_path / "a", resume=True, device="cpu", data_root=str(tiny_root))


def test_a_checkpoint_from_before_a_data_key_existed_still_resumes(tiny_root, tmp_path):
    from glsr.errors import BadArgument

    out = tmp_path / "run"
    train(_cfg(), out, device="cpu", data_root=str(tiny_root), progress=False, max_iterations=2)
    checkpoint = load_checkpoint(out / "last.ckpt")
    recipe = json.loads(checkpoint["config"])
    del recipe["data"]["downscale"]  # as a checkpoint written before data.downscale was a key
    checkpoint["config"] = json.dumps(recipe, sort_keys=True)
    torch.save(checkpoint, out / "last.ckpt")
    train(_cfg(), out, resume=True, device="cpu", data_root=str(tiny_root), progress=False)
    assert (out / "model.safetensors").is_file()
    # The key at another value is another recipe.
    with pytest.raises(BadArgument, match="different recipe"):
        train(_cfg(extra=("data.downscale=[0.9]",)), out, resume=True, device="cpu", data_root=str(tiny_root))


def test_downscale_adds_training_images(tiny_root, tmp_path, monkeypatch):
    from glsr.train import data as train_data

    seen = []
    original = train_data.PatchSampler.__init__

    def record(self, images, *args, **kwargs):
        seen.append([image.shape for image in images])
        original(self, images, *args, **kwargs)

    monkeypatch.setattr(train_data.PatchSampler, "__init__", record)
    cfg = _cfg(extra=("data.downscale=[0.75]",))
    train(cfg, tmp_path / "run", device="cpu", data_root=str(tiny_root), progress=False, max_iterations=2)
    (shapes,) = seen
    assert shapes == [(60, 72, 3)] * 3 + [(45, 54, 3)] * 3  # the three 72x60 crops, then at 0.75


def test_sigterm_saves_a_checkpoint_and_stops_cleanly(tiny_root, tmp_path, monkeypatch):
    from glsr.train import data as train_data

    original = train_data.PatchSampler.sample
    calls = {"n": 0}

    def sample_then_signal(self, batch_size):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, batch_size)

    monkeypatch.setattr(train_data.PatchSampler, "sample", sample_then_signal)
    out = tmp_path / "run"
    before = signal.getsignal(signal.SIGTERM)
    train(_cfg(), out, device="cpu", data_root=str(tiny_root), progress=False)
    assert load_checkpoint(out / "last.ckpt")["iteration"] == 3
    assert json.loads((out / "model.json").read_text())["complete"] is False
    assert signal.getsignal(signal.SIGTERM) is before  # the trainer's handler is gone again


@pytest.mark.parametrize("recipe", ["gladsr_l", "drcn"])
def test_intermediate_supervision_recipes_run(tiny_root, tmp_path, recipe):
    from glsr.models import get_spec

    cfg = load_config(recipe, [*TINY, "iterations=2", "data.patch_size=8"])
    spec = get_spec(cfg.model)
    cfg = load_config(recipe, [*TINY, "iterations=2", "data.patch_size=8", f"model_kwargs={_inline(spec.test_kwargs)}"])
    assert cfg.aux_weight > 0
    train(cfg, tmp_path / recipe, device="cpu", data_root=str(tiny_root), progress=False)
    assert (tmp_path / recipe / "model.safetensors").is_file()


def _rank_outputs(logs: Path) -> str:
    """The end of each torchrun rank's own stderr, which the launcher's summary leaves out."""
    return "".join(f"--- {f.relative_to(logs)}\n{f.read_text()[-3000:]}\n" for f in sorted(logs.rglob("stderr.log")))


def _inline(kwargs: dict) -> str:
    """A TOML inline table for --set model_kwargs=..."""
    return "{" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in kwargs.items()) + "}"


# `python -m glsr` with one addition: after the command, each rank lists its threads (Linux).
_RANK_MAIN = """
import os, sys
from glsr.cli import main
code = main(sys.argv[1:])
names = sorted(open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task"))
print("threads at exit:", " ".join(names), file=sys.stderr)
sys.exit(code)
"""


def test_only_rank_zero_is_the_main_process(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    assert is_main_process()  # a plain run, outside torchrun
    monkeypatch.setenv("RANK", "0")
    assert is_main_process()
    monkeypatch.setenv("RANK", "1")
    assert not is_main_process()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="lists threads through /proc")
def test_torchrun_two_processes(tiny_root, tmp_path):
    out = tmp_path / "ddp"
    logs = tmp_path / "logs"
    rank_main = tmp_path / "rank_main.py"
    rank_main.write_text(_RANK_MAIN)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "--log-dir", str(logs), "--redirects", "3", str(rank_main),
        "train", "srcnn", "--scale", "3", "--max-iterations", "4", "--device", "cpu", "--out", str(out),
        "--data-root", str(tiny_root), *[a for item in TINY for a in ("--set", item)],
    ]  # fmt: skip
    # The fault handler prints every thread's Python stack if a rank dies of a signal.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, _rank_outputs(logs) + done.stderr[-1500:]
    # gloo's threads must be gone once training returns: a process group left alive (torch._dynamo
    # imported after init_process_group held it) ran them into interpreter shutdown, and a rank
    # then aborted at exit about once in 70 runs.
    lines = [line for f in logs.rglob("stderr.log") for line in f.read_text().splitlines()]
    at_exit = [line for line in lines if line.startswith("threads at exit")]
    assert len(at_exit) == 2 and not any("gloo" in line for line in at_exit), at_exit
    stdout = "".join(f.read_text() for f in logs.rglob("stdout.log"))
    assert stdout.count("wrote ") == 1, stdout  # rank 0 alone reports the file it wrote
    assert (out / "model.safetensors").is_file()
    checkpoint = load_checkpoint(out / "last.ckpt")
    assert len(checkpoint["sampler"]) == 2  # each rank's own data-order state
    assert "2 x" in json.loads((out / "model.json").read_text())["hardware"]


def test_model_json_measures_the_saved_weights_not_an_earlier_validation(tiny_root, tmp_path):
    from glsr.data import list_images, load_image
    from glsr.evaluate import measure_images
    from glsr.inference import Upscaler
    from glsr.models import create_model, get_spec
    from glsr.weights import load_weights_file

    out = tmp_path / "run"
    train(_cfg(extra=("val_every=2", "optim.lr=1e-2")), out, device="cpu", data_root=str(tiny_root), max_iterations=3)
    reported = json.loads((out / "model.json").read_text())["set5_psnr"]["x2"]
    model = create_model("glrl", 2, channels=8)
    load_weights_file(model, out / "model.safetensors")
    images = [(p.name, load_image(p)) for p in list_images(tiny_root / "Val")]
    upscaler = Upscaler(model.eval(), get_spec("glrl"), 2, torch.device("cpu"), tile=0)
    ((_, measured, _),) = measure_images(upscaler, images)
    assert reported == pytest.approx(measured, abs=1e-4)


def test_init_copies_matching_tensors_and_keeps_another_scales_upsampler(tmp_path):
    """x3 started from x2 weights (``init``): the trunk comes from the file, the upsampler does not."""
    from safetensors.torch import save_file

    from glsr.models import create_model, get_spec
    from glsr.train.loop import _initialise

    kwargs = get_spec("gladsr_l").test_kwargs
    x2 = create_model("gladsr_l", 2, **kwargs)
    save_file({k: v.contiguous() for k, v in x2.state_dict().items()}, tmp_path / "x2.safetensors")
    x3 = create_model("gladsr_l", 3, **kwargs)
    own_before = {k: v.clone() for k, v in x3.state_dict().items()}
    record = _initialise(x3, tmp_path / "x2.safetensors")
    after, source = x3.state_dict(), x2.state_dict()
    kept = set(record["tensors_kept"])
    assert kept and record["tensors_loaded"] == len(after) - len(kept)
    for name, tensor in after.items():
        if name in kept:
            assert torch.equal(tensor, own_before[name])
            assert name not in source or source[name].shape != tensor.shape
        else:
            assert torch.equal(tensor, source[name])


def test_init_refuses_a_pickle_and_a_file_that_matches_nothing(tmp_path):
    from safetensors.torch import save_file

    from glsr.errors import BadArgument
    from glsr.models import create_model
    from glsr.train.loop import _initialise

    model = create_model("srcnn", 2, n1=8, n2=4)
    torch.save({"patch_extraction.weight": torch.zeros(1)}, tmp_path / "a.pt")
    with pytest.raises(BadArgument, match="not a readable safetensors"):
        _initialise(model, tmp_path / "a.pt")
    save_file({"other.weight": torch.zeros(3)}, tmp_path / "b.safetensors")
    with pytest.raises(BadArgument, match="no tensor"):
        _initialise(model, tmp_path / "b.safetensors")
    with pytest.raises(BadArgument, match="does not exist"):
        _initialise(model, tmp_path / "missing.safetensors")


def test_a_run_started_from_weights_records_them_and_resumes(tiny_root, tmp_path):
    tiny_srcnn = [*TINY, "model_kwargs={n1=8, n2=4}", "iterations=6"]
    first = train(
        load_config("srcnn", [*tiny_srcnn, "iterations=2"]),
        tmp_path / "a",
        device="cpu",
        data_root=str(tiny_root),
        progress=False,
    )
    cfg = load_config("srcnn", [*tiny_srcnn, "data.scales=[2]", f"init='{first}'"])
    train(cfg, tmp_path / "b", device="cpu", data_root=str(tiny_root), progress=False, max_iterations=3)
    train(cfg, tmp_path / "b", resume=True, device="cpu", data_root=str(tiny_root), progress=False)
    record = json.loads((tmp_path / "b" / "model.json").read_text())["initialised_from"]
    assert record["file"] == str(first) and record["tensors_loaded"] == 6 and record["tensors_kept"] == []
