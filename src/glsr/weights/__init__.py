"""Shipped weights: ``<model>[_x<scale>].safetensors`` beside a JSON manifest of measured figures.

Loading is strict and pickle-free: a missing, corrupt or mismatched file raises
:class:`~glsr.errors.MissingWeights`, never leaves random weights in place.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_model, save_model
from torch import nn

from glsr.errors import MissingWeights
from glsr.files import write_text
from glsr.models._spec import ModelSpec

WEIGHTS_DIR = Path(__file__).resolve().parent


def weights_path(spec: ModelSpec, scale: int) -> Path:
    """Where the shipped weights of a model and scale live (they may not exist)."""
    return WEIGHTS_DIR / f"{spec.weights_stem(scale)}.safetensors"


def has_weights(spec: ModelSpec, scale: int) -> bool:
    """True if weights ship for this model and scale."""
    return scale in spec.scales and weights_path(spec, scale).is_file()


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(path: Path) -> dict[str, Any]:
    """The JSON manifest beside a weight file (``x.safetensors`` -> ``x.json``)."""
    manifest = path.with_suffix(".json")
    if not manifest.is_file():
        raise MissingWeights(f"{path.name} has no manifest {manifest.name}")
    try:
        return json.loads(manifest.read_text())
    except json.JSONDecodeError as error:
        raise MissingWeights(f"manifest {manifest} is not valid JSON: {error}") from None


def load_weights_file(model: nn.Module, path: Path) -> None:
    """Load a safetensors file into ``model`` with strict key and shape matching.

    Uses safetensors' own ``load_model``, which restores weights shared by several modules (GLRL with
    ``share_weights``) from the one copy :func:`save_weights` stored.
    """
    if not path.is_file():
        raise MissingWeights(f"weights file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            stored = set(f.keys())
    except (SafetensorError, OSError, ValueError) as error:
        raise MissingWeights(f"{path} is not a readable safetensors file ({error})") from None
    try:
        load_model(model, str(path), strict=True)
    except RuntimeError as error:
        raise MissingWeights(f"{path} does not match the model: {_mismatch(model, stored, error)}") from None


def _mismatch(model: nn.Module, stored: set[str], error: RuntimeError) -> str:
    """A short reason: the first size mismatch, or counts of missing and unexpected tensors.

    torch's own message lists every key, hundreds for another architecture, on one line.
    """
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    sizes = [line for line in lines if "size mismatch" in line]
    if sizes:
        return sizes[0][:300]
    # Names that alias one tensor (GLRL's share_weights) are stored once, so count each tensor once:
    # it is missing only if none of its names is in the file.
    aliases: dict[tuple, list[str]] = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        aliases.setdefault(key, []).append(name)
    missing = sorted(names[0] for names in aliases.values() if stored.isdisjoint(names))
    unexpected = sorted(stored - {name for names in aliases.values() for name in names})
    parts = [f"{len(missing)} tensors missing (first {missing[0]})"] if missing else []
    parts += [f"{len(unexpected)} unexpected (first {unexpected[0]})"] if unexpected else []
    if not parts:
        return (lines[0] if lines else "unknown error")[:300]
    return ", ".join(parts) + "; are they weights of another model or variant (--model)?"


def load_pretrained(model: nn.Module, spec: ModelSpec, scale: int) -> None:
    """Load the shipped weights for ``spec`` at ``scale``, checking the manifest's sha256 first."""
    path = weights_path(spec, scale)
    if not path.is_file():
        raise MissingWeights(
            f"no shipped weights for {spec.name} x{scale}; train them with 'glsr train' and pass --weights FILE"
        )
    manifest = read_manifest(path)
    if manifest.get("sha256") != sha256(path):
        raise MissingWeights(f"{path.name} does not match the sha256 in its manifest: the file is corrupt")
    load_weights_file(model, path)


def save_weights(model: nn.Module, path: Path) -> None:
    """Write a model's weights as safetensors, atomically; shared weights are stored once."""
    tmp = path.with_name(path.name + ".tmp")
    save_model(model, str(tmp))
    tmp.replace(path)


def save_grown(
    grown: nn.Module,
    like: nn.Module,
    sample: torch.Tensor,
    tolerance: float,
    out: Path,
    source: Path,
    details: dict[str, Any],
) -> float:
    """Write a grown start (a larger network started from a smaller one's weights) and its record.

    ``like`` is the smaller network with ``source``'s weights. Both run on ``sample`` first: if
    their outputs differ by more than ``tolerance`` nothing is written (``ValueError``). The record,
    ``out`` with ``.json``, names the file and its source with their sha256, so that
    ``tools/export_weights.py`` lists the source's training as the grown network's first stages, then
    the largest difference and ``details`` (what was grown, the command).

    Returns:
        The largest absolute output difference on ``sample``.
    """
    with torch.no_grad():
        gap = (like(sample) - grown(sample)).abs().max().item()
    if gap > tolerance:
        raise ValueError(f"the grown network differs from the source by {gap:.2e}")
    out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(grown, out)
    record = {
        "file": str(out),
        "sha256": sha256(out),
        "grown_from": {"file": str(source), "sha256": sha256(source)},
        "max_output_difference": gap,
        **details,
    }
    write_text(out.with_suffix(".json"), json.dumps(record, indent=2) + "\n")
    return gap
