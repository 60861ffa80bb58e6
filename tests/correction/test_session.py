"""`CorrectionSession` without Qt: predict, threshold, edits, undo, review, samples."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from napari_segrefine.correction import GAINED, LOST, CorrectionSession
from napari_segrefine.engine import Prediction, boundary_map, threshold_mask
from napari_segrefine.errors import SegRefineError
from napari_segrefine.models import create_model


def _prediction(prob: np.ndarray, threshold: float = 0.5) -> Prediction:
    return Prediction(prob, threshold_mask(prob, threshold), boundary_map(prob), threshold)


@pytest.fixture
def ramp() -> np.ndarray:
    return np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))


@pytest.fixture
def session(tmp_path, ramp) -> CorrectionSession:
    image = (ramp * 255).astype(np.uint8)
    session = CorrectionSession(image, name="ramp", autosave_root=tmp_path)
    session.set_prediction(_prediction(ramp))
    return session


def test_threshold_moves_keep_corrections_and_never_touch_the_record(session):
    session.paint((slice(0, 4), slice(0, 4)), 1)  # foreground where p is low
    record = session.valid.copy()
    mask_array = session.mask

    session.set_threshold(0.9)

    assert session.mask is mask_array  # updated in place
    assert session.mask[:4, :4].all()
    assert session.mask[10, 10] == 0 and session.mask[10, 31] == 1
    np.testing.assert_array_equal(session.valid, record)
    assert session.history.labels == ["edit"]


def test_undo_and_redo_move_mask_and_record_together(session):
    original = session.mask.copy()
    session.paint((slice(5, 9), slice(20, 24)), 0)
    edited = session.mask.copy()

    assert session.undo()
    np.testing.assert_array_equal(session.mask, original)
    assert not session.valid.any()
    with pytest.raises(SegRefineError, match="no corrected pixels"):
        session.training_samples()

    assert session.redo()
    np.testing.assert_array_equal(session.mask, edited)
    assert session.valid[5:9, 20:24].all() and session.valid.sum() == 16
    assert not session.redo()


def test_an_undone_stroke_is_not_trained_on(session):
    session.paint((slice(0, 8), slice(0, 8)), 1)
    session.paint((slice(20, 30), slice(0, 8)), 1)
    session.undo()

    ((_, label, valid),) = session.training_samples()

    assert valid[:8, :8].all() and valid.sum() == 64
    assert not valid[20:30].any()
    assert label[:8, :8].all()


def test_a_viewer_stroke_is_recorded_from_its_atoms_and_undone(session):
    from types import SimpleNamespace

    key = (slice(2, 4), slice(28, 30))
    old = session.mask[key].copy()
    session.mask[key] = 0  # the viewer wrote this
    atom = SimpleNamespace(slice_key=key, mask=None, old_values=old)

    assert session.record_stroke([atom]) == key
    assert session.valid[key].all()

    session.undo()
    np.testing.assert_array_equal(session.mask[key], old)
    assert not session.valid.any()


def test_confirming_by_painting_the_record_is_undone_too(session):
    from types import SimpleNamespace

    key = (slice(0, 2), slice(0, 2))
    session.valid[key] = 1  # the viewer painted the corrections layer
    atom = SimpleNamespace(slice_key=key, mask=None, old_values=np.zeros((2, 2), np.uint8))

    assert session.record_stroke([atom], on="valid") == key
    session.undo()
    assert not session.valid.any()


def test_refinement_is_one_undo_step_and_keeps_corrections(session):
    session.paint((slice(0, 2), slice(30, 32)), 0)
    refined = np.zeros_like(session.mask)

    before = session.apply_refined(refined)

    assert session.mask[0:2, 30:32].sum() == 0 and session.mask.sum() == 0
    assert session.refine_grid(8).shape == (4, 4)
    session.undo()
    np.testing.assert_array_equal(session.mask, before)


def test_a_stroke_made_while_refining_survives_the_refinement(session):
    proposal = session.propose_refined(np.zeros_like(session.mask))  # in a worker
    session.paint((slice(0, 2), slice(30, 32)), 1)  # the user paints meanwhile

    session.apply_refined(proposal=proposal)

    assert session.mask[0:2, 30:32].all() and session.mask.sum() == 4


def test_review_queue_confirms_the_current_patch_and_moves_on(session):
    first = session.next_patch(8)
    session.confirm_patch()

    assert session.valid[first.slices].all()
    second = session.next_patch(8)
    assert second is not None and second.slices != first.slices
    session.undo()
    assert not session.valid.any()


def test_a_stack_is_reviewed_slice_by_slice(tmp_path, ramp):
    stack = np.stack([ramp, ramp[::-1]])
    session = CorrectionSession(stack, name="stack", rgb=False, autosave_root=tmp_path)
    session.set_prediction(_prediction(stack))

    with pytest.raises(SegRefineError, match="which slice"):
        session.rank(8)
    patch = session.next_patch(8, index=1)
    session.confirm_patch()

    assert session.valid[1][patch.slices].all() and not session.valid[0].any()
    assert len(session.training_samples()) == 1


def _correct_both_classes(session: CorrectionSession, slices: tuple[int, ...]) -> None:
    """One corrected pixel of each class in a corner of each slice: the queue then ranks
    by the model (before, by the image's two-class patches)."""
    for index in slices:
        session.paint((index, slice(0, 1), slice(0, 1)), 0)
        session.paint((index, slice(0, 1), slice(31, 32)), 1)
    assert session.corrections_hold_both_classes()


def test_before_both_classes_are_corrected_the_queue_offers_two_class_patches(tmp_path):
    image = np.zeros((32, 32), np.uint8)
    image[20:28, 4:8] = 200  # an eighth of the patch at (16, 0) is bright
    prob = np.full((32, 32), 0.02, np.float32)
    prob[:16, 16:] = 0.5  # where the model is unsure: no object there
    session = CorrectionSession(image, name="cells", autosave_root=tmp_path)
    session.set_prediction(_prediction(prob))

    first = session.next_patch(16)
    assert (first.top, first.left) == (16, 0) and first.mixture == pytest.approx(0.25)
    session.paint(first.slices, (image[first.slices] > 100).astype(np.uint8))

    assert session.corrections_hold_both_classes()
    second = session.next_patch(16)
    assert (second.top, second.left) == (0, 16) and second.uncertainty == pytest.approx(1.0)
    session.undo()
    assert session.next_patch(16) == first


def test_a_flat_image_is_ranked_by_the_model_from_the_start(tmp_path):
    prob = np.full((32, 32), 0.02, np.float32)
    prob[16:, :16] = 0.5  # where the model is unsure
    flat = np.full((32, 32), 9, np.uint8)
    session = CorrectionSession(flat, name="flat", autosave_root=tmp_path)
    session.set_prediction(_prediction(prob))

    first = session.next_patch(16)
    assert (first.top, first.left) == (16, 0) and first.mixture == 0
    assert first.uncertainty == pytest.approx(1.0)


def test_the_changes_a_new_prediction_would_make_leave_corrections_out(tmp_path):
    prob = np.full((32, 48), 0.3, np.float32)
    prob[16:, 32:] = 0.9  # an object the first model found
    session = CorrectionSession(np.zeros((32, 48), np.uint8), name="c", autosave_root=tmp_path)
    session.set_prediction(_prediction(prob))
    session.paint((slice(16, 17), slice(32, 33)), 1)  # a corrected pixel of the object
    updated = np.full((32, 48), 0.3, np.float32)
    updated[:2, :2] = 0.9  # the update drops the object and adds a speck

    changes = session.proposed_changes(_prediction(updated))

    assert (changes[:2, :2] == GAINED).all() and changes[16, 32] == 0
    assert np.count_nonzero(changes == LOST) == 16 * 16 - 1
    assert np.count_nonzero(changes) == 16 * 16 - 1 + 4
    assert session.mask[16:, 32:].all()  # pure: nothing set yet


def test_before_both_classes_the_queue_of_a_stack_skips_a_slice_of_noise(tmp_path):
    rng = np.random.default_rng(0)
    noise = rng.integers(10, 30, (32, 32)).astype(np.uint8)  # an empty slice: noise only
    cells = noise.copy()
    cells[8:24, 20:28] = 220  # the other slice holds an object
    stack = np.stack([noise, cells])
    session = CorrectionSession(stack, name="stack", rgb=False, autosave_root=tmp_path)
    session.set_prediction(_prediction(np.full(stack.shape, 0.02, np.float32)))

    patch = session.next_patch(16)

    assert session.current[0] == 1 and patch.mixture > 0.4


def test_the_queue_of_a_stack_goes_to_the_slice_where_the_model_is_least_sure(tmp_path, ramp):
    sure = np.where(ramp > 0.5, 0.99, 0.01).astype(np.float32)
    stack = np.stack([sure, ramp, sure])
    session = CorrectionSession(stack, name="stack", rgb=False, autosave_root=tmp_path)
    session.set_prediction(_prediction(stack))
    _correct_both_classes(session, slices=(0, 2))

    patch = session.next_patch(8)

    assert session.current == (1, patch)
    assert patch == session.rank(8, index=1)[0]
    session.confirm_patch()
    assert session.valid[1][patch.slices].all() and session.valid.sum() == 64 + 2 * 2


def test_the_queue_of_a_stack_spreads_over_equally_unsure_slices(tmp_path, ramp):
    stack = np.stack([ramp, ramp])
    session = CorrectionSession(stack, name="stack", rgb=False, autosave_root=tmp_path)
    session.set_prediction(_prediction(stack))
    _correct_both_classes(session, slices=(0, 1))

    first = session.next_patch(8)
    assert session.current[0] == 0
    session.confirm_patch()
    second = session.next_patch(8)

    assert session.current[0] == 1 and second.slices == first.slices


def test_multiclass_results_go_to_classes_and_leave_the_binary_mask(session, ramp):
    binary = session.mask.copy()
    probabilities = np.stack([1 - ramp, ramp * 0.5, ramp * 0.5])
    classes = Prediction(probabilities, probabilities.argmax(0).astype(np.uint8),
                         boundary_map(ramp), num_classes=3)  # fmt: skip

    session.set_prediction(classes)

    np.testing.assert_array_equal(session.mask, binary)
    assert session.classes is classes.mask and session.prediction.is_binary
    session.rank(8)  # the binary loop goes on
    only_classes = CorrectionSession(ramp, name="c", autosave_root=session.autosave_root)
    only_classes.set_prediction(classes)
    with pytest.raises(SegRefineError, match="3-class"):
        only_classes.rank(8)


def test_model_update_hook_sees_the_corrections_and_keeps_them(session):
    session.paint((slice(0, 4), slice(0, 32)), 1)
    seen = {}

    def update(image, mask, valid):
        seen["valid"] = int(valid.sum())
        return np.zeros(mask.shape, np.float32)

    prediction = session.update_model(update)

    assert seen["valid"] == 128
    assert not prediction.mask.any()
    assert session.mask[:4].all() and session.mask[4:].sum() == 0


def test_predict_runs_the_model_and_cancel_stops_it(tmp_path):
    image = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    model = create_model("basnet_lite")
    session = CorrectionSession(image, name="noise", autosave_root=tmp_path)

    prediction = session.predict(model, device="cpu")

    assert prediction.mask.shape == (64, 64) and session.mask.shape == (64, 64)
    stop = threading.Event()
    stop.set()
    from napari_segrefine.errors import Cancelled

    with pytest.raises(Cancelled):
        list(session.iter_predict(model, device="cpu", stop=stop))


def test_shapes_are_checked(session):
    with pytest.raises(SegRefineError, match="segment this image again"):
        session.set_prediction(_prediction(np.zeros((8, 8), np.float32)))
    empty = CorrectionSession(np.zeros((8, 8), np.uint8))
    with pytest.raises(SegRefineError, match="run Segment first"):
        empty.confirm((slice(0, 2), slice(0, 2)))
