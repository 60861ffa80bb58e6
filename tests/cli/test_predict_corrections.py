"""``predict --keep-corrections``: masks keep the pixels corrected in the plugin."""

from __future__ import annotations

import numpy as np

from napari_segrefine.correction import CorrectionSession
from napari_segrefine.engine import Prediction
from napari_segrefine.io import read_image

FIXED = (slice(10, 30), slice(20, 50))


def _correct_in_a_session(path, root=None) -> None:
    """What the plugin leaves behind: an autosave where a box was painted 1."""
    pixels = read_image(path).array
    session = CorrectionSession(pixels, name=path.name, rgb=True, source=path, autosave_root=root)
    zeros = np.zeros(pixels.shape[:2], np.float32)
    session.set_prediction(Prediction(zeros, zeros.astype(np.uint8), zeros))
    session.paint(FIXED, 1)
    session.save()


def test_masks_keep_the_corrected_pixels_of_images_that_have_them(cli, dataset, tmp_path):
    images, _ = dataset
    _correct_in_a_session(images / "a.png")
    plain = cli("predict", images, "--out", tmp_path / "plain", "--threshold", "0.99")
    kept = cli(
        "predict", images, "--out", tmp_path / "kept", "--threshold", "0.99", "--keep-corrections"
    )

    assert plain.code == 0 and kept.code == 0, kept.err
    assert "restored 600 corrected pixels of 'a.png'" in kept.out
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["a_mask.tif", "b_mask.tif"]
    before = read_image(tmp_path / "plain" / "a_mask.tif").array
    after = read_image(tmp_path / "kept" / "a_mask.tif").array
    assert (after[FIXED] == 1).all() and not (before[FIXED] == 1).all()
    outside = np.ones(after.shape, bool)
    outside[FIXED] = False
    np.testing.assert_array_equal(after[outside], before[outside])
    np.testing.assert_array_equal(
        read_image(tmp_path / "kept" / "b_mask.tif").array,
        read_image(tmp_path / "plain" / "b_mask.tif").array,
    )


def test_corrections_saved_in_a_project_folder_are_found_there(cli, dataset, tmp_path):
    images, _ = dataset
    project = tmp_path / "project"
    _correct_in_a_session(images / "a.png", root=project)

    beside = cli("predict", images / "a.png", "--out", tmp_path / "o1", "--keep-corrections")
    there = cli(
        "predict", images / "a.png", "--out", tmp_path / "o2", "--keep-corrections", project
    )

    assert beside.code == 0 and there.code == 0, there.err
    assert "restored" not in beside.out and "restored 600" in there.out
    assert (read_image(tmp_path / "o2" / "a_mask.tif").array[FIXED] == 1).all()
