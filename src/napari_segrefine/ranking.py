"""Where to correct next: rank the patches of an image by how likely the model is wrong.

The score of a patch is a weighted sum of three signals, each in [0, 1]:

- **uncertainty**: mean of ``1 - |2p - 1|`` over the patch (binary entropy proxy);
- **boundary density**: mean of the boundary map (contours the model is unsure about);
- **disagreement**: fraction of pixels where a second opinion (the PRN-refined mask,
  or any other mask) differs from the thresholded prediction.

Patches already fully corrected or confirmed (``valid``) are skipped, so a user
walking the ranking never sees the same patch twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import SegRefineError

WEIGHTS = {"uncertainty": 1.0, "boundary": 1.0, "disagreement": 2.0}


@dataclass(frozen=True)
class PatchScore:
    """One ranked patch: its box in pixels, its score and the signals behind it."""

    top: int
    left: int
    height: int
    width: int
    score: float
    uncertainty: float
    boundary: float
    disagreement: float

    @property
    def center(self) -> tuple[float, float]:
        return (self.top + self.height / 2, self.left + self.width / 2)

    @property
    def slices(self) -> tuple[slice, slice]:
        return (slice(self.top, self.top + self.height), slice(self.left, self.left + self.width))


def _patch_means(values: np.ndarray, patch_size: int) -> np.ndarray:
    """Mean of ``values`` over each patch of the grid (edge patches partial)."""
    height, width = values.shape
    rows, cols = -(-height // patch_size), -(-width // patch_size)
    starts_r, starts_c = np.arange(rows) * patch_size, np.arange(cols) * patch_size
    sums = np.add.reduceat(np.add.reduceat(values.astype(np.float64), starts_r, 0), starts_c, 1)
    heights = np.minimum(starts_r + patch_size, height) - starts_r
    widths = np.minimum(starts_c + patch_size, width) - starts_c
    return sums / np.outer(heights, widths)


def rank_patches(
    prob: np.ndarray,
    patch_size: int = 128,
    *,
    boundary: np.ndarray | None = None,
    refined: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    threshold: float = 0.5,
    top_k: int | None = None,
) -> list[PatchScore]:
    """Patches of a binary probability map, most likely wrong first.

    Args:
        prob: P(foreground), (H, W) in [0, 1].
        patch_size: side of the square patches of the grid.
        boundary: the boundary map from `predict` (computed when None).
        refined: a second opinion, e.g. the PRN-refined mask (H, W).
        valid: pixels already corrected or confirmed; patches that are at least
            90% valid are left out.
        threshold: the threshold the current mask was made with.
        top_k: return only the first ``top_k``.

    Returns:
        `PatchScore`s sorted by decreasing score (ties: row-major order).
    """
    prob = np.asarray(prob, np.float32)
    if prob.ndim != 2 or prob.size == 0 or not np.isfinite(prob).all():
        raise SegRefineError(
            f"rank_patches needs one finite 2-D probability map, got shape {prob.shape}; "
            "pass one slice of a stack at a time"
        )
    if patch_size < 1:
        raise SegRefineError(f"patch_size must be at least 1, got {patch_size}")
    if boundary is None:
        from .engine import boundary_map

        boundary = boundary_map(prob)
    uncertainty = _patch_means(1 - np.abs(2 * prob - 1), patch_size)
    signals = {
        "uncertainty": uncertainty,
        "boundary": _patch_means(np.asarray(boundary, np.float32), patch_size),
        "disagreement": np.zeros_like(uncertainty),
    }
    if refined is not None:
        flipped = (np.asarray(refined) > 0) != (prob > threshold)
        signals["disagreement"] = _patch_means(flipped, patch_size)
    score = sum(WEIGHTS[name] * values for name, values in signals.items())
    done = np.zeros(score.shape, bool)
    if valid is not None:
        done = _patch_means(np.asarray(valid, bool), patch_size) >= 0.9
    height, width = prob.shape
    ranked = []
    for flat in np.argsort(-score, axis=None, kind="stable"):
        r, c = np.unravel_index(flat, score.shape)
        if done[r, c]:
            continue
        top, left = int(r * patch_size), int(c * patch_size)
        ranked.append(
            PatchScore(
                top,
                left,
                min(patch_size, height - top),
                min(patch_size, width - left),
                float(score[r, c]),
                *(float(signals[name][r, c]) for name in WEIGHTS),
            )
        )
        if top_k is not None and len(ranked) >= top_k:
            break
    return ranked
