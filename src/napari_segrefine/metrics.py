"""Segmentation metrics, per image and over a dataset.

Inputs are 2-D (H, W) numpy arrays of one shape:

- ``pred`` is a mask or a probability map. Floats must lie in [0, 1]; booleans are
  0/1; integers with values up to 1 are masks, up to 255 are divided by 255, up to
  65535 by 65535. Mask metrics (IoU, Dice, precision/recall, boundary F) binarize it
  with ``pred > threshold`` (0.5); MAE, F-, S- and E-measure use it as it is.
- ``gt`` is read the same way and binarized at 0.5 (0/1 and 0/255 masks both work).

Conventions for empty masks: a ratio whose denominator is zero counts as 1.0 when
prediction and ground truth are both empty (nothing to find, nothing found) and as
0.0 otherwise; so IoU, Dice, precision, recall and boundary F of two empty masks are 1.

F-, S- and E-measure and MAE come from py_sod_metrics (PyPI ``pysodmetrics``), whose
definitions are those of the salient-object literature: F-beta with beta^2 = 0.3 and
E-measure swept over 256 thresholds (the map quantized to 8 bits, ``pred >= k / 255``),
reported as the maximum and the mean over thresholds; S-measure with alpha = 0.5.
py_sod_metrics gives F = 0 when the ground truth is empty, and E-measure divides by
``H * W - 1`` as the original MATLAB code does, so a perfect map scores slightly above 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import py_sod_metrics
from scipy import ndimage

from .errors import SegRefineError

BETA2 = 0.3
CROSS = ndimage.generate_binary_structure(2, 1)


class SweepScore(NamedTuple):
    """A score swept over 256 thresholds: its maximum and its mean."""

    max: float
    mean: float


def iou(pred: np.ndarray, gt: np.ndarray, threshold: float = 0.5) -> float:
    """Intersection over union of the binarized prediction and the ground truth."""
    tp, fp, fn, _ = _confusion(*_masks(pred, gt, threshold))
    return _ratio(tp, tp + fp + fn, tp + fp + fn == 0)


def dice(pred: np.ndarray, gt: np.ndarray, threshold: float = 0.5) -> float:
    """Dice coefficient ``2 |P & G| / (|P| + |G|)``."""
    tp, fp, fn, _ = _confusion(*_masks(pred, gt, threshold))
    return _ratio(2 * tp, 2 * tp + fp + fn, tp + fp + fn == 0)


def precision_recall(
    pred: np.ndarray, gt: np.ndarray, threshold: float = 0.5
) -> tuple[float, float]:
    """Pixel precision ``TP / (TP + FP)`` and recall ``TP / (TP + FN)``."""
    tp, fp, fn, _ = _confusion(*_masks(pred, gt, threshold))
    both_empty = tp + fp + fn == 0
    return _ratio(tp, tp + fp, both_empty), _ratio(tp, tp + fn, both_empty)


def mae(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute error between the (probability) map and the mask (py_sod_metrics)."""
    values, truth = _pair(pred, gt)
    return float(py_sod_metrics.MAE().cal_mae(values, truth))


def f_measure(pred: np.ndarray, gt: np.ndarray, beta2: float = BETA2) -> SweepScore:
    """Max and mean F-beta over 256 thresholds (py_sod_metrics ``FmeasureV2``)."""
    values, truth = _pair(pred, gt)
    handler = py_sod_metrics.FmeasureHandler(with_dynamic=True, with_adaptive=False, beta=beta2)
    evaluator = py_sod_metrics.FmeasureV2(metric_handlers={"f": handler})
    evaluator.step(values, truth, normalize=False)
    return _sweep(evaluator.get_results()["f"]["dynamic"])


def s_measure(pred: np.ndarray, gt: np.ndarray, alpha: float = 0.5) -> float:
    """Structure measure (Fan et al. 2017), object and region terms weighted by ``alpha``."""
    values, truth = _pair(pred, gt)
    evaluator = py_sod_metrics.Smeasure(alpha=alpha)
    evaluator.step(values, truth, normalize=False)
    return float(evaluator.get_results()["sm"])


