"""Patch-wise optimal thresholds: the pseudo-labels PatchRefineNet is trained on.

For each non-overlapping patch, the threshold from a fixed grid that makes the patch's
binarized probabilities agree best with the ground truth, scored by the smoothed IoU
``(I + 1) / (U + 1)``. This follows the PRN paper's region-specific thresholding
(WACV 2024): strict ``prob > tau``, candidates 0.05 to 1.00 in steps of 0.05, and the
first maximum wins, so ties go to the smallest threshold. A threshold of 1.00 gives an
empty patch, which is how patches without foreground get an all-zero label.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import SegRefineError
from .patches import (
    as_binary_mask,
    as_probability_map,
    check_patch_size,
    expand_grid,
    patch_histograms,
    strip_rows,
)

DEFAULT_THRESHOLDS = np.round(np.arange(1, 21) * 0.05, 2)
MAX_THRESHOLDS = 255


def patch_optimal_thresholds(
    prob: np.ndarray,
    target: np.ndarray,
    patch_size: int,
    thresholds: Sequence[float] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Best threshold per patch and the map binarized with it.

    Vectorized: one pass counts, for every pixel, how many thresholds lie below its
    probability; per-patch histograms of those counts (split by ground truth) then give
    the intersection and union at every threshold at once.

    Args:
        prob: (H, W) probabilities in [0, 1]. Thresholds are compared at the map's
            precision (float32 maps against float32 thresholds, as upstream's maps).
        target: (H, W) ground truth; nonzero (floats: above 0.5) is foreground.
        patch_size: patch side in pixels; edge patches are partial for any image size.
        thresholds: candidate thresholds, default `DEFAULT_THRESHOLDS` (0.05 ... 1.00).
            On ties the earliest in this sequence wins (the smallest for the default).

    Returns:
        ``(tau_grid, pseudo_label)``: float32 thresholds of shape
        ``(ceil(H / P), ceil(W / P))`` and the uint8 (H, W) map that is 1 where
        ``prob > tau`` of the pixel's patch.

    Raises:
        SegRefineError: shapes, values, ``patch_size`` or ``thresholds`` are invalid.
    """
    prob = as_probability_map(prob)
    truth = as_binary_mask(target, prob.shape)
    patch_size = check_patch_size(patch_size)
    taus = _check_thresholds(thresholds)
    order = np.argsort(taus, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    levels = count_thresholds_below(prob, taus[order].astype(prob.dtype))
    scores = smoothed_iou_per_threshold(levels, truth, taus.size, patch_size)
    best = np.argmax(scores[..., rank], axis=-1)
    best_level = expand_grid(rank[best].astype(levels.dtype), patch_size, prob.shape)
    return taus[best].astype(np.float32), (levels > best_level).astype(np.uint8)


def count_thresholds_below(prob: np.ndarray, sorted_thresholds: np.ndarray) -> np.ndarray:
    """For each pixel, how many of the ascending thresholds are strictly below it.

    A pixel is foreground at the k-th smallest threshold exactly when this count is
    greater than k. Runs in cache-sized row strips.
    """
    levels = np.zeros(prob.shape, dtype=np.min_scalar_type(sorted_thresholds.size))
    rows = strip_rows(prob.shape, 1)
    above = np.empty((rows, prob.shape[1]), dtype=bool)
    for top in range(0, prob.shape[0], rows):
        block, out = prob[top : top + rows], levels[top : top + rows]
        mask = above[: block.shape[0]]
        for tau in sorted_thresholds:
            np.greater(block, tau, out=mask)
            np.add(out, mask, out=out, casting="unsafe")
    return levels


def smoothed_iou_per_threshold(
    levels: np.ndarray, truth: np.ndarray, n_thresholds: int, patch_size: int
) -> np.ndarray:
    """``(I + 1) / (U + 1)`` per patch at each ascending threshold, shape (rows, cols, T)."""
    codes = levels.astype(np.min_scalar_type(2 * n_thresholds + 1)) * 2 + truth
    counts = patch_histograms(codes, 2 * (n_thresholds + 1), patch_size)
    counts = counts.reshape(*counts.shape[:2], n_thresholds + 1, 2)
    at_or_above = np.cumsum(counts[..., ::-1, :], axis=-2)[..., ::-1, :]
    intersection = at_or_above[..., 1:, 1]
    predicted = at_or_above[..., 1:, 0] + intersection
    truth_count = at_or_above[..., :1, 1]
    union = truth_count + predicted - intersection
    return (intersection + 1) / (union + 1)


def make_pseudo_labels(
    probs: np.ndarray | Sequence[np.ndarray],
    targets: np.ndarray | Sequence[np.ndarray],
    patch_size: int = 64,
    thresholds: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """PRN training targets: `patch_optimal_thresholds` applied to each (prob, gt) pair.

    Args:
        probs: the base model's probability maps, (N, H, W) or a sequence of (H, W)
            maps of one size; upstream's (N, H, W, 1) files are accepted too.
        targets: the matching ground truth, same layout.
        patch_size: patch side in pixels (upstream: 64 on 512 x 512 maps).
        thresholds: candidate thresholds, see `patch_optimal_thresholds`.

    Returns:
        uint8 pseudo-labels of shape (N, H, W).
    """
    prob_stack = _as_stack(probs, "probs")
    target_stack = _as_stack(targets, "targets")
    if prob_stack.shape != target_stack.shape:
        raise SegRefineError(
            f"probs {prob_stack.shape} and targets {target_stack.shape} differ in shape; "
            "pass one ground truth per probability map, of the same size"
        )
    labels = [
        patch_optimal_thresholds(prob, target, patch_size, thresholds)[1]
        for prob, target in zip(prob_stack, target_stack)
    ]
    return np.stack(labels)


def _check_thresholds(thresholds: Sequence[float] | np.ndarray | None) -> np.ndarray:
    if thresholds is None:
        return DEFAULT_THRESHOLDS.copy()
    taus = np.asarray(thresholds, dtype=np.float64)
    if taus.ndim != 1 or not 1 <= taus.size <= MAX_THRESHOLDS or not np.isfinite(taus).all():
        raise SegRefineError(
            f"thresholds must be 1 to {MAX_THRESHOLDS} finite numbers, got {thresholds!r}; "
            "leave it None for 0.05, 0.10, ..., 1.00"
        )
    return taus


def _as_stack(maps: np.ndarray | Sequence[np.ndarray], name: str) -> np.ndarray:
    try:
        stack = np.asarray(maps)
    except ValueError:
        raise SegRefineError(
            f"{name} must all have the same size; resize or crop them to one shape"
        ) from None
    if stack.ndim == 4 and stack.shape[-1] == 1:
        stack = stack[..., 0]
    if stack.ndim != 3 or stack.shape[0] == 0:
        raise SegRefineError(
            f"{name} must be a non-empty stack of 2-D maps (N, H, W), got shape {stack.shape}"
        )
    return stack
