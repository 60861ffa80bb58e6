"""The Dask cluster options that ``predict`` and ``refine`` share."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import SegRefineError
from . import common

if TYPE_CHECKING:
    from ..distributed import RunSummary


def add_cluster_options(
    parser: argparse.ArgumentParser, title: str, description: str, chunk_help: str
) -> None:
    """``--scheduler``, ``--workers`` and ``--chunk`` (default 2048) in a group of their own."""
    group = parser.add_argument_group(title, description)
    group.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="'local' (a cluster of --workers processes on this machine) or a Dask "
        "scheduler address such as tcp://host:8786",
    )
    group.add_argument("--workers", type=int, metavar="N", help="local Dask workers (default 1)")
    group.add_argument("--chunk", type=int, default=2048, metavar="N", help=chunk_help)


def wants_cluster(args: argparse.Namespace) -> bool:
    """Whether the command runs on a cluster (``--scheduler`` or ``--workers`` given)."""
    return bool(args.scheduler) or args.workers is not None


def check_cluster_options(args: argparse.Namespace, unavailable: dict[str, bool]) -> None:
    """One-line errors for ``--workers`` without ``--scheduler``, ``--overwrite`` (a
    cluster run resumes instead) and options a cluster run does not take
    (``unavailable``: option name to whether it was given)."""
    if not args.scheduler:
        raise SegRefineError("--workers needs --scheduler local (or a scheduler address)")
    if args.overwrite:
        raise SegRefineError(
            "--overwrite is not available with --scheduler; leave it out (a rerun "
            "resumes the run in --out: delete --out to start over)"
        )
    for option, given in unavailable.items():
        if given:
            raise SegRefineError(f"{option} is not available with --scheduler; leave it out")
    common.check_positive("--workers", args.workers)


def cluster_source(args: argparse.Namespace):
    """What a cluster run reads: the one input path, or the list of them."""
    return args.inputs[0] if len(args.inputs) == 1 else args.inputs


def summary_line(summary: RunSummary, verb: str, out: str) -> str:
    """What a cluster run did, for the console."""
    return (
        f"\n{verb} {summary.computed} of {summary.chunks} chunk(s) {out} "
        f"({summary.already_done} already done)"
    )