def e_measure(pred: np.ndarray, gt: np.ndarray) -> SweepScore:
    """Max and mean enhanced-alignment measure (Fan et al. 2018) over 256 thresholds."""
    values, truth = _pair(pred, gt)
    evaluator = py_sod_metrics.Emeasure()
    evaluator.step(values, truth, normalize=False)
    return _sweep(evaluator.get_results()["em"]["curve"])


def boundary_f1(
    pred: np.ndarray, gt: np.ndarray, tolerance: float = 2, threshold: float = 0.5
) -> float:
    """Boundary F-score: boundary pixels matched within ``tolerance`` pixels.

    A mask's boundary is its foreground pixels with a 4-neighbour in the background
    (the image frame is not a boundary). Precision is the share of predicted boundary
    pixels within Euclidean distance ``tolerance`` of a true boundary pixel, recall the
    converse; the score is their harmonic mean. Masks without any boundary (empty or
    full) score 1 against an identical mask and 0 otherwise.
    """
    if tolerance < 0:
        raise SegRefineError(f"tolerance must be 0 or more pixels, got {tolerance}")
    pred_mask, gt_mask = _masks(pred, gt, threshold)
    pred_edge, gt_edge = _boundary(pred_mask), _boundary(gt_mask)
    if not pred_edge.any() or not gt_edge.any():
        both_plain = not pred_edge.any() and not gt_edge.any()
        return float(both_plain and np.array_equal(pred_mask, gt_mask))
    precision = np.mean(ndimage.distance_transform_edt(~gt_edge)[pred_edge] <= tolerance)
    recall = np.mean(ndimage.distance_transform_edt(~pred_edge)[gt_edge] <= tolerance)
    return _ratio(2 * precision * recall, precision + recall, False)


def evaluate_pairs(
    preds: Sequence[np.ndarray] | np.ndarray,
    gts: Sequence[np.ndarray] | np.ndarray,
    *,
    threshold: float = 0.5,
    tolerance: float = 2,
) -> dict:
    """All metrics for a dataset of (prediction, ground truth) pairs.

    Args:
        preds: predictions, a (N, H, W) stack or a sequence of 2-D arrays (sizes may
            differ between pairs).
        gts: the matching ground truth, in the same order.
        threshold: binarization threshold of the predictions for the mask metrics.
        tolerance: pixel tolerance of the boundary F-score.

    Returns:
        A JSON-ready dict:

        - ``n_images``.
        - ``per_image``: one dict per pair with ``iou, dice, precision, recall, mae,
          max_f, mean_f, s_measure, max_e, mean_e, boundary_f1``.
        - ``mean_over_images``: the mean of each per-image value (how most papers
          report, and how a single empty image weighs as much as a crowded one).
        - ``pooled_over_pixels``: one confusion matrix summed over all pixels of all
          images: ``iou``, ``iou_smoothed`` = (TP + 1) / (TP + FP + FN + 1) (how
          PatchRefineNet publishes its "mIoU"), ``dice``, ``precision``, ``recall``,
          and ``mae`` weighted by pixel count.
    """
    pairs = _as_pairs(preds, gts)
    per_image = [_image_scores(p, g, threshold, tolerance) for p, g in pairs]
    mean_over_images = {key: float(np.mean([s[key] for s in per_image])) for key in per_image[0]}
    return {
        "n_images": len(pairs),
        "per_image": per_image,
        "mean_over_images": mean_over_images,
        "pooled_over_pixels": _pooled_scores(pairs, threshold),
    }


def _image_scores(pred: np.ndarray, gt: np.ndarray, threshold: float, tolerance: float) -> dict:
    precision, recall = precision_recall(pred, gt, threshold)
    f_beta, enhanced = f_measure(pred, gt), e_measure(pred, gt)
    return {
        "iou": iou(pred, gt, threshold),
        "dice": dice(pred, gt, threshold),
        "precision": precision,
        "recall": recall,
        "mae": mae(pred, gt),
        "max_f": f_beta.max,
        "mean_f": f_beta.mean,
        "s_measure": s_measure(pred, gt),
        "max_e": enhanced.max,
        "mean_e": enhanced.mean,
        "boundary_f1": boundary_f1(pred, gt, tolerance, threshold),
    }


