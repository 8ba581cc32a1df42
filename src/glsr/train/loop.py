"""The training loop: one readable function, resumable to the bit, in chunks of a few minutes.

``train(cfg, out)`` runs: seed -> data -> model -> optimiser -> for each iteration (learning rate,
patches, forward, loss, backward, clip, step), with Set5 validation every ``val_every`` iterations,
``last.ckpt`` every few minutes, and ``model.safetensors`` + ``model.json`` when it stops.

Resuming restores the model, optimiser, iteration, every RNG state and the patch sampler's generator,
so a run stopped and resumed gives the same weights as one that never stopped. SIGINT/SIGTERM finish
the current iteration, write the checkpoint and exit cleanly. Under ``torchrun`` the model is wrapped in
DistributedDataParallel (gloo on CPU, nccl on GPU); each rank samples from its own shard of the
images, and only rank 0 validates, logs and writes files.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import json
import math
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn
from tqdm import tqdm

from glsr.data import dataset_folder, list_images, load_image
from glsr.errors import BadArgument
from glsr.evaluate import measure_images
from glsr.hardware import describe
from glsr.inference import Upscaler, resolve_device
from glsr.memory import reuse_freed_memory
from glsr.models import create_model, get_spec
from glsr.train.config import DataConfig, TrainConfig
from glsr.train.data import PatchSampler, downscaled_copies, load_training_images
from glsr.weights import save_weights, sha256

LOG_FIELDS = ["iteration", "epoch", "loss", "lr", "grad_norm", "val_psnr", "seconds"]


def learning_rate(cfg: TrainConfig, iteration: int) -> float:
    """The schedule's learning rate at an iteration (0-based)."""
    o = cfg.optim
    if o.warmup and iteration < o.warmup:
        return o.lr * (iteration + 1) / o.warmup
    if o.schedule == "step":
        return o.lr * o.gamma ** (iteration // o.step_size)
    if o.schedule == "cosine":
        progress = (iteration - o.warmup) / max(1, cfg.iterations - o.warmup)
        return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1 + math.cos(math.pi * min(progress, 1.0)))
    return o.lr


def clip_threshold(cfg: TrainConfig, lr: float) -> float | None:
    """The gradient-norm bound: ``clip_value / lr`` for adjustable clipping (DRRN), else fixed or none."""
    if cfg.optim.clip == "adjustable":
        return cfg.optim.clip_value / lr
    if cfg.optim.clip == "norm":
        return cfg.optim.clip_value
    return None


