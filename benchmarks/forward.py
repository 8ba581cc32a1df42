"""Forward-pass cost of the models in the table: parameters, multiply-adds, speed.

For every model (``--models``, default all of :data:`glsr.models.MODELS`) and scale (``--scales``):

* ``params``: all parameters of the full-size network;
* ``GMACs``: multiply-accumulates for a 960x960 OUTPUT (the convention of GLADSR's Table II), counted
  analytically by forward hooks on the Conv1d / Conv2d / ConvTranspose2d / Linear modules from the
  sizes they actually see. The count runs the model on the right-sized input (960x960 for
  interpolated-input models, 960/scale for LR-input ones) on the ``meta`` device, so nothing is
  computed; a model that cannot run on ``meta`` is run for real under ``torch.inference_mode``.
  Matrix products written as functions (``torch.matmul`` in attention or graph reasoning) are not
  modules and are not counted; transposed convolutions are counted per input pixel (the FSRCNN
  paper's convention);
* ``ms/MP``: milliseconds per output megapixel, the median of ``--repeats`` runs after ``--warmup``
  runs on an LR input of ``--size`` x ``--size`` (interpolated-input models get the bicubic-sized
  equivalent, ``size*scale``);
* ``GFLOP/s``: ``2 * MACs / time`` on that timed input.

Only the descriptor (``spec.input``, ``spec.channels``, ``spec.interpolated``, ``spec.size_multiple``)
decides the input, so models added to the table later are measured without changes here.

Example::

    python benchmarks/forward.py --models srcnn,fsrcnn --scales 2,3 --threads 2 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from glsr.models import MODELS, ModelSpec, count_parameters, create_model

OUTPUT_SIZE = 960
COUNTED = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.Linear)


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def input_size(spec: ModelSpec, scale: int, lr_size: int) -> int:
    """The input side for an LR side of ``lr_size`` (interpolated models take the upscaled image)."""
    side = lr_size * scale if spec.interpolated else lr_size
    return _round_up(side, spec.size_multiple)


def lr_side_for_output(scale: int, output: int = OUTPUT_SIZE) -> int:
    """The LR side whose x``scale`` output is ``output`` (960: 480, 320, 240)."""
    return math.ceil(output / scale)


def _macs_of(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    """Multiply-accumulates of one call of a counted module, from the shapes it saw."""
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    kernel = math.prod(module.kernel_size)
    if isinstance(module, nn.ConvTranspose1d | nn.ConvTranspose2d):
        # every input value is scattered into out_channels/groups x kernel outputs
        return inputs[0].numel() * (module.out_channels // module.groups) * kernel
    return output.numel() * (module.in_channels // module.groups) * kernel


@contextlib.contextmanager
def mac_counter() -> Iterator[list[int]]:
    """Count the MACs of every counted module called inside the block (all modules, all calls)."""
    total = [0]

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        total[0] += _macs_of(module, inputs, output)

    handle = nn.modules.module.register_module_forward_hook(
        lambda m, i, o: hook(m, i, o) if isinstance(m, COUNTED) else None
    )
    try:
        yield total
    finally:
        handle.remove()


def count_macs(spec: ModelSpec, name: str, scale: int, side: int) -> tuple[int, tuple[int, ...], str]:
    """MACs of one forward pass on a ``(1, C, side, side)`` input: (MACs, output shape, how)."""
    shape = (1, spec.channels, side, side)
    try:
        with torch.device("meta"):
            model = create_model(name, scale).eval()
            x = torch.empty(shape)
        with torch.inference_mode(), mac_counter() as total:
            y = model(x)
        return total[0], tuple(y.shape), "meta"
    except Exception as error:  # a model that cannot run on meta: count on a real run
        print(f"  {name} x{scale}: meta run failed ({type(error).__name__}), counting on CPU", file=sys.stderr)
    model = create_model(name, scale).eval()
    with torch.inference_mode(), mac_counter() as total:
        y = model(torch.rand(shape))
    return total[0], tuple(y.shape), "cpu"


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(
    spec: ModelSpec, name: str, scale: int, args: argparse.Namespace
) -> tuple[float, int, tuple[int, ...]]:
    """Median seconds per forward pass on the timing input, its MACs, and its output shape."""
    device = torch.device(args.device)
    side = input_size(spec, scale, args.size)
    model = create_model(name, scale).eval().to(device)
    x = torch.rand(1, spec.channels, side, side, device=device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        with mac_counter() as total:
            y = model(x)  # the first warm-up run also counts the MACs
        for _ in range(args.warmup - 1):
            model(x)
        _synchronize(device)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model(x)
            _synchronize(device)
            times.append(time.perf_counter() - start)
    return statistics.median(times), total[0], tuple(y.shape)


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=_csv, default=list(MODELS), help="comma-separated names")
    parser.add_argument("--scales", type=lambda s: [int(v) for v in _csv(s)], default=[2, 3, 4])
    parser.add_argument("--size", type=int, default=64, help="LR side of the timed input (64)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (at least 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs; the median is reported")
    parser.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    parser.add_argument("--device", default="cpu", help="cpu (default) or e.g. cuda")
    parser.add_argument("--no-timing", action="store_true", help="parameters and MACs only")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    args.warmup = max(args.warmup, 1)
    args.repeats = max(args.repeats, 1)
    return args


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings: dict[str, Any] = {
        "output": OUTPUT_SIZE,
        "timing_lr_size": args.size,
        "threads": torch.get_num_threads(),
        "channels_last": args.channels_last,
        "bf16": args.bf16,
        "device": args.device,
        "torch": torch.__version__,
    }
    print(
        f"# torch {torch.__version__}, {args.device}, {settings['threads']} threads, "
        f"channels_last={args.channels_last}, bf16={args.bf16}, timed on LR {args.size}x{args.size}"
    )
    columns = ("model", "x", "input@960", "params", "GMACs@960", "ms/MP", "GFLOP/s")
    header = " ".join(f"{c:{w}}" for c, w in zip(columns, ("<14", ">2", ">10", ">11", ">10", ">9", ">8"), strict=True))
    print(header)
    print("-" * len(header))
    rows = []
    for name in args.models:
        spec = MODELS[name]
        for scale in args.scales:
            if scale not in spec.scales:
                continue
            params = count_parameters(create_model(name, scale))
            side = input_size(spec, scale, lr_side_for_output(scale))
            macs, out_shape, how = count_macs(spec, name, scale, side)
            row: dict[str, Any] = {
                "model": name,
                "scale": scale,
                "input": spec.input,
                "input_size": [side, side],
                "output_size": list(out_shape[-2:]),
                "params": params,
                "macs": macs,
                "macs_counted_on": how,
            }
            ms_per_mp = gflops = None
            if not args.no_timing:
                seconds, timed_macs, timed_shape = time_forward(spec, name, scale, args)
                megapixels = timed_shape[-2] * timed_shape[-1] / 1e6
                ms_per_mp = seconds * 1e3 / megapixels
                gflops = 2 * timed_macs / seconds / 1e9 if timed_macs else None
                row |= {
                    "timed_input_size": input_size(spec, scale, args.size),
                    "timed_output_size": list(timed_shape[-2:]),
                    "timed_macs": timed_macs,
                    "seconds": seconds,
                    "ms_per_megapixel": ms_per_mp,
                    "gflops_per_second": gflops,
                }
            rows.append(row)
            print(
                f"{name:<14} {scale:>2} {f'{side}x{side}':>10} {params:>11,} {macs / 1e9:>10.2f} "
                f"{_fmt(ms_per_mp, 1):>9} {_fmt(gflops, 1):>8}",
                flush=True,
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump({"settings": settings, "rows": rows}, file, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
