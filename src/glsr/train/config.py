"""Training configuration: typed dataclasses, filled from a TOML recipe and ``--set key=value``.

A recipe is one complete, commented TOML file (``glsr/train/recipes/<name>.toml``). Keys map onto the
dataclass fields; an unknown key or a value of the wrong type is an error before training starts.
``filled_by_us`` lists the values the paper does not give, which we chose (architectures.md says how).
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from glsr.errors import BadArgument
from glsr.models import get_spec


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Where patches come from and how they are cut.

    Attributes:
        train_sets: folders under the data root, pooled ("291" = T91 + BSD200).
        scales: scale factors sampled per patch (several = scale augmentation, one model for all).
        patch_size: the network-input patch side: HR pixels for interpolated-input models, LR pixels
            otherwise.
        stride: the paper's patch stride. We sample patches at random positions instead of on a
            grid; the stride only defines how many patches make an epoch (``epoch_patches``).
        epoch_patches: patches in one epoch of the paper's patch set (for epoch-based schedules).
        augment: the 8 rotations and flips.
        downscale: factors in (0, 1): each training image is also used downscaled by each of them
            (MATLAB bicubic, rounded to 8 bits) as an HR image of its own, the scale augmentation
            that small sets such as the 291 images get in the VDSR and MemNet lineage. Empty: none.
        val_sets: benchmark sets for validation (Set5).
        device: where the training images and patch cutting live: ``model`` (the training device, so
            a GPU cuts its own patches) or ``cpu``.
    """

    train_sets: tuple[str, ...] = ("T91", "BSD200")
    scales: tuple[int, ...] = (2, 3, 4)
    patch_size: int = 41
    stride: int = 41
    epoch_patches: int = 0
    augment: bool = True
    downscale: tuple[float, ...] = ()
    val_sets: tuple[str, ...] = ("Set5",)
    device: Literal["model", "cpu"] = "model"


@dataclass(frozen=True, kw_only=True)
class OptimConfig:
    """Optimiser, learning-rate schedule and gradient clipping.

    Attributes:
        schedule: ``step`` multiplies the rate by ``gamma`` every ``step_size`` iterations;
            ``cosine`` decays it to ``min_lr`` over the run, after ``warmup`` linear iterations.
        clip: ``adjustable``: clip the global gradient norm to ``clip_value / lr`` (the official DRRN
            solver, VDSR's adjustable clipping); ``norm``: to ``clip_value``; ``none``.
        bias_lr_mult: learning-rate multiplier of biases (DRRN's Caffe ``lr_mult: 0.1``).
        lr_mults: learning-rate multipliers by parameter-name prefix, e.g. ``{reconstruction = 0.1}``
            for SRCNN's smaller rate on its last layer.
    """

    optimizer: Literal["sgd", "adam"] = "adam"
    lr: float = 1e-4
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    schedule: Literal["step", "cosine", "constant"] = "step"
    step_size: int = 200_000
    gamma: float = 0.5
    warmup: int = 0
    min_lr: float = 0.0
    clip: Literal["none", "adjustable", "norm"] = "none"
    clip_value: float = 0.0
    bias_lr_mult: float = 1.0
    lr_mults: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """A complete training recipe.

    Attributes:
        loss: ``euclidean`` is Caffe's ``EuclideanLoss``, sum of squares / 2N (DRRN eq. 10);
            ``mse`` the mean square; ``l1`` the mean absolute error.
        aux_weight: weight of the intermediate predictions in the loss,
            ``(1 - a) * loss(final) + a * mean(loss(intermediate))``: DRCN's recursive supervision
            alpha, GLADSR's gamma on the coarse output (eq. 5). 0 trains the final output only.
        loss_crop: output pixels dropped from each side of a patch before the loss. SRCNN's paper
            (Sec. 4.1) scores only the centre that its valid convolutions see; with zero padding,
            cropping the receptive-field margin keeps padded context out of the loss. It cost
            SRCNN x2 0.4 dB here (docs/training.md), so no recipe sets it.
        precision: ``bf16`` trains under autocast (weights stay fp32).
        val_every: validate on Set5 every this many iterations (0: only at the end).
        checkpoint_minutes: write ``last.ckpt`` at least this often.
        init: a safetensors file (another run's ``model.safetensors`` or shipped weights) that
            initialises every tensor whose name and shape match; the others keep their random
            initialisation. Starting x3 and x4 from x2 this way keeps the x2 upsampler out.
    """

    name: str
    model: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    paper: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: Literal["euclidean", "mse", "l1"] = "mse"
    aux_weight: float = 0.0
    loss_crop: int = 0
    batch_size: int = 64
    iterations: int = 100_000
    seed: int = 0
    precision: Literal["fp32", "bf16"] = "fp32"
    channels_last: bool = False
    compile: bool = False
    val_every: int = 1000
    log_every: int = 50
    checkpoint_minutes: float = 5.0
    init: str = ""
    filled_by_us: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        spec = get_spec(self.model)
        for scale in self.data.scales:
            if scale not in spec.scales:
                raise BadArgument(f"recipe {self.name}: {self.model} does not support scale {scale}")
        if len(self.data.scales) > 1 and not spec.multiscale:
            raise BadArgument(f"recipe {self.name}: {self.model} is one model per scale; pick one with --scale")
        if self.batch_size < 1 or self.iterations < 1 or self.data.patch_size < 4:
            raise BadArgument(f"recipe {self.name}: batch_size, iterations and patch_size must be positive")
        if not all(0 < f < 1 for f in self.data.downscale):
            raise BadArgument(f"recipe {self.name}: data.downscale factors must be between 0 and 1")
        if self.optim.lr <= 0:
            raise BadArgument(f"recipe {self.name}: lr must be positive")
        if not 0 <= self.aux_weight < 1:
            raise BadArgument(f"recipe {self.name}: aux_weight must be in [0, 1)")
        if self.loss_crop < 0 or 2 * self.loss_crop >= self.data.patch_size:
            size = self.data.patch_size
            raise BadArgument(f"recipe {self.name}: loss_crop must leave pixels in a {size}-pixel patch")

    @property
    def epoch_iterations(self) -> float:
        """Iterations in one epoch of the paper's patch set (0 if the recipe defines none)."""
        return self.data.epoch_patches / self.batch_size if self.data.epoch_patches else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Every resolved value, JSON-ready (tuples become lists)."""
        return dataclasses.asdict(self)


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a field's annotation, converting where TOML/CLI types differ."""
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if origin is Literal:
        if value not in typing.get_args(annotation):
            raise BadArgument(f"{key} must be one of {', '.join(map(str, typing.get_args(annotation)))}, not {value!r}")
        return value
    if origin is tuple:
        args = typing.get_args(annotation)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, list | tuple):
            raise BadArgument(f"{key} must be a list, not {value!r}")
        item = args[0]
        return tuple(_coerce(v, item, key) for v in value)
    if origin in (dict, types.GenericAlias) or annotation is dict or origin is dict:
        if not isinstance(value, dict):
            raise BadArgument(f"{key} must be a table, not {value!r}")
        return dict(value)
    if annotation is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        if not isinstance(value, bool):
            raise BadArgument(f"{key} must be true or false, not {value!r}")
        return value
    if annotation in (int, float, str):
        try:
            if annotation is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return annotation(value)
        except (TypeError, ValueError):
            raise BadArgument(f"{key} must be {annotation.__name__}, not {value!r}") from None
    return value


