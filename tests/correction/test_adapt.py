"""`CorrectionSession.iter_adapt`: a head fitted to the corrections, guarded."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from napari_segrefine.correction import CorrectionSession
from napari_segrefine.correction.edits import change_map, keep_corrections
from napari_segrefine.engine import FirstPart
from napari_segrefine.errors import SegRefineError
from napari_segrefine.generators import drain
from napari_segrefine.models import create_model
from napari_segrefine.models.adapted import AdaptedModel
from napari_segrefine.train.head import HeadConfig

FAST = HeadConfig(num_trees=8, guard_trees=4, max_pixels=4000, deep="outputs")


KEY = (slice(16, 80), slice(16, 48))  # the painted region: half the disk and around it


@pytest.fixture
def painted(tmp_path):
    """A session of a bright disk whose left half the user painted, its label, model."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :96]
    label = ((yy - 48) ** 2 + (xx - 40) ** 2 < 20**2).astype(np.uint8)
    image = (label * 120 + 60 + rng.normal(0, 12, label.shape)).clip(0, 255).astype(np.uint8)
    session = CorrectionSession(image, name="disk", autosave_root=tmp_path)
    model = create_model("basnet_lite", width=4)
    session.predict(model)
    session.paint(KEY, label[KEY])
    return session, label, model


def test_adapting_to_corrections_predicts_what_the_user_painted(painted):
    session, label, model = painted

    result, prediction = drain(session.iter_adapt(model, FAST))

    assert result.adopted and isinstance(result.model, AdaptedModel)
    assert result.pixels == session.corrected_pixels == 64 * 32
    right = (slice(None), slice(48, None))  # never painted
    pred = prediction.mask[right] > 0
    assert (pred & (label[right] > 0)).sum() / (pred | (label[right] > 0)).sum() > 0.8
    session.set_prediction(prediction)
    np.testing.assert_array_equal(session.mask[KEY], label[KEY])  # corrections kept


def test_a_refused_head_leaves_no_prediction_to_show(painted):
    session, _, model = painted
    refuse = HeadConfig(num_trees=4, guard_trees=2, max_pixels=2000, deep="none", tolerance=-1)

    result, prediction = drain(session.iter_adapt(model, refuse))

    assert prediction is None and not result.adopted
    assert result.reason.startswith("not adopted")


def test_other_images_corrections_train_the_head_of_this_one(painted, tmp_path):
    session, label, model = painted
    other = CorrectionSession(session.image.copy(), name="twin", autosave_root=tmp_path / "o")
    other.predict(model)
    other.paint((slice(16, 80), slice(56, 80)), label[16:80, 56:80])
    untouched = CorrectionSession(session.image.copy(), name="new", autosave_root=tmp_path)
    untouched.predict(model)

    result, _ = drain(session.iter_adapt(model, FAST, also_from=[other, untouched, session]))

    assert result.pixels == 64 * 32 + 64 * 24  # both images' corrections, each once
    with pytest.raises(SegRefineError, match="'new' has no corrected pixels"):
        drain(untouched.iter_adapt(model, FAST, also_from=[session]))


def test_an_update_can_be_undone_keeping_every_correction(painted):
    session, label, model = painted
    first = session.prediction
    result, prediction = drain(session.iter_adapt(model, FAST))
    session.show_update(prediction)
    session.set_threshold(0.45)  # a threshold move keeps the update undoable
    more = (slice(80, 90), slice(0, 10))
    session.paint(more, np.ones((10, 10), np.uint8))  # a correction made after the update

    session.undo_update()

    assert session.prediction.probabilities is first.probabilities
    assert session.prediction.threshold == 0.45
    unchecked = session.valid == 0
    np.testing.assert_array_equal(session.mask[unchecked], (first.probabilities > 0.45)[unchecked])
    np.testing.assert_array_equal(session.mask[KEY], label[KEY])
    assert session.mask[more].all()
    with pytest.raises(SegRefineError, match="no update of .disk. to undo: none was shown"):
        session.undo_update()


def test_a_new_prediction_leaves_no_update_to_undo(painted):
    session, _, model = painted
    result, prediction = drain(session.iter_adapt(model, FAST))
    session.show_update(prediction)
    session.predict(model)
    with pytest.raises(SegRefineError, match="no update"):
        session.undo_update()


@pytest.fixture
def small_tiles(monkeypatch):
    """`predict` tiles images over 64 px a side into 64 px tiles, as it tiles mosaics."""
    module = importlib.import_module("napari_segrefine.engine.default_tiling")
    monkeypatch.setattr(module, "WHOLE_IMAGE_LIMIT", 64)
    monkeypatch.setattr(module, "DEFAULT_TILE", 64)


VIEW = (0, 30, 0, 30)  # the part in view: it touches one of the four tiles


def _first_part(session, model):
    """The head's prediction and its `FirstPart` event for ``VIEW``."""
    events = []
    result, prediction = drain(session.iter_adapt(model, FAST, first=VIEW), events.append)
    parts = [event for event in events if isinstance(event, FirstPart)]
    assert result.adopted and len(parts) == 1
    return prediction, parts[0]


def test_an_update_shows_the_part_in_view_first(painted, small_tiles):
    session, label, model = painted
    session.predict(model)  # on the small tiles
    first, before_mask = session.prediction, session.mask.copy()
    prediction, part = _first_part(session, model)
    np.testing.assert_array_equal(part.probabilities, prediction.probabilities[:30, :30])

    merged, changes = session.propose_part(part)
    session.show_part(merged)

    inside, outside = np.zeros(label.shape, bool), np.ones(label.shape, bool)
    inside[:30, :30], outside[:30, :30] = True, False
    shown = keep_corrections(prediction.mask, before_mask, session.valid)
    np.testing.assert_array_equal(session.mask[inside], shown[inside])
    np.testing.assert_array_equal(session.mask[outside], before_mask[outside])
    np.testing.assert_array_equal(changes, change_map(before_mask, session.mask))
    assert changes[inside].any() and not changes[outside].any()
    np.testing.assert_array_equal(session.mask[KEY], label[KEY])  # corrections kept

    whole_changes = session.proposed_changes(prediction)  # against the mask before the part
    np.testing.assert_array_equal(whole_changes, change_map(before_mask, shown))
    session.show_update(prediction)
    np.testing.assert_array_equal(session.mask, shown)
    assert session.drop_part() is None  # the whole update is shown: nothing to drop
    session.undo_update()  # back to what was shown before the update, not to the part
    assert session.prediction.probabilities is first.probabilities
    np.testing.assert_array_equal(session.mask, before_mask)


def test_an_update_that_does_not_finish_takes_its_part_back(painted, small_tiles):
    session, _, model = painted
    session.predict(model)
    first, before_mask = session.prediction, session.mask.copy()
    _, part = _first_part(session, model)
    merged, shown = session.propose_part(part)
    session.show_part(merged)

    changes = session.drop_part()

    assert session.prediction.probabilities is first.probabilities
    np.testing.assert_array_equal(session.mask, before_mask)
    np.testing.assert_array_equal(changes > 0, shown > 0)  # what the part had changed
    with pytest.raises(SegRefineError, match="no update"):
        session.undo_update()  # no update was shown
