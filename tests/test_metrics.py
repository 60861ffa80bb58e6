"""Metrics against values computed by hand on tiny arrays, conventions and errors."""

from __future__ import annotations

import numpy as np
import py_sod_metrics
import pytest

from napari_segrefine import metrics
from napari_segrefine.errors import SegRefineError

# 4x4: the prediction is a 2x2 block, the truth a 2x3 block containing it.
# TP = 4, FP = 0, FN = 2, TN = 10.
PRED = np.zeros((4, 4), dtype=np.uint8)
PRED[:2, :2] = 1
TRUTH = np.zeros((4, 4), dtype=np.uint8)
TRUTH[:2, :3] = 255  # a 0/255 mask reads like a 0/1 mask


def f_beta(precision: float, recall: float) -> float:
    return 1.3 * precision * recall / (0.3 * precision + recall)


def test_mask_metrics_by_hand():
    assert metrics.iou(PRED, TRUTH) == pytest.approx(4 / 6)
    assert metrics.dice(PRED, TRUTH) == pytest.approx(8 / 10)
    assert metrics.precision_recall(PRED, TRUTH) == pytest.approx((1.0, 4 / 6))
    assert metrics.iou(PRED.astype(bool), TRUTH > 0) == pytest.approx(4 / 6)


def test_probability_maps_are_thresholded_strictly():
    prob = np.where(PRED > 0, 0.8, 0.2)
    prob[0, 2] = 0.5  # not above 0.5: still a false negative
    assert metrics.iou(prob, TRUTH) == pytest.approx(4 / 6)
    assert metrics.iou(prob, TRUTH, threshold=0.4) == pytest.approx(5 / 6)


def test_mae_uses_the_probabilities():
    prob = np.where(PRED > 0, 0.75, 0.25)
    # 4 TP pixels err 0.25, 2 FN pixels 0.75, 10 TN pixels 0.25
    assert metrics.mae(prob, TRUTH) == pytest.approx((4 * 0.25 + 2 * 0.75 + 10 * 0.25) / 16)


def test_f_measure_sweep_by_hand():
    # a binary map: 255 thresholds give P = 1, R = 2/3; ">= 0" predicts all 16 pixels
    at_mask, at_all = f_beta(1.0, 4 / 6), f_beta(6 / 16, 1.0)
    score = metrics.f_measure(PRED, TRUTH)
    assert score.max == pytest.approx(at_mask)
    assert score.mean == pytest.approx((255 * at_mask + at_all) / 256)


def test_e_measure_of_a_perfect_map_by_hand():
    # identical masks align everywhere: sum 16 over (16 - 1); ">= 0" predicts all pixels,
    # where every pixel's alignment is 0 and its enhanced value (0 + 1)^2 / 4
    score = metrics.e_measure(TRUTH, TRUTH)
    assert score.max == pytest.approx(16 / 15)
    assert score.mean == pytest.approx((255 * 16 / 15 + 16 * 0.25 / 15) / 256)


def test_s_measure_special_cases_by_hand():
    prob = np.full((4, 4), 0.25)
    assert metrics.s_measure(prob, np.zeros((4, 4))) == pytest.approx(0.75)
    assert metrics.s_measure(prob, np.ones((4, 4))) == pytest.approx(0.25)
    assert metrics.s_measure(TRUTH, TRUTH) == pytest.approx(1.0)


def test_sod_metrics_match_py_sod_metrics_on_a_random_map():
    rng = np.random.default_rng(0)
    prob, truth = rng.random((24, 20)), rng.random((24, 20)) > 0.7
    evaluator = py_sod_metrics.Smeasure()
    evaluator.step(prob, truth, normalize=False)
    assert metrics.s_measure(prob, truth) == pytest.approx(evaluator.get_results()["sm"])
    assert metrics.mae(prob, truth) == pytest.approx(np.abs(prob - truth).mean())


def test_boundary_f1_by_hand():
    truth = np.zeros((4, 4), dtype=bool)
    truth[:2, :2] = True  # boundary (0,1), (1,0), (1,1): the frame is no boundary
    pred = np.zeros((4, 4), dtype=bool)
    pred[:2, 1:3] = True  # boundary (0,1), (0,2), (1,1), (1,2)
    # tolerance 0: precision 2/4, recall 2/3; tolerance 1: every pixel is matched
    assert metrics.boundary_f1(pred, truth, tolerance=0) == pytest.approx(4 / 7)
    assert metrics.boundary_f1(pred, truth, tolerance=1) == pytest.approx(1.0)


def test_empty_masks_convention():
    empty, full = np.zeros((4, 4)), np.ones((4, 4))
    assert metrics.iou(empty, empty) == 1.0
    assert metrics.dice(empty, empty) == 1.0
    assert metrics.precision_recall(empty, empty) == (1.0, 1.0)
    assert metrics.boundary_f1(empty, empty) == 1.0
    assert metrics.boundary_f1(full, full) == 1.0
    assert metrics.iou(empty, TRUTH) == 0.0
    assert metrics.precision_recall(empty, TRUTH) == (0.0, 0.0)
    assert metrics.precision_recall(PRED, empty) == (0.0, 0.0)
    assert metrics.boundary_f1(full, empty) == 0.0
    assert metrics.boundary_f1(PRED, empty) == 0.0


def test_evaluate_pairs_mean_over_images_and_pooled_over_pixels():
    empty = np.zeros((3, 5))
    report = metrics.evaluate_pairs([PRED, empty], [TRUTH, empty])
    assert report["n_images"] == 2
    assert report["per_image"][0]["iou"] == pytest.approx(4 / 6)
    assert report["per_image"][1]["iou"] == 1.0
    assert report["mean_over_images"]["iou"] == pytest.approx((4 / 6 + 1) / 2)
    pooled = report["pooled_over_pixels"]
    assert pooled["iou"] == pytest.approx(4 / 6)
    assert pooled["iou_smoothed"] == pytest.approx(5 / 7)
    assert pooled["mae"] == pytest.approx(2 / 31)
    assert set(report["per_image"][0]) == set(report["mean_over_images"])


def test_evaluate_pairs_accepts_stacks():
    stack = np.stack([PRED, PRED])
    report = metrics.evaluate_pairs(stack, np.stack([TRUTH, TRUTH]))
    assert report["pooled_over_pixels"]["iou_smoothed"] == pytest.approx(9 / 13)


@pytest.mark.parametrize(
    ("pred", "gt"),
    [
        (np.zeros((4, 4)), np.zeros((4, 5))),
        (np.zeros((0, 4)), np.zeros((0, 4))),
        (np.zeros((2, 4, 4)), np.zeros((2, 4, 4))),
        (np.full((4, 4), 2.0), np.zeros((4, 4))),
        (np.full((4, 4), -1), np.zeros((4, 4))),
        (np.full((4, 4), np.nan), np.zeros((4, 4))),
    ],
)
def test_bad_input_raises_segrefine_error(pred, gt):
    for metric in (metrics.iou, metrics.mae, metrics.f_measure, metrics.boundary_f1):
        with pytest.raises(SegRefineError):
            metric(pred, gt)


def test_evaluate_pairs_rejects_unmatched_lists():
    with pytest.raises(SegRefineError):
        metrics.evaluate_pairs([PRED], [TRUTH, TRUTH])
    with pytest.raises(SegRefineError):
        metrics.evaluate_pairs([], [])
