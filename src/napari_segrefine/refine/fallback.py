"""Refinement without a PRN model: per-patch threshold adaptation (Otsu).

PRN learns one threshold per region; its training labels are the per-patch optimal
thresholds (`patch_optimal_thresholds`). Without a trained PRN and without ground
truth we estimate such a threshold from the probabilities alone:

1. Each patch gets a 64-bin histogram of its probabilities and Otsu's threshold (the
   split with the largest between-class variance; across a gap between the classes,
   where all splits score alike, the middle of the gap).
2. A patch is adapted only when its probabilities are clearly bimodal: Otsu's
   separability (between-class over total variance) is at least `MIN_SEPARABILITY`,
   the two class means are at least `MIN_CONTRAST` apart, and the smaller class holds
   at least `MIN_CLASS_FRACTION` of the patch and `MIN_CLASS_PIXELS` pixels. Its
   threshold is Otsu's, clipped to ``threshold +/- MAX_SHIFT``.
3. Every other patch keeps the global ``threshold``, compared exactly as
   ``prob > threshold`` would.

So a faint but distinct object (probabilities around 0.4 on a 0.05 background) is kept,
a confident background plateau (0.6 next to 0.95 foreground) is dropped, and a map with
no bimodal patch gives exactly ``prob > threshold``. Thresholds are constant per patch,
as PRN's are; an object reaching only a sliver into a non-adapted neighbour is cut at
the patch border.
"""

from __future__ import annotations

import numpy as np

from .patches import expand_grid, patch_histograms

HIST_BINS = 64
MAX_SHIFT = 0.2
MIN_SEPARABILITY = 0.85  # uniform noise scores about 0.75, two clean levels 1.0
MIN_CONTRAST = 0.2
MIN_CLASS_FRACTION = 0.05
MIN_CLASS_PIXELS = 8


def adaptive_threshold_mask(prob: np.ndarray, patch_size: int, threshold: float) -> np.ndarray:
    """The uint8 mask of ``prob`` against its per-patch adapted thresholds."""
    grid = adapted_threshold_grid(prob, patch_size, threshold).astype(prob.dtype)
    return (prob > expand_grid(grid, patch_size, prob.shape)).astype(np.uint8)


def adapted_threshold_grid(prob: np.ndarray, patch_size: int, threshold: float) -> np.ndarray:
    """One threshold per patch: clipped Otsu where the patch is bimodal, else ``threshold``."""
    bins = np.minimum((prob * HIST_BINS).astype(np.uint8), HIST_BINS - 1)
    hist = patch_histograms(bins, HIST_BINS, patch_size).astype(np.float64)
    otsu, separability, contrast, smaller_class = _otsu_statistics(hist)
    smaller_count = smaller_class * hist.sum(axis=-1)
    bimodal = (
        (separability >= MIN_SEPARABILITY)
        & (contrast >= MIN_CONTRAST)
        & (smaller_class >= MIN_CLASS_FRACTION)
        & (smaller_count >= MIN_CLASS_PIXELS - 0.5)
    )
    local = np.clip(otsu, threshold - MAX_SHIFT, threshold + MAX_SHIFT)
    return np.where(bimodal, local, threshold)


def _otsu_statistics(
    hist: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Otsu threshold, separability, class-mean gap and smaller class weight per patch."""
    centers = (np.arange(HIST_BINS) + 0.5) / HIST_BINS
    total = hist.sum(axis=-1, keepdims=True)
    weight_low = np.cumsum(hist, axis=-1)[..., :-1] / total
    moment_low = np.cumsum(hist * centers, axis=-1)[..., :-1] / total
    mean = (hist * centers).sum(axis=-1, keepdims=True) / total
    spread = np.maximum(weight_low * (1.0 - weight_low), 1e-12)  # empty classes score 0
    between = (mean * weight_low - moment_low) ** 2 / spread
    split = np.argmax(between, axis=-1)[..., None]
    best_between = np.take_along_axis(between, split, axis=-1)[..., 0]
    variance = (hist * centers**2).sum(axis=-1) / total[..., 0] - mean[..., 0] ** 2
    separability = np.where(variance > 0, best_between / np.maximum(variance, 1e-12), 0.0)
    low = np.take_along_axis(weight_low, split, axis=-1)[..., 0]
    low_moment = np.take_along_axis(moment_low, split, axis=-1)[..., 0]
    high = np.maximum(1.0 - low, 1e-12)
    contrast = (mean[..., 0] - low_moment) / high - low_moment / np.maximum(low, 1e-12)
    last_split = between.shape[-1] - 1 - np.argmax(between[..., ::-1], axis=-1)
    otsu = ((split[..., 0] + last_split) / 2 + 1) / HIST_BINS
    return otsu, separability, contrast, np.minimum(low, 1.0 - low)
