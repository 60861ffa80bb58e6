"""`coverage_advice`: a mask that found nothing (or everything) says what to do."""

from __future__ import annotations

import numpy as np

from napari_segrefine.engine import coverage_advice


def test_an_empty_or_full_mask_gets_advice_and_a_mixed_one_none():
    mask = np.zeros((100, 100), np.uint8)
    assert "marks nothing" in coverage_advice(mask) and "lower the threshold" in coverage_advice(
        mask
    )
    mask[:5, :2] = 1  # 0.1 %: found something
    assert coverage_advice(mask) is None
    full = np.ones((2, 50, 50), bool)  # a stack counts as a whole
    assert "marks everything" in coverage_advice(full) and "raise" in coverage_advice(full)
    full[0, 0, :3] = False  # 0.06 % background: still everything
    assert "everything as foreground at threshold 0.10: raise" in coverage_advice(full, 0.1)
