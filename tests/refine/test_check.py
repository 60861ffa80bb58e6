"""Refinement checked against the user's corrections before it is applied."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine import SegRefineError
from napari_segrefine.refine import check_refinement, refine, refine_checked


def _faint_object_map() -> np.ndarray:
    """A faint but distinct object (0.4 on 0.05): the fallback adds it, 0.5 does not."""
    prob = np.full((64, 64), 0.05, np.float32)
    prob[8:24, 8:24] = 0.4
    prob[40:56, 40:56] = 0.9
    return prob


def test_refinement_that_agrees_with_the_corrections_is_applied():
    before = np.zeros((32, 32), np.uint8)
    after = before.copy()
    after[:8, :8] = 1
    truth = after.copy()
    valid = np.zeros((32, 32), bool)
    valid[:16, :16] = True

    check = check_refinement(before, after, truth, valid, patch_size=16)

    assert check.apply and check.checked
    assert (check.iou_before, check.iou_after) == (0.0, 1.0)
    assert (check.pixels, check.patches, check.patches_worse) == (256, 1, 0)
    assert "refine applied" in check.message and "0.000 -> 1.000" in check.message


def test_refinement_that_lowers_a_corrected_patch_is_not_applied():
    truth = np.zeros((32, 32), np.uint8)
    truth[:8, :8] = 1
    before = truth.copy()
    after = truth.copy()
    after[:8, 8:12] = 1  # grows the object past what the user drew
    valid = np.zeros((32, 32), bool)
    valid[:16] = True  # two corrected patches; only the first changes

    check = check_refinement(before, after, truth, valid, patch_size=16)

    assert not check.apply
    assert check.iou_after == pytest.approx(64 / 96)
    assert (check.patches, check.patches_worse) == (2, 1)
    assert "NOT applied" in check.message and "1 of 2 corrected patches worse" in check.message


def test_without_corrections_refinement_is_applied_unchecked():
    masks = np.zeros((2, 16, 16), np.uint8)
    check = check_refinement(masks, masks, masks, None, patch_size=8)
    assert check.apply and not check.checked and check.iou_before is None
    assert "not checked" in check.message


def test_stacks_are_checked_slice_by_slice():
    truth = np.zeros((2, 16, 16), np.uint8)
    truth[1, :4, :4] = 1
    after = np.zeros_like(truth)
    valid = np.zeros(truth.shape, bool)
    valid[1] = True
    check = check_refinement(truth, after, truth, valid, patch_size=8)
    assert not check.apply and (check.patches, check.patches_worse) == (4, 1)


def test_refine_checked_keeps_the_plain_mask_when_refinement_hurts_unless_forced():
    prob = _faint_object_map()
    plain = (prob > 0.5).astype(np.uint8)
    refined = refine(prob, patch_size=16)
    assert (refined != plain).any()  # the fallback keeps the faint object
    valid = np.zeros(prob.shape, bool)
    valid[:32, :32] = True

    kept = refine_checked(prob, plain, valid, patch_size=16)
    forced = refine_checked(prob, plain, valid, patch_size=16, force=True)
    helped = refine_checked(prob, refined, valid, patch_size=16)

    assert not kept.applied and not kept.check.apply
    np.testing.assert_array_equal(kept.mask, plain)
    np.testing.assert_array_equal(kept.refined, refined)
    assert forced.applied
    np.testing.assert_array_equal(forced.mask, refined)
    assert helped.applied and helped.check.iou_after == 1.0


def test_bad_inputs_say_what_to_fix():
    with pytest.raises(SegRefineError, match="shape"):
        check_refinement(np.zeros((8, 8)), np.zeros((8, 8)), np.zeros((8, 9)), None)
    with pytest.raises(SegRefineError, match="2-D mask or a stack"):
        check_refinement(np.zeros(8), np.zeros(8), np.zeros(8), None)
