"""``napari-segrefine evaluate``: predictions against ground truth, matched by file name."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..errors import SegRefineError
from ..io.atomic import atomic_output
from ..metrics import evaluate_pairs
from . import common

PRED_SUFFIXES = ("_mask", "_prob", "_refined")
PREFERRED_SUFFIX = "_mask"  # when an image has several kinds and no --pred-suffix
GT_SUFFIXES = ("_mask", "_gt", "_label", "_labels")
SKIPPED_SUFFIX = "_boundary"  # boundary maps written by `predict --save-boundary`
TABLE_COLUMNS = ("iou", "dice", "precision", "recall", "mae", "max_f", "s_measure", "boundary_f1")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="score predicted masks or probability maps against ground truth",
        description="Score binary predictions against ground-truth masks matched by file "
        "name: a prediction x_mask, x_prob or x_refined matches ground truth x (or x_mask, "
        "x_gt, x_label). *_boundary files are skipped. When an image has several kinds "
        "(as `predict --save-prob` writes), its _mask file is used unless --pred-suffix "
        "picks another. Prints a table; --json writes all metrics (per image, mean over "
        "images, pooled over pixels).",
    )
    parser.add_argument("--pred", required=True, metavar="DIR", help="folder of predictions")
    parser.add_argument("--gt", required=True, metavar="DIR", help="folder of ground truth")
    parser.add_argument("--json", metavar="FILE", help="also write the metrics as JSON")
    parser.add_argument(
        "--threshold", type=float, default=0.5, metavar="F", help="mask = prediction > F"
    )
    parser.add_argument(
        "--pred-suffix",
        choices=PRED_SUFFIXES,
        help="use only predictions with this suffix (default: when an image has several "
        "kinds, its _mask file)",
    )
    parser.add_argument(
        "--allow-unmatched", action="store_true", help="skip files without a partner"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    common.check_fraction("--threshold", args.threshold, "[0, 1]")
    json_path = _json_path(args.json)
    preds, gts, keys = _matched(args)
    pred_arrays, gt_arrays = [], []
    with common.progress_bar(len(keys), "reading", "pair") as bar:
        for key in keys:
            pred, gt = _read_pair(preds[key], gts[key])
            pred_arrays.append(pred)
            gt_arrays.append(gt)
            bar.update()
    results = evaluate_pairs(pred_arrays, gt_arrays, threshold=args.threshold)
    for key, scores in zip(keys, results["per_image"]):
        scores["name"] = key
    print(format_table(keys, results))
    if json_path is not None:
        report = {
            "pred": str(args.pred),
            "gt": str(args.gt),
            "threshold": args.threshold,
            "pairs": [{"name": k, "pred": preds[k].name, "gt": gts[k].name} for k in keys],
            **results,
        }
        with atomic_output(json_path) as target:
            target.write_text(json.dumps(report, indent=2))
        print(f"wrote {json_path}")
    return 0


def _json_path(value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value)
    if path.is_dir():
        raise SegRefineError(f"--json {path} is a folder; give a file name like metrics.json")
    return path


def _matched(args: argparse.Namespace) -> tuple[dict[str, Path], dict[str, Path], list[str]]:
    wanted = args.pred_suffix or ""
    pred_files = [
        path
        for path in common.folder_images(args.pred, "predictions")
        if not common.match_key(path).endswith(SKIPPED_SUFFIX)
        and common.match_key(path).endswith(wanted)
    ]
    if not pred_files:
        raise SegRefineError(f"no predictions in {args.pred} (with the suffix asked for)")
    if not wanted:
        pred_files = _prefer_masks(pred_files)
    preds = common.index_by_key(
        pred_files, PRED_SUFFIXES, "predictions", hint="pass --pred-suffix to pick one kind, or "
    )
    gts = common.index_by_key(
        common.folder_images(args.gt, "ground truth"), GT_SUFFIXES, "ground truth"
    )
    keys = common.pair_up(
        preds,
        gts,
        ("predictions", "ground truth"),
        allow_unmatched=args.allow_unmatched,
        hint="pass --allow-unmatched to skip them, or ",
    )
    skipped = len(preds) + len(gts) - 2 * len(keys)
    if skipped:
        print(f"napari-segrefine evaluate: skipped {skipped} unmatched file(s)", file=sys.stderr)
    return preds, gts, keys


def _prefer_masks(paths: list[Path]) -> list[Path]:
    """``paths`` less the other kinds of every image that also has a ``_mask`` file."""
    by_key: dict[str, list[Path]] = {}
    for path in paths:
        by_key.setdefault(common.match_key(path, PRED_SUFFIXES), []).append(path)
    kept = []
    for group in by_key.values():
        masks = [path for path in group if common.match_key(path).endswith(PREFERRED_SUFFIX)]
        kept.extend(masks if len(group) > 1 and len(masks) == 1 else group)
    if len(kept) < len(paths):
        print(
            "napari-segrefine evaluate: images with several prediction kinds are scored by "
            f"their {PREFERRED_SUFFIX} file (--pred-suffix picks another)",
            file=sys.stderr,
        )
    return kept


def _read_pair(pred_path: Path, gt_path: Path) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for path, what in ((pred_path, "prediction"), (gt_path, "ground truth")):
        with common.about(path):
            plane = common.require_2d(common.read_array(path), path, what)
            arrays.append(common.as_probability(plane))
    pred, gt = arrays
    if pred.shape != gt.shape:
        raise SegRefineError(
            f"prediction {pred_path.name} is {pred.shape[0]}x{pred.shape[1]} but ground truth "
            f"{gt_path.name} is {gt.shape[0]}x{gt.shape[1]}; they must match pixel for pixel"
        )
    return pred, gt


def format_table(names: list[str], results: dict) -> str:
    """Per-image rows, then the mean over images and the scores pooled over pixels."""
    width = max(12, *(len(name) for name in names)) + 2
    header = f"{'image':<{width}}" + "".join(f"{column:>12}" for column in TABLE_COLUMNS)
    lines = [header, "-" * len(header)]
    for name, scores in zip(names, results["per_image"]):
        lines.append(_row(name, scores, width))
    lines.append("-" * len(header))
    lines.append(_row("mean/image", results["mean_over_images"], width))
    lines.append(_row("pooled", results["pooled_over_pixels"], width))
    smoothed = results["pooled_over_pixels"]["iou_smoothed"]
    lines.append(
        f"{results['n_images']} image(s). 'pooled': one confusion matrix over all pixels "
        f"('-': not defined so);\nits smoothed IoU (TP+1)/(TP+FP+FN+1), as PatchRefineNet "
        f"reports mIoU: {smoothed:.4f}"
    )
    return "\n".join(lines)


def _row(name: str, scores: dict, width: int) -> str:
    cells = "".join(
        f"{scores[column]:>12.4f}" if column in scores else f"{'-':>12}"
        for column in TABLE_COLUMNS
    )
    return f"{name:<{width}}{cells}"