def pixel_loss(kind: str, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``euclidean``: Caffe's sum of squares / 2N (DRRN eq. 10); ``mse``; ``l1`` (means)."""
    if kind == "euclidean":
        return F.mse_loss(prediction, target, reduction="sum") / (2 * prediction.shape[0])
    if kind == "mse":
        return F.mse_loss(prediction, target)
    return F.l1_loss(prediction, target)


def _centre(t: torch.Tensor, crop: int) -> torch.Tensor:
    """``t`` without ``crop`` pixels on each side (all of it when ``crop`` is 0)."""
    return t[..., crop : t.shape[-2] - crop, crop : t.shape[-1] - crop] if crop else t


def training_loss(cfg: TrainConfig, forward: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The recipe's loss on one batch: ``(1 - a) * loss(final) + a * mean(loss(intermediate))``.

    The forward pass runs under bf16 autocast when the recipe asks for it; the loss is always fp32,
    on the patch centre when the recipe sets ``loss_crop``.
    """
    if cfg.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
        final, intermediate = forward(x)
    crop = cfg.loss_crop
    y = _centre(y, crop)
    loss = pixel_loss(cfg.loss, _centre(final.float(), crop), y)
    if intermediate:
        aux = torch.stack([pixel_loss(cfg.loss, _centre(p.float(), crop), y) for p in intermediate]).mean()
        loss = (1 - cfg.aux_weight) * loss + cfg.aux_weight * aux
    return loss


class TrainingForward(nn.Module):
    """Returns ``(final, intermediate predictions)`` through ``forward``, so DDP sees every call."""

    def __init__(self, model: nn.Module, with_intermediate: bool) -> None:
        super().__init__()
        self.model = model
        self.with_intermediate = with_intermediate

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if self.with_intermediate:
            return self.model.forward_with_intermediate(x)
        return self.model(x), []


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """SGD or Adam, with one parameter group per learning-rate multiplier (biases, ``lr_mults``)."""
    o = cfg.optim
    groups: dict[float, list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        mult = o.bias_lr_mult if name.endswith("bias") else 1.0
        for prefix, factor in o.lr_mults.items():
            if name.startswith(prefix):
                mult *= factor
        groups.setdefault(mult, []).append(parameter)
    for prefix in o.lr_mults:
        if not any(name.startswith(prefix) for name, _ in model.named_parameters()):
            raise BadArgument(f"optim.lr_mults: no parameter of {cfg.model} starts with {prefix!r}")
    param_groups = [{"params": params, "lr_mult": mult} for mult, params in groups.items()]
    if o.optimizer == "sgd":
        return torch.optim.SGD(param_groups, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    return torch.optim.Adam(param_groups, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay)


def _rng_state() -> dict[str, Any]:
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": json.dumps([kind, keys.tolist(), position, has_gauss, gauss]),
        "python": json.dumps([version, list(internal), gauss_next]),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, position, has_gauss, gauss = json.loads(state["numpy"])
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, gauss))
    version, internal, gauss_next = json.loads(state["python"])
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a temporary file in the same folder, then a rename."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``: no arbitrary unpickling."""
    return torch.load(path, map_location="cpu", weights_only=True)


def git_commit() -> str:
    """The commit of the checkout glsr runs from, or ``unknown``."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def hardware(device: torch.device, world: int) -> str:
    """A one-line description of what trained the model."""
    return f"{world} x {describe(device)}"


UNRECORDED = "earlier chunks (machine not recorded)"


def machines_of(checkpoint: dict[str, Any]) -> dict[str, float]:
    """Wall seconds per machine before this chunk: ``{hardware: seconds}``.

    Checkpoints written before machines were recorded count their seconds as :data:`UNRECORDED`.
    """
    if "machines" in checkpoint:
        return {str(k): float(v) for k, v in json.loads(checkpoint["machines"]).items()}
    seconds = float(checkpoint["seconds"])
    return {UNRECORDED: seconds} if seconds else {}


class _Log:
    """``log.csv`` (truncated to the checkpoint on resume) and TensorBoard scalars when available."""

    def __init__(self, folder: Path, resume_at: int | None) -> None:
        self.path = folder / "log.csv"
        rows: list[dict[str, str]] = []
        if resume_at is not None and self.path.is_file():
            with self.path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(r["iteration"]) <= resume_at]
        self.extra: list[str] = []
        if rows:
            self.extra = [k for k in rows[0] if k not in LOG_FIELDS]
        self.rows = rows
        self._rewrite()
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.board: Any = SummaryWriter(str(folder / "tensorboard"))
        except ImportError:
            self.board = None

    def _rewrite(self) -> None:
        with self.path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_FIELDS + self.extra, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.rows)

    def write(self, row: dict[str, Any]) -> None:
        formatted = {k: (f"{v:.6g}" if isinstance(v, float) else str(v)) for k, v in row.items()}
        new = [k for k in row if k not in LOG_FIELDS and k not in self.extra]
        self.rows.append(formatted)
        if new:
            self.extra += new
            self._rewrite()
        else:
            with self.path.open("a", newline="") as f:
                csv.DictWriter(f, fieldnames=LOG_FIELDS + self.extra, extrasaction="ignore").writerow(formatted)
        if self.board is not None:
            for key, value in row.items():
                if key != "iteration" and isinstance(value, int | float) and value == value:
                    self.board.add_scalar(key, value, row["iteration"])


def validate(
    model: nn.Module, cfg: TrainConfig, images: list[tuple[str, np.ndarray]], device: torch.device
) -> dict[str, float]:
    """Set5 PSNR at each training scale with the benchmark protocol (fp32, whole images)."""
    spec = get_spec(cfg.model)
    was_training = model.training
    model.eval()
    scores = {}
    for scale in cfg.data.scales:
        upscaler = Upscaler(model, spec, scale, device, tile=0)
        rows = measure_images(upscaler, images)
        scores[f"val_psnr_x{scale}"] = float(np.mean([r[1] for r in rows]))
    model.train(was_training)
    scores["val_psnr"] = float(np.mean(list(scores.values())))
    return scores


def _require_init_file(path: Path) -> None:
    if not path.is_file():
        raise BadArgument(f"init: {path} does not exist (paths are relative to where glsr train runs)")


def _initialise(model: nn.Module, path: Path) -> dict[str, Any]:
    """Copy the tensors of ``path`` whose names and shapes match ``model``'s (``init``); say which.

    Pickle-free (safetensors). Tensors the file lacks or shapes differently, such as another scale's
    upsampler, keep the model's own initialisation.
    """
    _require_init_file(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise BadArgument(f"init: {path} is not a readable safetensors file ({error})") from None
    own = model.state_dict()
    matched = {k: v for k, v in tensors.items() if k in own and own[k].shape == v.shape}
    if not matched:
        raise BadArgument(f"init: no tensor of {path} matches {type(model).__name__}")
    model.load_state_dict(matched, strict=False)
    return {
        "file": str(path),
        "sha256": sha256(path),
        "tensors_loaded": len(matched),
        "tensors_kept": sorted(k for k in own if k not in matched),
    }


def is_main_process() -> bool:
    """True outside torchrun and on its rank 0: the one process that writes files and reports."""
    return int(os.environ.get("RANK", "0")) == 0


def _saved_recipe(text: str) -> str:
    """A checkpoint's recipe JSON, with data keys added since it was written at their defaults.

    So a run written before ``data.downscale`` existed still resumes under the same recipe.
    """
    saved = json.loads(text)
    saved["data"] = {**dataclasses.asdict(DataConfig()), **saved["data"]}
    return json.dumps(saved, sort_keys=True)


def train(
    cfg: TrainConfig,
    out: Path,
    *,
    resume: bool = False,
    max_iterations: int | None = None,
    max_minutes: float | None = None,
    device: str = "auto",
    data_root: str | None = None,
    progress: bool = True,
) -> Path:
    """Train ``cfg`` into the folder ``out``; returns the path of ``model.safetensors``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    target = resolve_device(device)
    if world > 1:
        if target.type == "cuda":
            target = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(target)
        # torch._dynamo, imported lazily by the first optimiser or DDP wrapper, keeps references to a
        # default process group that exists when it is imported, so destroy_process_group could not
        # free it and its gloo threads ran into interpreter shutdown, where a rank sometimes aborted
        # ("terminate called without an active exception"). Imported first, it holds none.
        importlib.import_module("torch._dynamo")

        dist.init_process_group("nccl" if target.type == "cuda" else "gloo")
    main_rank = rank == 0
    try:
        # Each step frees and reallocates its activations; reusing the freed pages gave 6-10 % more
        # patches/s in fp32 on the CPU (glsr.memory, README "Speed").
        with reuse_freed_memory(target.type == "cpu"):
            return _train(
                cfg, out, resume, max_iterations, max_minutes, target, data_root, progress, rank, world, main_rank
            )
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _train(
    cfg: TrainConfig,
    out: Path,
    resume: bool,
    max_iterations: int | None,
    max_minutes: float | None,
    device: torch.device,
    data_root: str | None,
    progress: bool,
    rank: int,
    world: int,
    main_rank: bool,
) -> Path:
    started = time.monotonic()
    if cfg.init and not resume:  # before any folder is made or image decoded
        _require_init_file(Path(cfg.init))
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "last.ckpt"
    checkpoint = None
    if resume:
        if not ckpt_path.is_file():
            raise BadArgument(f"--resume: no checkpoint at {ckpt_path}")
        checkpoint = load_checkpoint(ckpt_path)
        if _saved_recipe(checkpoint["config"]) != json.dumps(cfg.to_dict(), sort_keys=True):
            raise BadArgument(f"--resume: {ckpt_path} was written by a different recipe or --set values")
    elif ckpt_path.exists():
        raise BadArgument(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    stop_at = min(cfg.iterations, max_iterations or cfg.iterations)

    # Seed everything; a resumed run then replaces these states with the checkpoint's.
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    spec = get_spec(cfg.model)
    images = load_training_images(cfg.data.train_sets, data_root)
    shard = downscaled_copies([image for _, image in images[rank::world]], cfg.data.downscale)
    data_device = device if cfg.data.device == "model" else torch.device("cpu")
    sampler = PatchSampler(
        shard, spec, cfg.data.scales, cfg.data.patch_size, cfg.data.augment, data_device, cfg.seed + rank
    )
    val_images = []
    if main_rank:
        for name in cfg.data.val_sets:
            val_images += [(p.name, load_image(p)) for p in list_images(dataset_folder(name, data_root))]

    model = create_model(cfg.model, cfg.data.scales[0], **cfg.model_kwargs).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    with_intermediate = cfg.aux_weight > 0
    if with_intermediate and not hasattr(model, "forward_with_intermediate"):
        raise BadArgument(f"aux_weight > 0 needs intermediate predictions, which {cfg.model} does not make")
    forward: nn.Module = TrainingForward(model, with_intermediate)
    if world > 1:
        forward = nn.parallel.DistributedDataParallel(
            forward, device_ids=[device.index] if device.type == "cuda" else None
        )
    step_forward = torch.compile(forward) if cfg.compile else forward
    optimizer = make_optimizer(cfg, model)

    # A resumed run has its weights from the checkpoint and only needs the record of its start.
    if checkpoint is not None:
        initialised = checkpoint.get("initialised")
    else:
        initialised = _initialise(model, Path(cfg.init)) if cfg.init else None
    start = 0
    wall_before = 0.0
    machines_before: dict[str, float] = {}
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"], strict=True)
        optimizer.load_state_dict(checkpoint["optimizer"])
        start = int(checkpoint["iteration"])
        wall_before = float(checkpoint["seconds"])
        machines_before = machines_of(checkpoint)
        _set_rng_state(checkpoint["rng"])
        if len(checkpoint["sampler"]) != world:
            raise BadArgument(f"--resume: the run used {len(checkpoint['sampler'])} processes, not {world}")
        sampler.set_state(checkpoint["sampler"][rank])
    log = _Log(out, start if checkpoint is not None else None) if main_rank else None

    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}

    here = hardware(device, world)

    def machine_seconds() -> dict[str, float]:
        # A run resumed on other machines (a GPU chunk, then a CPU one) keeps each one's share of
        # the wall time, so the cost tables count GPU minutes and CPU hours apart.
        seconds = dict(machines_before)
        seconds[here] = seconds.get(here, 0.0) + time.monotonic() - started
        return seconds

    def write_checkpoint(iteration: int) -> None:
        states = [sampler.state()]
        if world > 1:
            gathered: list[Any] = [None] * world
            dist.all_gather_object(gathered, sampler.state())
            states = gathered
        if main_rank:
            save_checkpoint(
                ckpt_path,
                {
                    "config": json.dumps(cfg.to_dict(), sort_keys=True),
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "iteration": iteration,
                    "seconds": wall_before + time.monotonic() - started,
                    "machines": json.dumps(machine_seconds()),
                    "rng": _rng_state(),
                    "sampler": states,
                    "initialised": initialised,
                },
            )

    bar = tqdm(
        total=stop_at,
        initial=start,
        desc=cfg.name,
        unit="it",
        disable=not (progress and main_rank),
        mininterval=1.0 if os.isatty(2) else 30.0,
    )
    last_save = time.monotonic()
    iteration = start
    last_val: dict[str, float] = {}
    last_val_iteration = -1
    running_loss, running_norm, running_count = 0.0, 0.0, 0
    model.train()
    try:
        while iteration < stop_at:
            lr = learning_rate(cfg, iteration)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["lr_mult"]
            x, y, _ = sampler.sample(cfg.batch_size)
            loss = training_loss(cfg, step_forward, x.to(device, non_blocking=True), y.to(device, non_blocking=True))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            threshold = clip_threshold(cfg, lr)
            norm = nn.utils.clip_grad_norm_(model.parameters(), threshold if threshold is not None else math.inf)
            optimizer.step()
            iteration += 1
            running_loss += loss.item()
            running_norm += float(norm)
            running_count += 1
            bar.update(1)

            finished = iteration >= stop_at
            out_of_time = max_minutes is not None and (time.monotonic() - started) / 60 >= max_minutes
            flags = torch.tensor([float(stop_requested), float(out_of_time)])
            if world > 1:
                dist.all_reduce(flags, op=dist.ReduceOp.MAX)
            stopping = finished or bool(flags.max() > 0)
            validate_now = main_rank and (
                (cfg.val_every and iteration % cfg.val_every == 0) or iteration == cfg.iterations
            )
            if main_rank and (iteration % cfg.log_every == 0 or validate_now or stopping):
                row: dict[str, Any] = {
                    "iteration": iteration,
                    "epoch": iteration * world / cfg.epoch_iterations if cfg.epoch_iterations else 0.0,
                    "loss": running_loss / running_count,
                    "lr": lr,
                    "grad_norm": running_norm / running_count,
                    "val_psnr": "",
                    "seconds": wall_before + time.monotonic() - started,
                }
                if validate_now:
                    last_val = validate(model, cfg, val_images, device)
                    last_val_iteration = iteration
                    row.update(last_val)
                assert log is not None
                log.write(row)
                bar.set_postfix(loss=f"{row['loss']:.4g}", val=f"{last_val.get('val_psnr', float('nan')):.2f}")
                running_loss, running_norm, running_count = 0.0, 0.0, 0
            save_due = (time.monotonic() - last_save) / 60 >= cfg.checkpoint_minutes
            if world > 1:
                due = torch.tensor([float(save_due)])
                dist.all_reduce(due, op=dist.ReduceOp.MAX)
                save_due = bool(due.item())
            if save_due or stopping:
                write_checkpoint(iteration)
                last_save = time.monotonic()
            if stopping:
                break
    finally:
        bar.close()
        for s, handler in previous.items():
            signal.signal(s, handler)

    weights = out / "model.safetensors"
    if main_rank:
        if last_val_iteration != iteration:  # the figure must be of the weights being saved
            last_val = validate(model, cfg, val_images, device)
        save_weights(model, weights)
        machines = machine_seconds()
        description = {
            "model": cfg.model,
            "model_kwargs": cfg.model_kwargs,
            "scales": list(cfg.data.scales),
            "input": spec.input,
            "recipe": cfg.to_dict(),
            "iterations": iteration,
            "complete": iteration >= cfg.iterations,
            "epochs": iteration * world / cfg.epoch_iterations if cfg.epoch_iterations else None,
            "training_set": "+".join(cfg.data.train_sets),
            "training_images": len(images),
            "git_commit": git_commit(),
            "hardware": " / ".join(machines),
            "hardware_seconds": {name: round(seconds, 1) for name, seconds in machines.items()},
            "wall_seconds": round(wall_before + time.monotonic() - started, 1),
            "initialised_from": initialised,
            "set5_psnr": {k.removeprefix("val_psnr_"): round(v, 4) for k, v in last_val.items() if k != "val_psnr"},
        }
        tmp = out / "model.json.tmp"
        tmp.write_text(json.dumps(description, indent=1) + "\n")
        os.replace(tmp, out / "model.json")
    return weights


def train_from_cli(
    recipe: str,
    *,
    scale: int | None = None,
    out: str | None = None,
    resume: bool = False,
    max_iterations: int | None = None,
    max_minutes: float | None = None,
    seed: int | None = None,
    init: str | None = None,
    device: str = "auto",
    data_root: str | None = None,
    overrides: list[str] | None = None,
) -> Path:
    """``glsr train``: resolve the recipe and options, then :func:`train`."""
    from glsr.train.config import load_config

    extra = list(overrides or [])
    if scale is not None:
        extra.append(f"data.scales=[{scale}]")
    if seed is not None:
        extra.append(f"seed={seed}")
    if init is not None:
        extra.append(f"init={json.dumps(init)}")
    cfg = load_config(recipe, extra)
    if max_iterations is not None and max_iterations < 1:
        raise BadArgument("--max-iterations must be positive")
    folder = Path(out) if out else Path("runs") / cfg.name
    return train(
        cfg,
        folder,
        resume=resume,
        max_iterations=max_iterations,
        max_minutes=max_minutes,
        device=device,
        data_root=data_root,
    )
