"""PRN adapted to the corrected patches, adopted only when held-out patches say so."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_segrefine import SegRefineError, create_model
from napari_segrefine.train.prn_adapt import PRNAdaptConfig, adapt_prn, correction_maps


def _map_and_truth():
    rng = np.random.default_rng(0)
    truth = np.zeros((64, 64), bool)
    truth[10:40, 12:44] = True
    prob = np.clip(np.where(truth, 0.45, 0.1) + rng.normal(0, 0.05, truth.shape), 0, 1)
    return prob.astype(np.float32), truth


def test_adaptation_trains_a_copy_and_reports_its_guard():
    prn = create_model("prn_p64_lite", width=4)
    start = {k: v.clone() for k, v in prn.state_dict().items()}
    prob, truth = _map_and_truth()
    valid = np.zeros(truth.shape, bool)
    valid[:, :48] = True  # 4 x 3 patches of 16 px

    result = adapt_prn(prn, [(prob, truth, valid)], 16, PRNAdaptConfig(steps=2, batch_size=2))

    assert result.model is not prn
    assert all(torch.equal(start[k], v) for k, v in prn.state_dict().items())
    changed = [k for k, v in result.model.state_dict().items() if not torch.equal(start[k], v)]
    assert changed
    assert (result.patches, result.held_out) == (12, 4)
    better = result.iou_adapted > result.iou_start and result.iou_adapted >= result.iou_plain
    assert result.adopted == better
    assert ("not adopted" in result.reason) != result.adopted
    assert 0 <= result.iou_plain <= 1


def test_adaptation_needs_two_corrected_patches():
    prob, truth = _map_and_truth()
    valid = np.zeros(truth.shape, bool)
    valid[:16, :20] = True
    with pytest.raises(SegRefineError, match="at least 2 patches of 16 px"):
        adapt_prn(create_model("prn_p64_lite", width=4), [(prob, truth, valid)], 16)


def test_bad_settings_and_samples():
    with pytest.raises(SegRefineError, match="holdout"):
        PRNAdaptConfig(holdout=1.0)
    with pytest.raises(SegRefineError, match="probability map, mask, valid"):
        adapt_prn(create_model("prn_p64_lite", width=4), [(np.zeros((8, 8)),)], 8)


def test_correction_maps_keep_only_corrected_slices():
    probs = np.zeros((3, 8, 8), np.float32)
    valid = np.zeros((3, 8, 8), bool)
    valid[1, :2] = True
    maps = correction_maps(probs, probs > 0, valid)
    assert len(maps) == 1 and maps[0][2] is not None and maps[0][2].any()
    assert len(correction_maps(probs[0], probs[0] > 0, valid[0])) == 1
