"""``napari-segrefine refine``: refined masks from probability maps."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..engine import resolve_device
from ..errors import SegRefineError
from ..io import write_labels
from ..refine import refine, refine_checked
from . import common, outputs
from .cluster_options import (
    add_cluster_options,
    check_cluster_options,
    cluster_source,
    summary_line,
    wants_cluster,
)

_PROB_SUFFIXES = ("_prob",)
_NOT_MAPS = tuple(kind for kind in common.OUTPUT_KINDS if kind not in _PROB_SUFFIXES)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "refine",
        help="refine masks from probability maps: <stem>_refined files in --out",
        description="Refine the masks of probability maps (float TIFF in [0, 1], or 8/16-bit "
        "images scaled to their maximum) with PatchRefineNet, or without --prn with "
        "per-patch threshold adaptation. A trailing _prob leaves the output name; in "
        "folders, files ending in _mask, _boundary or _refined are skipped. "
        "Outputs appear only when every input succeeded.",
    )
    parser.add_argument("inputs", nargs="+", metavar="PROB", help="probability maps or folders")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--patch-size", type=int, default=64, metavar="N", help="patch side (default 64)"
    )
    parser.add_argument(
        "--prn",
        metavar="NAME_OR_FILE",
        help="PRN model name (e.g. prn_p64) or checkpoint; default: no PRN, the "
        "threshold-adaptation fallback",
    )
    common.add_untrained_option(parser, "--prn")
    parser.add_argument(
        "--threshold", type=float, default=0.5, metavar="F", help="cut-off in (0, 1)"
    )
    parser.add_argument(
        "--corrected",
        metavar="MASK",
        help="your corrected mask of the (one) map: refine is checked against it first and "
        "not applied where it lowers IoU on the corrected pixels",
    )
    parser.add_argument(
        "--valid",
        metavar="MASK",
        help="which pixels of --corrected you corrected or checked (nonzero); default: all",
    )
    parser.add_argument(
        "--apply-anyway",
        action="store_true",
        help="write the refined mask even when the check against --corrected advises not to",
    )
    common.add_device_option(parser)
    common.add_format_option(parser)
    outputs.add_overwrite_option(parser)
    add_cluster_options(
        parser,
        "Dask cluster (maps too large for one machine)",
        "With --scheduler, each map is cut into chunks refined on Dask workers (the mask "
        "equals the one refined here) and written into OME-Zarr (mask, with a pyramid): "
        "PROB is a map in [0, 1] or the --out of `predict --scheduler ... --save-prob`; "
        "--out is the output .zarr for one map, or a folder of <stem>.zarr; rerunning "
        "the same command finishes an interrupted run; --format does not apply. Paths "
        "must be visible to every worker.",
        "output chunk side: a multiple of --patch-size and, with --prn, at least PRN's "
        "512-pixel window (default 2048)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    common.check_positive("--patch-size", args.patch_size)
    common.check_fraction("--threshold", args.threshold, "(0, 1)")
    if args.untrained and args.prn is None:
        raise SegRefineError("--untrained applies to a --prn model; pass --prn NAME with it")
    if wants_cluster(args):
        return _run_on_cluster(args)
    inputs = common.list_inputs(args.inputs, skip_in_folders=_NOT_MAPS)
    corrections = _read_corrections(args, inputs)
    suffix = common.OUTPUT_FORMATS[args.format]
    stems = [common.match_key(path, _PROB_SUFFIXES) for path in inputs]
    outputs.check_distinct_outputs(stems, inputs)
    names = [f"{name}_refined{suffix}" for name in stems]
    outputs.check_outputs(Path(args.out), names, overwrite=args.overwrite)
    device = resolve_device(args.device)
    prn = None if args.prn is None else common.load_prn(args.prn, untrained=args.untrained)
    maps = common.progress_bar(len(inputs), "maps", "map")
    with maps, outputs.staged_outputs(args.out, overwrite=args.overwrite) as staging:
        for path, name in zip(inputs, stems):
            with common.about(path):
                prob = common.require_2d(common.read_array(path), path, "probability map")
                options = dict(
                    patch_size=args.patch_size, prn=prn, threshold=args.threshold, device=device
                )
                if corrections is None:
                    mask = refine(common.as_probability(prob), **options)
                else:
                    checked = refine_checked(
                        common.as_probability(prob), *corrections, force=args.apply_anyway,
                        **options,
                    )  # fmt: skip
                    mask = checked.mask
                    print(f"{path.name}: {_check_line(checked)}")
                write_labels(staging / f"{name}_refined{suffix}", mask)
            maps.update()
    how = f"PRN {args.prn}" if prn is not None else "threshold adaptation (no --prn)"
    print(f"refined {len(inputs)} map(s) with {how} into {args.out}")
    return 0


def _run_on_cluster(args: argparse.Namespace) -> int:
    """``--scheduler``: `refine_to_zarr` with Dask's progress bar."""
    given = {"--corrected": args.corrected is not None, "--valid": args.valid is not None}
    check_cluster_options(args, {**given, "--apply-anyway": args.apply_anyway})
    from ..distributed import refine_to_zarr

    prn = None if args.prn is None else common.load_prn(args.prn, untrained=args.untrained)
    summary = refine_to_zarr(
        cluster_source(args),
        args.out,
        prn=prn,
        patch_size=args.patch_size,
        threshold=args.threshold,
        chunk=args.chunk,
        scheduler=args.scheduler,
        workers=args.workers,
        device=args.device,
        show_progress=True,
    )
    print(summary_line(summary, "refined", f"into {args.out}"))
    return 0


def _read_corrections(args: argparse.Namespace, inputs: list[Path]):
    """(corrected, valid) from ``--corrected``/``--valid``, or None without them."""
    if args.corrected is None:
        if args.valid is not None or args.apply_anyway:
            raise SegRefineError(
                "--valid and --apply-anyway go with --corrected MASK; pass your corrected mask"
            )
        return None
    if len(inputs) != 1:
        raise SegRefineError(
            f"--corrected checks one probability map, got {len(inputs)}; pass one PROB"
        )
    corrected = Path(args.corrected)
    with common.about(corrected):
        truth = common.require_2d(common.read_array(corrected), corrected, "corrected mask")
    if args.valid is None:
        return truth, np.ones(truth.shape, bool)
    valid = Path(args.valid)
    with common.about(valid):
        return truth, common.require_2d(common.read_array(valid), valid, "valid mask")


def _check_line(checked) -> str:
    """The check's message, and how to override it when refine was not applied."""
    message = checked.check.message
    if checked.check.apply:
        return message
    if checked.applied:
        return message + "; written anyway (--apply-anyway)"
    return message + "; wrote the unrefined mask (--apply-anyway writes the refined one)"
