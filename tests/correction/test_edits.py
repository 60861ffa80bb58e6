"""Pure array logic of a session: edit tracking, merging, samples, change maps."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from napari_segrefine.correction import (
    GAINED,
    LOST,
    change_grid,
    change_map,
    correction_samples,
    image_fingerprint,
    keep_corrections,
)
from napari_segrefine.correction.edits import stroke_before
from napari_segrefine.errors import SegRefineError


def test_keep_corrections_only_changes_pixels_not_marked_valid():
    proposed = np.ones((3, 3), np.uint8)
    current = np.zeros((3, 3), np.uint8)
    valid = np.zeros((3, 3), np.uint8)
    valid[0] = 1

    merged = keep_corrections(proposed, current, valid)

    assert merged[0].tolist() == [0, 0, 0]
    assert merged[1:].all()
    assert merged.dtype == np.uint8
    np.testing.assert_array_equal(keep_corrections(proposed, None, None), proposed)


def test_keep_corrections_refuses_a_mask_of_another_shape():
    with pytest.raises(SegRefineError, match="shape"):
        keep_corrections(np.ones((3, 3)), np.zeros((4, 4)), np.zeros((4, 4)))


def test_change_map_marks_gained_and_lost_pixels():
    before = np.array([[0, 1], [1, 0]])
    after = np.array([[1, 1], [0, 0]])
    assert change_map(before, after).tolist() == [[GAINED, 0], [LOST, 0]]


def test_correction_samples_of_a_stack_keep_slices_with_corrections():
    image = np.zeros((3, 16, 16, 3), np.uint8)
    mask = np.zeros((3, 16, 16), np.uint8)
    valid = np.zeros((3, 16, 16), np.uint8)
    valid[1, :4] = 1

    samples = correction_samples(image, True, mask, valid)

    assert len(samples) == 1
    sample_image, sample_mask, sample_valid = samples[0]
    assert sample_image.shape == (16, 16, 3) and sample_mask.shape == (16, 16)
    assert sample_valid.sum() == 4 * 16


def test_correction_samples_explain_shape_mismatch_and_missing_corrections():
    image = np.zeros((16, 16), np.float32)
    with pytest.raises(SegRefineError, match="shape"):
        correction_samples(image, False, np.zeros((8, 8)), np.ones((8, 8)))
    with pytest.raises(SegRefineError, match="no corrected pixels"):
        correction_samples(image, False, np.zeros((16, 16)), np.zeros((16, 16)))


def test_change_grid_gives_one_fraction_per_patch_and_slice():
    before = np.zeros((2, 20, 20), np.uint8)
    after = before.copy()
    after[1, :10, :10] = 1

    grid = change_grid(before, after, 10)

    assert grid.shape == (2, 2, 2)
    assert grid[1, 0, 0] == 1.0 and grid.sum() == 1.0


def test_stroke_before_rebuilds_the_replaced_values_of_napari_atoms():
    mask = np.zeros((6, 6), np.uint8)
    mask[1:3, 1:3] = 1  # painted by the stroke
    mask[4, 4] = 1  # painted by a legacy triple
    masked = SimpleNamespace(
        slice_key=(slice(1, 3), slice(1, 3)), mask=None, old_values=np.zeros((2, 2), np.uint8)
    )
    triple = ((np.array([4]), np.array([4])), np.array([0], np.uint8), 1)

    key, before, touched = stroke_before([masked, triple], mask)

    assert key == (slice(1, 5), slice(1, 5))
    assert not before.any()
    assert touched.sum() == 5
    assert stroke_before([], mask) is None
    loose = SimpleNamespace(  # a box wider than the pixels it changed
        slice_key=(slice(0, 4), slice(0, 4)),
        mask=np.pad(np.ones((2, 2), bool), 1),
        old_values=np.zeros(4, np.uint8),
    )
    key, before, touched = stroke_before([loose], mask)
    assert key == (slice(0, 4), slice(0, 4)) and touched.sum() == 4


def test_image_fingerprint_tells_shape_and_type_apart():
    flat = np.zeros((4, 6), np.uint8)
    assert image_fingerprint(flat) != image_fingerprint(flat.reshape(6, 4))
    assert image_fingerprint(flat) != image_fingerprint(flat.astype(np.int8))
    assert image_fingerprint(flat) == image_fingerprint(np.zeros((4, 6), np.uint8))
