"""A global threshold as a head: Otsu's level of one channel, judged on the corrections.

A classic threshold sees what a few corrected patches cannot: the histogram of the whole
image. Where the objects are simply brighter (or darker) than the rest, one Otsu level
beats anything learned from a patch or two. `fit_head` scores such a threshold on the
corrected pixels next to its trees and keeps it when it scores higher; it is stored as
a one-split tree on the channel's smoothed intensity at the filter bank's first scale,
so it saves, loads and predicts like any head (without running the base network).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.filters import threshold_otsu

from ..limits import level_stride
from ..metrics import iou
from ..models.adapted import AdaptedModel
from ..models.filter_bank import FEATURES_PER_SCALE


@dataclass
class GlobalThreshold:
    """Foreground where feature column ``column`` is above ``level`` (below: ``above`` False)."""

    channel: int
    column: int
    level: float
    above: bool
    score: float

    def describe(self) -> str:
        side = "above" if self.above else "below"
        return (
            f"a global threshold, channel {self.channel} {side} its Otsu level, "
            "did better than trees there"
        )


def level_sample(x: np.ndarray, sigma: float) -> np.ndarray:
    """C x N values of a normalized C x H x W image smoothed at ``sigma`` (the feature a
    threshold is applied to), from a grid of at most `limits.LEVEL_PIXELS` per channel."""
    stride = level_stride(x.shape[1] * x.shape[2], 2)
    grid = x[:, ::stride, ::stride]
    smooth = [
        gaussian_filter(plane, sigma / stride, mode="reflect", truncate=3.0) for plane in grid
    ]
    return np.stack(smooth).reshape(len(x), -1)


def best_global_threshold(
    levels: Sequence[np.ndarray], rows: np.ndarray, labels: np.ndarray, num_sigmas: int
) -> GlobalThreshold | None:
    """The channel and side whose Otsu level scores the highest IoU on ``rows``' labels.

    Args:
        levels: `level_sample` of each image the threshold is for (same channels).
        rows: filter features (channel-major, as `FilterBank` orders them) of the
            corrected pixels to judge on.
        labels: their bool labels.
        num_sigmas: scales of the filter bank (the first is column 0 of a channel).

    Returns:
        The best candidate, or None when no channel has two distinct values.
    """
    values = np.concatenate(levels, axis=1)
    best = None
    for channel, plane in enumerate(values):
        if plane.min() == plane.max():
            continue
        level = float(threshold_otsu(plane))
        column = channel * num_sigmas * FEATURES_PER_SCALE
        bright = rows[:, column] > level
        for above, mask in ((True, bright), (False, ~bright)):
            score = iou(mask[None], labels[None])
            if best is None or score > best.score:
                best = GlobalThreshold(channel, column, level, above, score)
    return best


def set_stump(head: AdaptedModel, threshold: GlobalThreshold) -> None:
    """Make ``head``'s trees one split: ``threshold``'s column against its level."""
    head.trees.__init__(1, 3, 1)
    head.trees.feature[0, 0] = threshold.column
    head.trees.threshold[0, 0] = threshold.level
    head.trees.left[0, 0], head.trees.right[0, 0] = 1, 2
    leaves = [0.0, 1.0] if threshold.above else [1.0, 0.0]
    head.trees.value[0, 1:] = head.trees.value.new_tensor(leaves)
    head.segrefine_config.kwargs.update(num_trees=1, num_nodes=3, depth=1)
