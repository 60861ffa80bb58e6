"""The ``napari-segrefine`` command line.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``. User mistakes (`SegRefineError`) print one line on stderr and
exit with code 2; nothing half-written is left behind. A closed output pipe
(``napari-segrefine models --json | head -1``) ends quietly with code 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .. import __version__
from ..errors import Cancelled, SegRefineError

SUBCOMMANDS = ("models", "predict", "refine", "evaluate", "train", "demo")


def _available_subcommands() -> list:
    modules = []
    for name in SUBCOMMANDS:
        try:
            modules.append(importlib.import_module(f"napari_segrefine.cli.{name}_cmd"))
        except ModuleNotFoundError as err:
            if err.name != f"napari_segrefine.cli.{name}_cmd":
                raise
    return modules


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (the full usage stays in ``--help``)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="napari-segrefine",
        description="Segment, refine, correct and fine-tune: BASNet, BiSeNet, PatchRefineNet.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _available_subcommands():
        sub = module.add_parser(subparsers)
        sub.set_defaults(run=module.run)
    return parser


def _discard_stdout() -> None:
    """After the reader of stdout went away (``... | head``): send what is left to devnull.

    The idiom of the Python docs (signal module, "Note on SIGPIPE"); like Python itself,
    the command then exits with code 1.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return code
    except BrokenPipeError:
        _discard_stdout()
        return 1
    except SegRefineError as err:
        print(f"napari-segrefine {args.command}: error: {err}", file=sys.stderr)
        return 2
    except Cancelled:
        print(f"napari-segrefine {args.command}: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"napari-segrefine {args.command}: interrupted", file=sys.stderr)
        return 130
