"""glsr.train.config: every recipe resolves; overrides are typed and checked."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from glsr.errors import BadArgument
from glsr.models import MODELS
from glsr.train.config import load_config, recipe_names

PAPER_RECIPES = {
    "srcnn", "fsrcnn", "vdsr", "drcn", "drrn_b1u9", "drrn_b1u25", "glrl", "gladsr", "gladsr_l",
    "gladsr_large", "rdn", "srgrn",
}  # fmt: skip


def test_every_paper_recipe_ships():
    assert set(recipe_names()) >= PAPER_RECIPES


@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_parses_and_resolves(name):
    cfg = load_config(name)
    assert cfg.model in MODELS
    assert cfg.data.train_sets == ("T91", "BSD200")
    assert cfg.iterations > 0 and cfg.batch_size > 0
    assert cfg.paper  # every recipe names its paper
    assert cfg.name == name


def test_a_recipe_starts_only_from_weights_in_the_repository():
    # A fresh clone must be able to run every recipe, so an `init` names a committed file
    # (runs/README.md); runs/ is git-ignored, so existing here is not enough.
    repo = Path(__file__).resolve().parents[2]
    tracked = None
    if (repo / ".git").exists() and shutil.which("git"):
        tracked = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True).stdout.split()
    for name in recipe_names():
        init = load_config(name).init
        if init:
            assert (repo / init).is_file(), (name, init)
            assert tracked is None or init in tracked, (name, init)


def test_residual_family_follows_the_drrn_solver():
    for name in ("drrn_b1u9", "drrn_b1u25", "glrl", "vdsr"):
        cfg = load_config(name)
        o = cfg.optim
        assert (o.optimizer, o.lr, o.momentum, o.weight_decay) == ("sgd", 0.1, 0.9, 1e-4)
        assert o.clip == "adjustable" and o.clip_value == 0.01
        assert o.gamma == 0.5
        assert o.step_size == pytest.approx(10 * cfg.epoch_iterations)  # halve every 10 epochs
        assert cfg.data.scales == (2, 3, 4)


def test_attention_family_uses_adam_and_l1():
    for name in ("gladsr", "gladsr_l", "gladsr_large", "rdn", "srgrn"):
        cfg = load_config(name)
        assert (cfg.optim.optimizer, cfg.optim.lr, cfg.optim.step_size, cfg.loss) == (
            "adam",
            1e-4,
            200_000,
            "l1",
        )
    assert load_config("gladsr").aux_weight == 0.5  # gamma on the coarse output


def test_overrides_are_typed():
    cfg = load_config("glrl", ["batch_size=8", "optim.lr=0.05", "data.scales=[3]", "precision=bf16"])
    assert (cfg.batch_size, cfg.optim.lr, cfg.data.scales, cfg.precision) == (8, 0.05, (3,), "bf16")
    assert load_config("gladsr_l", ["data.downscale=0.9,0.7"]).data.downscale == (0.9, 0.7)
    assert load_config("gladsr_l", ["data.downscale=[0.8]"]).data.downscale == (0.8,)
    assert load_config("gladsr_l", []).data.downscale == ()


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("batch_sise=8", "unknown recipe key"),
        ("optim.lr=fast", "optim.lr must be float"),
        ("precision=fp8", "precision must be one of"),
        ("data.scales=[5]", "does not support scale 5"),
        ("noequals", "KEY=VALUE"),
        ("loss_crop=21", "loss_crop must leave pixels"),
        ("loss_crop=-1", "loss_crop must leave pixels"),
        ("data.downscale=[1.0]", "downscale factors must be between 0 and 1"),
        ("data.downscale=[0]", "downscale factors must be between 0 and 1"),
        ("data.downscale=big", "data.downscale must be float"),
    ],
)
def test_bad_overrides_fail_before_training(override, needle):
    with pytest.raises(BadArgument, match=needle):
        load_config("glrl", [override])


def test_per_scale_models_refuse_scale_augmentation():
    with pytest.raises(BadArgument, match="one model per scale"):
        load_config("gladsr", ["data.scales=[2,3]"])


def test_unknown_recipe():
    with pytest.raises(BadArgument, match="unknown recipe"):
        load_config("nope")


# Shipped stages that first ran as a base recipe with --set overrides, and the recipe file that names
# the same cycle: each file must equal its overrides, or its comment would describe a schedule nobody
# ran. gladsr_l_down: the first scale-augmentation stages of the GLADSR-L files; gladsr_l_low: the
# 1e-4 peak cycles of session 51; gladsr_grow_down: the x2 and x3 gladsr grow cycles since session 48.
NAMED_CYCLES = [
    (
        "gladsr_l_down",
        "gladsr_l_refine",
        ["precision=bf16", "iterations=5000", "data.downscale=[0.9,0.8,0.7,0.6]", "data.scales=[2]"],
    ),
    ("gladsr_l_low", "gladsr_l_down", ["optim.lr=1e-4", "iterations=4000"]),
    ("gladsr_grow_down", "gladsr_grow", ["precision=bf16", "iterations=3000", "data.downscale=[0.9,0.8,0.7,0.6]"]),
]


@pytest.mark.parametrize(("name", "ran_as", "overrides"), NAMED_CYCLES)
def test_named_cycle_is_the_shipped_overrides(name: str, ran_as: str, overrides: list[str]):
    ran = load_config(ran_as, overrides)
    recipe = load_config(name)
    assert dataclasses.replace(ran, name=recipe.name, filled_by_us=recipe.filled_by_us) == recipe
