"""``napari-segrefine demo``: the whole loop on shipped sample data and weights."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data import DOMAINS
from ..demo import DemoSettings, format_table, run_demo


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="predict, refine, correct 4 patches with an update after every 2, on sample data",
    )
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder")
    parser.add_argument("--domain", choices=DOMAINS, default=DemoSettings.domain)
    parser.add_argument("--size", type=int, default=DemoSettings.size, help="image side (px)")
    parser.add_argument(
        "--trees", type=int, default=DemoSettings.trees, help="trees of the fitted head"
    )
    parser.add_argument("--device", default=DemoSettings.device)
    return parser


def run(args: argparse.Namespace) -> int:
    settings = DemoSettings(
        domain=args.domain, size=args.size, trees=args.trees, device=args.device
    )
    result = run_demo(args.out, settings, log=lambda line: print(line, file=sys.stderr))
    print(format_table(result.rows))
    corrected = ", ".join(f"({p.top},{p.left})" for p in result.patches)
    print(f"\ncorrected patches ({settings.review_patch} px, top-left): {corrected}")
    print(f"wrote {len(result.files)} files to {args.out} in {result.seconds:.0f} s:")
    for path in result.files:
        print(f"  {path}")
    return 0
