"""Session bookkeeping without Qt: edit tracking, merging, samples, autosave folders."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from napari_segrefine.errors import SegRefineError
from napari_segrefine.session import (
    GAINED,
    LOST,
    ProjectFolder,
    change_map,
    correction_samples,
    edited_pixels,
    image_fingerprint,
    keep_corrections,
    patch_boxes,
)


def test_edited_pixels_reads_mask_atoms_and_index_triples():
    box_mask = np.array([[True, False], [False, True]])
    masked = SimpleNamespace(slice_key=(slice(1, 3), slice(2, 4)), mask=box_mask)
    whole_box = SimpleNamespace(slice_key=(slice(0, 1), slice(0, 2)), mask=None)
    triple = ((np.array([4]), np.array([4])), np.array([0]), 1)

    touched = edited_pixels([masked, whole_box, triple], (5, 5))

    expected = np.zeros((5, 5), bool)
    expected[1, 2] = expected[2, 3] = True
    expected[0, :2] = True
    expected[4, 4] = True
    np.testing.assert_array_equal(touched, expected)


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


def test_patch_boxes_lists_changed_patches_most_changed_first_and_clips_edges():
    changed = np.array([[0.0, 0.5], [0.25, 0.0]], np.float32)

    corners, values = patch_boxes(changed, 10, (15, 18))

    assert values.tolist() == [0.5, 0.25]
    np.testing.assert_array_equal(corners[0], [[0, 10], [0, 18], [10, 18], [10, 10]])
    np.testing.assert_array_equal(corners[1], [[10, 0], [10, 10], [15, 10], [15, 0]])
    assert len(patch_boxes(changed, 10, (15, 18), limit=1)[0]) == 1


def test_project_folder_locations(tmp_path):
    source = tmp_path / "scan 1.ome.tif"
    source.write_bytes(b"")
    assert ProjectFolder.for_image("scan", source).path == tmp_path / "scan_1.segrefine"
    chosen = ProjectFolder.for_image("my image", source, root=tmp_path / "projects")
    assert chosen.path == tmp_path / "projects" / "my_image"
    assert "napari-segrefine" in str(ProjectFolder.for_image("coins").path)


def test_project_folder_round_trips_corrections_of_the_same_image(tmp_path):
    folder = ProjectFolder(tmp_path / "p")
    image = np.arange(120, dtype=np.uint8).reshape(12, 10)
    mask = np.zeros((12, 10), np.uint8)
    mask[2:5, 3:7] = 1
    valid = np.zeros((12, 10), bool)
    valid[:6] = True

    folder.save_corrections(mask, valid, image_fingerprint(image), threshold=0.4)

    loaded = folder.load_corrections(image_fingerprint(image.copy()))
    assert loaded is not None
    np.testing.assert_array_equal(loaded[0], mask)
    np.testing.assert_array_equal(loaded[1], valid)
    assert folder.metadata()["corrected_pixels"] == 60
    assert folder.metadata()["threshold"] == 0.4
    other = image.copy()
    other[0, 0] += 1
    assert folder.load_corrections(image_fingerprint(other)) is None
    assert ProjectFolder(tmp_path / "empty").load_corrections(image_fingerprint(image)) is None


def test_image_fingerprint_tells_shape_and_type_apart():
    flat = np.zeros((4, 6), np.uint8)
    assert image_fingerprint(flat) != image_fingerprint(flat.reshape(6, 4))
    assert image_fingerprint(flat) != image_fingerprint(flat.astype(np.int8))
    assert image_fingerprint(flat) == image_fingerprint(np.zeros((4, 6), np.uint8))
