from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine import SegRefineError
from napari_segrefine.ranking import rank_patches


def _map():
    prob = np.zeros((96, 128), np.float32)
    prob[:32, :32] = 1.0  # confident foreground
    prob[32:64, 64:96] = 0.5  # undecided
    return prob


def test_uncertain_patch_ranks_first():
    ranked = rank_patches(_map(), 32)
    assert (ranked[0].top, ranked[0].left) == (32, 64)
    assert ranked[0].uncertainty == pytest.approx(1.0)
    assert len(ranked) == 3 * 4
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)


def test_disagreement_with_refinement_raises_a_patch():
    prob = _map()
    refined = prob > 0.5
    refined[66:96, 2:32] = True  # the second opinion adds an object the model missed
    ranked = rank_patches(prob, 32, refined=refined)
    assert (ranked[0].top, ranked[0].left) == (64, 0)
    assert ranked[0].disagreement == pytest.approx(900 / 1024)


def test_corrected_patches_are_skipped_and_edges_are_partial():
    valid = np.zeros((96, 128), bool)
    valid[32:64, 64:96] = True
    ranked = rank_patches(_map(), 40, valid=valid, top_k=50)
    assert all(not (r.top == 32 and r.left == 64) for r in ranked)
    assert {(r.height, r.width) for r in ranked} >= {(16, 8), (40, 40)}


def test_bad_input():
    with pytest.raises(SegRefineError, match="2-D probability map"):
        rank_patches(np.zeros((2, 8, 8)), 4)
    with pytest.raises(SegRefineError, match="patch_size"):
        rank_patches(np.zeros((8, 8)), 0)
