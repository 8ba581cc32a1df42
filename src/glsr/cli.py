"""The ``glsr`` command: a thin argparse layer over the Python API.

Each subcommand parses its options, calls one API function and prints. Errors the user can fix
(:class:`~glsr.errors.GlsrError`) print one line on stderr and exit with 2; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from glsr.errors import BadArgument, GlsrError


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in the same one-line form as everything else."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadArgument(f"{self.prog}: {message}")


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _str_list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    from glsr.models import describe_defaults

    parser = _Parser(prog="glsr", description="Single-image super-resolution: upscale, benchmark, train.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    up = sub.add_parser("upscale", help="upscale images or folders of images")
    up.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    up.add_argument("--scale", type=int, required=True, choices=(2, 3, 4))
    up.add_argument("--model", help=f"model name (default: {describe_defaults()}; see 'glsr models')")
    up.add_argument("--weights", help="a .safetensors file instead of the shipped weights")
    target = up.add_mutually_exclusive_group()
    target.add_argument("-o", "--output", help="output file (one input only)")
    target.add_argument("--out-dir", help="folder for the outputs (default: beside each input)")
    up.add_argument("--tile", type=int, help="tile size in network-input pixels (default: automatic)")
    up.add_argument("--tile-overlap", type=int, help="context around each tile (default: the model's margin)")
    up.add_argument("--ensemble", action="store_true", help="x8 geometric self-ensemble")
    up.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    up.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "bf16"),
        help="network arithmetic (default auto: bf16 where the CPU runs it fast and the model loses nothing by it)",
    )
    up.add_argument("--overwrite", action="store_true", help="replace existing output files")
    up.add_argument("--max-pixels", type=float, help="refuse inputs with more megapixels than this")
    up.set_defaults(func=_upscale)

    bench = sub.add_parser("benchmark", help="PSNR/SSIM on the benchmark sets, beside the papers' figures")
    bench.add_argument("--model", required=True)
    bench.add_argument("--weights", help="a .safetensors file instead of the shipped weights")
    bench.add_argument("--datasets", type=_str_list, default=["Set5", "Set14", "BSD100", "Urban100"])
    bench.add_argument("--scales", type=_int_list, default=[2, 3, 4])
    bench.add_argument("--degradation", default="BI", help="BI, BD or DN")
    bench.add_argument("--protocol", help="luma or rgb (default: the model's own)")
    bench.add_argument("--ensemble", action="store_true", help="x8 geometric self-ensemble")
    bench.add_argument("--data-root", help="folder holding the datasets (default: $GLSR_DATA)")
    bench.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    bench.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="network arithmetic")
    bench.add_argument("--seed", type=int, default=0, help="seed of the DN noise")
    bench.add_argument("--json", help="write the results as JSON to this file")
    bench.add_argument("--report", help="write a Markdown report and a per-image CSV to this folder")
    bench.set_defaults(func=_benchmark)

    train = sub.add_parser("train", help="train a model with a paper's recipe")
    train.add_argument("recipe", help="a recipe name (glrl, drrn_b1u9, ...) or a TOML file")
    train.add_argument("--scale", type=int, choices=(2, 3, 4), help="train one scale of a multi-scale recipe")
    train.add_argument("--out", help="run folder (default: runs/<recipe>)")
    train.add_argument("--resume", action="store_true", help="continue from <out>/last.ckpt")
    train.add_argument("--max-iterations", type=int, help="stop at this iteration (the schedule is kept)")
    train.add_argument("--max-minutes", type=float, help="save and stop after this many minutes")
    train.add_argument("--seed", type=int)
    train.add_argument("--init", metavar="FILE", help="start from these weights where names and shapes match")
    train.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    train.add_argument("--data-root", help="folder holding T91, BSD200 and Set5 (default: $GLSR_DATA)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe value")
    train.set_defaults(func=_train)

    models = sub.add_parser("models", help="list the models")
    models.add_argument("--json", action="store_true", help="print a JSON array")
    models.set_defaults(func=_models)
    return parser


def _upscale(args: argparse.Namespace) -> int:
    from glsr.files import upscale_files

    if args.max_pixels is not None and not (0 < args.max_pixels < 1e6):
        raise BadArgument(f"--max-pixels must be a positive number of megapixels, got {args.max_pixels}")

    return upscale_files(
        args.inputs,
        scale=args.scale,
        model=args.model,
        weights=args.weights,
        output=args.output,
        out_dir=args.out_dir,
        tile=args.tile,
        tile_overlap=args.tile_overlap,
        ensemble=args.ensemble,
        device=args.device,
        precision=args.precision,
        overwrite=args.overwrite,
        max_pixels=None if args.max_pixels is None else int(args.max_pixels * 1e6),
    )


def _benchmark(args: argparse.Namespace) -> int:
    from glsr.evaluate import evaluate, format_table, write_report
    from glsr.files import write_text

    # Check where the results go before spending minutes measuring them.
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise BadArgument(f"--json {args.json}: the folder {Path(args.json).parent} does not exist")
    if args.report and Path(args.report).exists() and not Path(args.report).is_dir():
        raise BadArgument(f"--report {args.report} is a file, not a folder")

    results = evaluate(
        args.model,
        weights=args.weights,
        datasets=args.datasets,
        scales=args.scales,
        degradation=args.degradation,
        protocol=args.protocol,
        ensemble=args.ensemble,
        data_root=args.data_root,
        device=args.device,
        precision=args.precision,
        seed=args.seed,
    )
    first = results[0]
    print(f"{args.model}: {first.degradation}, {first.protocol} protocol, PSNR/SSIM on Y, shave = scale")
    print(format_table(results))
    if args.json:
        write_text(args.json, json.dumps({"results": [r.to_json() for r in results]}, indent=1) + "\n")
    if args.report:
        write_report(results, Path(args.report), "glsr " + shlex.join(sys.argv[1:]))
    return 0


def _train(args: argparse.Namespace) -> int:
    from glsr.train import is_main_process, train_from_cli

    out = train_from_cli(
        args.recipe,
        scale=args.scale,
        out=args.out,
        resume=args.resume,
        max_iterations=args.max_iterations,
        max_minutes=args.max_minutes,
        seed=args.seed,
        init=args.init,
        device=args.device,
        data_root=args.data_root,
        overrides=args.set,
    )
    if out is not None and is_main_process():  # under torchrun only rank 0 reports
        print(f"wrote {out}")
    return 0


def _models(args: argparse.Namespace) -> int:
    from glsr.models import MODELS, count_parameters, create_model
    from glsr.weights import has_weights

    records = []
    for spec in MODELS.values():
        records.append(
            {
                "name": spec.name,
                "paper": spec.paper,
                "input": spec.input,
                "protocol": spec.protocol,
                "scales": list(spec.scales),
                "params": {str(s): count_parameters(create_model(spec.name, s)) for s in spec.scales},
                "weights": {str(s): has_weights(spec, s) for s in spec.scales},
                "default_for": list(spec.default_for),
                "bf16_auto": spec.bf16_auto,
            }
        )
    if args.json:
        print(json.dumps(records, indent=1))
        return 0
    header = ("name", "input", "protocol", "params (x2/x3/x4)", "weights", "description")
    rows = []
    for record, spec in zip(records, MODELS.values(), strict=True):
        default = f" (the default at {', '.join(f'x{s}' for s in spec.default_for)})" if spec.default_for else ""
        rows.append(
            (
                record["name"],
                record["input"],
                record["protocol"],
                "/".join(f"{n:,}" for n in record["params"].values()),
                "".join(f"x{s}" for s, ok in record["weights"].items() if ok) or "-",
                spec.description + default,
            )
        )
    # Columns as wide as their widest cell, so a 22M-parameter row does not push the rest out of line.
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        print(" ".join(f"{cell:{width}}" for cell, width in zip(row, widths, strict=False)) + " " + row[-1])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except GlsrError as error:
        print(f"glsr: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("glsr: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (glsr models | head). Point stdout at /dev/null so that the flush at
        # exit does not fail again, and exit as a process stopped by SIGPIPE would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
