"""Patch-optimal thresholds against a brute-force per-patch loop, hand cases and errors."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine.errors import SegRefineError
from napari_segrefine.refine import (
    DEFAULT_THRESHOLDS,
    make_pseudo_labels,
    patch_optimal_thresholds,
)


def brute_force(prob, target, patch_size, thresholds=DEFAULT_THRESHOLDS):
    """Upstream's definition, one patch and one threshold at a time."""
    taus = np.asarray(thresholds, dtype=np.float64)
    height, width = prob.shape
    rows, cols = -(-height // patch_size), -(-width // patch_size)
    grid = np.zeros((rows, cols), dtype=np.float32)
    label = np.zeros(prob.shape, dtype=np.uint8)
    for row in range(rows):
        for col in range(cols):
            window = np.s_[
                row * patch_size : (row + 1) * patch_size,
                col * patch_size : (col + 1) * patch_size,
            ]
            patch, truth = prob[window], target[window] != 0
            best_score, best_tau = -1.0, None
            for tau in taus:
                binary = patch > tau.astype(prob.dtype)
                inter = np.sum(binary & truth)
                union = np.sum(binary | truth)
                score = (inter + 1) / (union + 1)
                if score > best_score:
                    best_score, best_tau = score, tau
            grid[row, col] = best_tau
            label[window] = patch > best_tau.astype(prob.dtype)
    return grid, label


def random_case(rng, quantized):
    height, width = rng.integers(1, 41, size=2)
    patch_size = int(rng.integers(1, 17))
    if quantized:  # values on the threshold grid: many exact ties and boundary hits
        prob = (rng.integers(0, 21, size=(height, width)) * 0.05).astype(np.float32)
    else:
        prob = rng.random((height, width), dtype=np.float32)
    target = (rng.random((height, width)) < rng.random()).astype(np.uint8)
    return prob, target, patch_size


@pytest.mark.parametrize("quantized", [False, True])
def test_matches_brute_force_on_random_cases(quantized):
    rng = np.random.default_rng(7 + quantized)
    for _ in range(150):
        prob, target, patch_size = random_case(rng, quantized)
        tau_grid, label = patch_optimal_thresholds(prob, target, patch_size)
        expected_grid, expected_label = brute_force(prob, target, patch_size)
        assert tau_grid.dtype == np.float32 and label.dtype == np.uint8
        assert tau_grid.shape == (-(-prob.shape[0] // patch_size), -(-prob.shape[1] // patch_size))
        np.testing.assert_array_equal(tau_grid, expected_grid)
        np.testing.assert_array_equal(label, expected_label)


def test_float64_maps_and_custom_unsorted_thresholds_match_brute_force():
    rng = np.random.default_rng(3)
    thresholds = [0.6, 0.2, 0.4, 0.2, 0.9, 0.05]
    for _ in range(40):
        prob, target, patch_size = random_case(rng, quantized=bool(rng.integers(2)))
        prob = prob.astype(np.float64)
        tau_grid, label = patch_optimal_thresholds(prob, target, patch_size, thresholds)
        expected_grid, expected_label = brute_force(prob, target, patch_size, thresholds)
        np.testing.assert_array_equal(tau_grid, expected_grid)
        np.testing.assert_array_equal(label, expected_label)


def test_hand_computed_patch_smallest_tie_wins():
    # tau < 0.10: all 4 on, (2+1)/(4+1); 0.10 <= tau < 0.20: 3 on, 3/4;
    # 0.20 <= tau < 0.30: exactly the truth, 3/3 (0.20 and 0.25 tie); smallest wins.
    prob = np.array([[0.9, 0.3], [0.2, 0.1]], dtype=np.float32)
    target = np.array([[1, 1], [0, 0]])
    tau_grid, label = patch_optimal_thresholds(prob, target, patch_size=2)
    np.testing.assert_array_equal(tau_grid, np.array([[0.2]], dtype=np.float32))
    np.testing.assert_array_equal(label, target)


def test_threshold_comparison_is_strict():
    prob = np.full((2, 2), 0.5, dtype=np.float32)
    target = np.ones((2, 2))
    assert patch_optimal_thresholds(prob, target, 2, thresholds=[0.5])[1].sum() == 0
    assert patch_optimal_thresholds(prob, target, 2, thresholds=[0.45])[1].sum() == 4


def test_patches_without_foreground_get_empty_labels():
    rng = np.random.default_rng(0)
    prob = rng.random((12, 12), dtype=np.float32) * 0.99
    tau_grid, label = patch_optimal_thresholds(prob, np.zeros((12, 12)), patch_size=4)
    assert label.sum() == 0
    patch_max = prob.reshape(3, 4, 3, 4).max(axis=(1, 3))
    assert np.all(tau_grid >= patch_max) and np.all(tau_grid - 0.05 < patch_max)


def test_each_patch_gets_its_own_threshold():
    # left patch: foreground at 0.3 on 0.1; right patch: background plateau at 0.7 under 0.95
    prob = np.full((4, 8), 0.1, dtype=np.float32)
    prob[:2, :4] = 0.3
    prob[:, 4:] = 0.7
    prob[:2, 4:] = 0.95
    target = np.zeros((4, 8))
    target[:2] = 1
    tau_grid, label = patch_optimal_thresholds(prob, target, patch_size=4)
    np.testing.assert_array_equal(tau_grid, np.array([[0.1, 0.7]], dtype=np.float32))
    np.testing.assert_array_equal(label, target)


def test_make_pseudo_labels_applies_each_pair_and_accepts_upstream_layout():
    rng = np.random.default_rng(1)
    probs = rng.random((3, 20, 24), dtype=np.float32)
    targets = (rng.random((3, 20, 24)) > 0.6).astype(np.uint8)
    labels = make_pseudo_labels(probs[..., None], list(targets), patch_size=8)
    assert labels.shape == (3, 20, 24) and labels.dtype == np.uint8
    for prob, target, label in zip(probs, targets, labels):
        np.testing.assert_array_equal(label, patch_optimal_thresholds(prob, target, 8)[1])


@pytest.mark.parametrize(
    ("probs", "targets"),
    [
        (np.zeros((2, 8, 8)), np.zeros((3, 8, 8))),
        ([np.zeros((8, 8)), np.zeros((9, 8))], [np.zeros((8, 8)), np.zeros((9, 8))]),
        (np.zeros((0, 8, 8)), np.zeros((0, 8, 8))),
        (np.zeros((8, 8)), np.zeros((8, 8))),
    ],
)
def test_make_pseudo_labels_rejects_bad_stacks(probs, targets):
    with pytest.raises(SegRefineError):
        make_pseudo_labels(probs, targets)


@pytest.mark.parametrize(
    ("prob", "target", "patch_size", "thresholds"),
    [
        (np.zeros((4, 4)), np.zeros((4, 5)), 2, None),
        (np.zeros((2, 4, 4)), np.zeros((2, 4, 4)), 2, None),
        (np.zeros((0, 4)), np.zeros((0, 4)), 2, None),
        (np.full((4, 4), 1.5), np.zeros((4, 4)), 2, None),
        (np.full((4, 4), np.nan), np.zeros((4, 4)), 2, None),
        (np.zeros((4, 4)), np.zeros((4, 4)), 0, None),
        (np.zeros((4, 4)), np.zeros((4, 4)), 2.5, None),
        (np.zeros((4, 4)), np.zeros((4, 4)), 2, []),
        (np.zeros((4, 4)), np.zeros((4, 4)), 2, [0.5, np.inf]),
    ],
)
def test_bad_input_raises_segrefine_error(prob, target, patch_size, thresholds):
    with pytest.raises(SegRefineError):
        patch_optimal_thresholds(prob, target, patch_size, thresholds)
