"""refine() without PRN: per-patch Otsu threshold adaptation."""

from __future__ import annotations

import numpy as np

from napari_segrefine.refine import refine
from napari_segrefine.refine.fallback import MAX_SHIFT, adapted_threshold_grid


def noisy(shape: tuple[int, int], level: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(level + rng.normal(0, 0.02, shape), 0, 1).astype(np.float32)


def test_faint_object_is_kept_and_background_stays_empty():
    prob = noisy((64, 64), 0.05)
    prob[8:24, 8:24] = noisy((16, 16), 0.4, seed=1)  # under-confident object, one patch
    truth = np.zeros((64, 64), dtype=bool)
    truth[8:24, 8:24] = True
    assert not (prob > 0.5).any()
    mask = refine(prob, patch_size=32).astype(bool)
    assert (mask & truth).sum() == truth.sum()
    assert not (mask & ~truth).any()


def test_confident_background_plateau_is_dropped():
    prob = noisy((64, 64), 0.6)  # false positive plateau
    prob[4:28, 4:28] = noisy((24, 24), 0.95, seed=1)
    truth = np.zeros((64, 64), dtype=bool)
    truth[4:28, 4:28] = True
    grid = adapted_threshold_grid(prob, 32, 0.5)
    assert grid[0, 0] == 0.5 + MAX_SHIFT  # Otsu (~0.78) clipped to the allowed range
    mask = refine(prob, patch_size=32).astype(bool)
    assert mask[truth].all()
    assert mask[:32, :32][~truth[:32, :32]].sum() == 0  # the plateau in the adapted patch


def test_maps_without_bimodal_patches_give_the_plain_threshold():
    rng = np.random.default_rng(2)
    for prob in (rng.uniform(0.3, 0.7, (50, 70)), noisy((50, 70), 0.5)):
        grid = adapted_threshold_grid(prob, 16, 0.5)
        np.testing.assert_array_equal(grid, np.full((4, 5), 0.5))
        np.testing.assert_array_equal(refine(prob, patch_size=16), prob > 0.5)