def _pooled_scores(pairs: list[tuple[np.ndarray, np.ndarray]], threshold: float) -> dict:
    totals = np.zeros(4, dtype=np.int64)
    absolute_error, pixels = 0.0, 0
    for pred, gt in pairs:
        values, truth = _pair(pred, gt)
        totals += _confusion(values > threshold, truth)
        absolute_error += float(np.abs(values - truth).sum())
        pixels += truth.size
    tp, fp, fn, _ = (int(count) for count in totals)
    both_empty = tp + fp + fn == 0
    return {
        "iou": _ratio(tp, tp + fp + fn, both_empty),
        "iou_smoothed": (tp + 1) / (tp + fp + fn + 1),
        "dice": _ratio(2 * tp, 2 * tp + fp + fn, both_empty),
        "precision": _ratio(tp, tp + fp, both_empty),
        "recall": _ratio(tp, tp + fn, both_empty),
        "mae": absolute_error / pixels,
    }


def _as_pairs(
    preds: Sequence[np.ndarray] | np.ndarray, gts: Sequence[np.ndarray] | np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    pred_list, gt_list = list(preds), list(gts)
    if len(pred_list) != len(gt_list) or not pred_list:
        raise SegRefineError(
            f"got {len(pred_list)} predictions and {len(gt_list)} ground truths; "
            "pass one ground truth per prediction, at least one pair"
        )
    return list(zip(pred_list, gt_list))


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` as float64 in [0, 1] and ``gt`` as a boolean mask, checked."""
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape:
        raise SegRefineError(
            f"prediction {pred.shape} and ground truth {gt.shape} differ in shape; "
            "compare arrays of the same size"
        )
    if pred.ndim != 2 or pred.size == 0:
        raise SegRefineError(
            f"metrics need non-empty 2-D (H, W) arrays, got shape {pred.shape}; "
            "pass one image at a time or use evaluate_pairs"
        )
    return _unit_interval(pred, "prediction"), _unit_interval(gt, "ground truth") > 0.5


def _masks(pred: np.ndarray, gt: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    values, truth = _pair(pred, gt)
    return values > threshold, truth


def _unit_interval(array: np.ndarray, name: str) -> np.ndarray:
    """Values scaled to [0, 1] following the module's input conventions."""
    if array.dtype == bool:
        return array.astype(np.float64)
    values = array.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if array.dtype.kind in "iu" and low >= 0:
        scale = next((s for s in (1, 255, 65535) if high <= s), None)
        if scale is not None:
            return values / scale
    elif array.dtype.kind == "f" and low >= 0.0 and high <= 1.0:
        return values
    raise SegRefineError(
        f"{name} values must lie in [0, 1] (or 0..255 / 0..65535 for integers), found "
        f"[{low}, {high}]; apply a sigmoid to logits or rescale the map"
    )


def _confusion(pred_mask: np.ndarray, gt_mask: np.ndarray) -> np.ndarray:
    """Counts (TP, FP, FN, TN)."""
    tp = np.count_nonzero(pred_mask & gt_mask)
    fp = np.count_nonzero(pred_mask) - tp
    fn = np.count_nonzero(gt_mask) - tp
    return np.array([tp, fp, fn, gt_mask.size - tp - fp - fn], dtype=np.int64)


def _ratio(numerator: float, denominator: float, both_empty: bool) -> float:
    if denominator == 0:
        return 1.0 if both_empty else 0.0
    return float(numerator / denominator)


def _boundary(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, structure=CROSS, border_value=1)


def _sweep(curve: np.ndarray) -> SweepScore:
    return SweepScore(max=float(np.max(curve)), mean=float(np.mean(curve)))