def _build(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in names:
            raise BadArgument(f"unknown recipe key {prefix}{key!r}; valid keys: {', '.join(sorted(names))}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise BadArgument(f"{prefix}{key} must be a table")
            kwargs[key] = _build(hint, value, f"{prefix}{key}.")
        else:
            kwargs[key] = _coerce(value, hint, prefix + key)
    return cls(**kwargs)


def _parse_value(text: str) -> Any:
    """A ``--set`` value: TOML syntax where it parses (numbers, booleans, lists), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides to a recipe's raw values (in place, returned)."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise BadArgument(f"--set expects KEY=VALUE, got {item!r}")
        parts = key.strip().split(".")
        target = values
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise BadArgument(f"--set {key}: {part} is not a table")
        target[parts[-1]] = _parse_value(text.strip())
    return values


def recipe_names() -> list[str]:
    """The recipes shipped with the package."""
    folder = resources.files("glsr.train").joinpath("recipes")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def read_recipe(recipe: str) -> dict[str, Any]:
    """The raw values of a shipped recipe name or a TOML file path."""
    path = Path(recipe)
    if recipe.endswith(".toml") or path.is_file():
        if not path.is_file():
            raise BadArgument(f"recipe file {recipe} does not exist")
        text = path.read_text()
        default_name = path.stem
    else:
        resource = resources.files("glsr.train").joinpath("recipes", f"{recipe}.toml")
        if not resource.is_file():
            raise BadArgument(f"unknown recipe {recipe!r}; choose from {', '.join(recipe_names())} or a .toml file")
        text = resource.read_text()
        default_name = recipe
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BadArgument(f"recipe {recipe}: {error}") from None
    values.setdefault("name", default_name)
    return values


def load_config(recipe: str, overrides: list[str] | None = None) -> TrainConfig:
    """Resolve a recipe and overrides into a validated :class:`TrainConfig`."""
    values = apply_overrides(read_recipe(recipe), list(overrides or []))
    return _build(TrainConfig, values)
