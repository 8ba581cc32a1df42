"""Training with the papers' recipes: typed configs from TOML, one resumable loop."""

from glsr.train.config import DataConfig, OptimConfig, TrainConfig, load_config, recipe_names
from glsr.train.loop import is_main_process, train, train_from_cli

__all__ = [
    "DataConfig",
    "OptimConfig",
    "TrainConfig",
    "is_main_process",
    "load_config",
    "recipe_names",
    "train",
    "train_from_cli",
]
