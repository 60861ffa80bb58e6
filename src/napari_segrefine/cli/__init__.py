"""The ``napari-segrefine`` command line.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``. User mistakes (`SegRefineError`) print one line on stderr and
exit with code 2; so do operating-system errors (a full or read-only disk, a
permission ...). Nothing half-written is left behind: SIGTERM unwinds like Ctrl-C
(exit 143), so staging folders are removed. Warnings print as one line each. A closed
output pipe (``napari-segrefine models --json | head -1``) ends quietly with code 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from .. import __version__
from ..errors import Cancelled, SegRefineError
from ..io.oserror import output_error
from ..openmp import prefer_passive_waiting

prefer_passive_waiting()  # before any subcommand imports torch

SUBCOMMANDS = ("models", "predict", "refine", "evaluate", "train", "demo", "bench")


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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that cleanup (staging folders) runs."""


def _terminate(signum, frame) -> None:
    raise Terminated


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"napari-segrefine: WARNING: {message}", file=sys.stderr)


@contextmanager
def _command_environment() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C; warnings print as one line. Restored afterwards."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            yield
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _command_environment():
            code = int(args.run(args) or 0)
            sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return code
    except BrokenPipeError:
        _discard_stdout()
        return 1
    except SegRefineError as err:
        print(f"napari-segrefine {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a write the command did not foresee; still one line
        message = output_error(err, "a file or folder", "use")
        print(f"napari-segrefine {args.command}: error: {message}", file=sys.stderr)
        return 2
    except Cancelled:
        print(f"napari-segrefine {args.command}: cancelled", file=sys.stderr)
        return 130
    except Terminated:
        print(f"napari-segrefine {args.command}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"napari-segrefine {args.command}: interrupted", file=sys.stderr)
        return 130
