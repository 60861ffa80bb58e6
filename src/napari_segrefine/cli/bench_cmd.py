"""``napari-segrefine bench``: the eager fp32 path and the tuned paths, side by side.

Prints a Markdown table (and writes it with ``--out``) with the machine it ran on: CPU
model, load average before and after, thread and OpenMP settings, torch version.
Timings depend on the machine and its load; the differences of outputs do not. The
command fails (exit 1) when the tuned fp32 path moves an output by more than
`FP32_TOLERANCE`, so ``bench --tiny`` is a correctness check CI can run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from ..engine.device import resolve_device
from ..errors import SegRefineError
from ..io.atomic import atomic_output, check_replaceable
from ..models import DEFAULT_BINARY_MODEL, list_models
from . import bench_cases as cases
from .common import add_device_option
from .outputs import check_writable_place

FP32_TOLERANCE = 1e-3  # largest probability change the tuned fp32 path may make
# Published input sizes (upstream papers and code); PRN at its 512 x 512 patch setting.
FORWARD_SIZES = {
    "basnet": (256, 256),
    "basnet_lite": (256, 256),
    "bisenetv1_binary": (512, 1024),
    "bisenetv2_binary": (512, 1024),
    "prn_p64": (512, 512),
    "prn_p64_lite": (512, 512),
}
TINY = {"forward": ("basnet_lite", "bisenetv2_binary", "prn_p64_lite"), "side": 128}


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="time the eager fp32 and the tuned paths on this machine, side by side",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument(
        "--models",
        default=",".join(FORWARD_SIZES),
        help="models whose forward to time, comma-separated (default: %(default)s)",
    )
    parser.add_argument("--batch", type=int, default=1, help="forward batch size (default 1)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed forwards per path (default 3)"
    )
    parser.add_argument(
        "--heavy-repeats",
        type=int,
        default=1,
        help="timed predict and refine runs per path (default 1)",
    )
    parser.add_argument(
        "--predict-sizes",
        default="2048",
        help="image sides for predict, comma-separated, e.g. 2048,8192 (0: skip)",
    )
    parser.add_argument("--tile", type=int, default=None, help="predict tile side")
    parser.add_argument("--refine-size", type=int, default=4096, help="PRN map side (0: skip)")
    parser.add_argument("--rank-size", type=int, default=4096, help="ranking map side (0: skip)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument(
        "--tiny", action="store_true", help="tiny sizes: a correctness run, not a timing"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier --out file")
    add_device_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    plan = _plan(args)
    if args.out is not None:
        check_writable_place(args.out)
        check_replaceable(args.out, overwrite=args.overwrite, directory=False)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    before = cases.machine(device)
    rows = _measure(plan, device, args)
    after = cases.machine(device)["load average (1, 5, 15 min)"]
    text = render(before, after, rows, cases.paths_on(device), tiny=args.tiny)
    print(text)
    if args.out is not None:
        with atomic_output(args.out, overwrite=args.overwrite) as temporary:
            temporary.write_text(text + "\n", encoding="utf-8")
    return _check_tolerance(rows)


def _plan(args: argparse.Namespace) -> dict:
    """The cases to run, from the options (`TINY` sizes with ``--tiny``)."""
    for option in ("batch", "repeats", "heavy_repeats"):
        if getattr(args, option) < 1:
            flag = option.replace("_", "-")
            raise SegRefineError(f"--{flag} must be at least 1, got {getattr(args, option)}")
    for option in ("threads", "tile"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            raise SegRefineError(f"--{option} must be at least 1, got {getattr(args, option)}")
    if args.tiny:
        side = TINY["side"]
        forward = dict.fromkeys(TINY["forward"], (side, side))
        return {"forward": forward, "predict": [side], "refine": side, "rank": side, "tile": 64}
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in names if name not in list_models()]
    if unknown:
        raise SegRefineError(f"unknown model(s) {', '.join(unknown)}; see napari-segrefine models")
    forward = {name: FORWARD_SIZES.get(name, (512, 512)) for name in names}
    return {
        "forward": forward,
        "predict": _sides(args.predict_sizes, "--predict-sizes"),
        "refine": _side(args.refine_size, "--refine-size"),
        "rank": _side(args.rank_size, "--rank-size"),
        "tile": args.tile,
    }


def _sides(text: str, option: str) -> list[int]:
    try:
        sides = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SegRefineError(f"{option} takes comma-separated integers, got {text!r}") from None
    return [_side(side, option) for side in sides if side]


def _side(side: int, option: str) -> int:
    if side and not 64 <= side <= 65536:
        raise SegRefineError(f"{option} must be 0 (skip) or a side of 64 to 65536, got {side}")
    return side


def _measure(plan: dict, device: torch.device, args: argparse.Namespace) -> list[cases.Row]:
    repeats, heavy = (1, 1) if args.tiny else (args.repeats, args.heavy_repeats)
    rows = []
    for name, shape in plan["forward"].items():
        _note(f"forward {name} {shape[0]}x{shape[1]}")
        rows.append(cases.forward_case(name, shape, device, args.batch, repeats))
    for side in plan["predict"]:
        _note(f"predict {side}x{side}")
        options = (plan["tile"], heavy)
        rows.append(cases.predict_case(DEFAULT_BINARY_MODEL, side, device, options, True))
    if plan["refine"]:
        _note(f"refine {plan['refine']}")
        rows.append(cases.refine_case(plan["refine"], device, heavy))
    if plan["rank"]:
        _note(f"boundary and rank {plan['rank']}")
        rows.extend(cases.rank_cases(plan["rank"]))
    return rows


def _note(message: str) -> None:
    print(f"bench: {message} ...", file=sys.stderr, flush=True)


def render(
    machine: dict[str, str], load_after: str, rows: list[cases.Row], paths: tuple, tiny: bool
) -> str:
    """The Markdown report: the machine, then one table row per case."""
    lines = ["# napari-segrefine bench", ""]
    if tiny:
        lines += ["Tiny sizes (--tiny): a correctness run; the times mean nothing.", ""]
    lines += [f"- {key}: {value}" for key, value in machine.items()]
    lines += [f"- load average after: {load_after}", f"- pid: {os.getpid()}", ""]
    tuned = [path for path in paths if path != "eager fp32"]
    header = ["case", "size", *[f"{p} (s)" for p in paths]]
    header += [f"{p} / eager" for p in tuned]
    header += [f"max dp {p}" for p in tuned] + [f"mask flips {p}" for p in tuned]
    header += ["numpy peak B/px"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(_cells(row, paths, tuned)) + " |")
    lines += [
        "",
        "Times: seconds, median of the repeats, the paths taking turns (forwards after one "
        "warm-up call per path). max dp: largest probability change from eager fp32; mask "
        "flips: fraction of mask pixels that differ from eager fp32. numpy peak: "
        "tracemalloc peak of one more run on the last path, per image pixel (torch's "
        "buffers are not counted).",
    ]
    return "\n".join(lines)


def _cells(row: cases.Row, paths: tuple, tuned: list[str]) -> list[str]:
    eager_time = row.seconds.get("eager fp32")
    cells = [row.case, row.size]
    cells += [_number(row.seconds.get(p), "{:.3f}") for p in paths]
    cells += [
        _number(row.seconds[p] / eager_time if eager_time and p in row.seconds else None, "{:.2f}")
        for p in tuned
    ]
    cells += [_number(row.diff.get(p), "{:.1e}") for p in tuned]
    cells += [_number(row.flips.get(p), "{:.3%}") for p in tuned]
    cells.append(_number(row.bytes_per_pixel, "{:.1f}"))
    return cells


def _number(value: float | None, form: str) -> str:
    return "-" if value is None else form.format(value)


def _check_tolerance(rows: list[cases.Row]) -> int:
    worst = max((row.diff.get("tuned fp32", 0.0) for row in rows), default=0.0)
    if worst > FP32_TOLERANCE:
        print(
            f"napari-segrefine bench: the tuned fp32 path moved a probability by {worst:.2e}, "
            f"more than the tolerance {FP32_TOLERANCE:.0e}",
            file=sys.stderr,
        )
        return 1
    return 0
