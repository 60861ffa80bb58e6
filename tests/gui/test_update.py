"""Correct dock: "Update now" and "Update as I correct" fit a head in a worker."""

from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest

from napari_segrefine.correction import CorrectionSession
from napari_segrefine.models.adapted import AdaptedModel
from napari_segrefine.widgets._state import state_for
from napari_segrefine.widgets.correct import _camera, _canvas_size, visible_part

from .conftest import WAIT_MS, open_widget, segment, wait_for

pytestmark = pytest.mark.gui


def _paint_both_classes(session):
    key = (slice(16, 80), slice(16, 48))
    values = np.zeros((64, 32), np.uint8)
    values[16:48, 8:24] = 1
    session.paint(key, values)
    return key, values


def test_update_now_fits_a_head_and_keeps_the_corrections(qtbot, viewer, image_layer):
    segment(qtbot, viewer, image_layer)
    session = state_for(viewer).existing("salient")
    key, values = _paint_both_classes(session)
    before = session.mask.copy()
    widget = open_widget(viewer, "Correct")
    widget.image.value = image_layer

    worker = widget.update_now()
    assert worker is not None
    wait_for(qtbot, widget.updater)

    assert widget.update_status.value.startswith("Update: adopted")
    unchecked = session.valid == 0
    share = np.count_nonzero((before != session.mask) & unchecked) / np.count_nonzero(unchecked)
    assert share > 0
    changed = f"it changed {share:.1%} of the mask you have not checked"
    assert changed in widget.update_status.value
    changes = viewer.layers["salient changes"].data  # 1 gained, 2 lost, as the mask moved
    np.testing.assert_array_equal(changes > 0, before != session.mask)
    np.testing.assert_array_equal(changes == 1, (session.mask > 0) & (before == 0))
    np.testing.assert_array_equal(session.mask[key], values)
    assert not isinstance(state_for(viewer).model, AdaptedModel)  # stays with this image

    assert widget.undo_button.enabled
    updated = session.mask.copy()
    widget.undo_update()
    np.testing.assert_array_equal(session.mask, before)  # as before the update
    assert "Update undone" in widget.update_status.value and not widget.undo_button.enabled
    undone = viewer.layers["salient changes"].data
    np.testing.assert_array_equal(undone > 0, updated != before)
    assert widget.update_now() is not None
    wait_for(qtbot, widget.updater)
    assert widget.undo_button.enabled  # the same update again
    segment(qtbot, viewer, image_layer)  # a new prediction: nothing left to undo
    assert not widget.undo_button.enabled


def test_live_updates_follow_each_edit(qtbot, viewer, image_layer):
    segment(qtbot, viewer, image_layer)
    session = state_for(viewer).existing("salient")
    widget = open_widget(viewer, "Correct")
    widget.image.value = image_layer
    widget.start_editing()  # watches the session's edits
    widget.live.value = True

    _paint_both_classes(session)

    assert widget.updater.busy
    wait_for(qtbot, widget.updater)
    assert widget.update_status.value.startswith("Update: ")


def test_an_update_learns_from_every_open_images_corrections(qtbot, viewer, image_layer):
    second = viewer.add_image(image_layer.data.copy(), name="second")
    for layer in (image_layer, second):
        segment(qtbot, viewer, layer)
        _paint_both_classes(state_for(viewer).existing(layer.name))
    widget = open_widget(viewer, "Correct")
    widget.image.value = image_layer
    assert widget.pooled.value  # the default

    widget.update_now()
    wait_for(qtbot, widget.updater)
    assert f"{2 * 64 * 32} pixels" in widget.update_status.value

    widget.pooled.value = False
    widget.update_now()
    wait_for(qtbot, widget.updater)
    assert f"{64 * 32} pixels" in widget.update_status.value


@pytest.fixture
def small_tiles(monkeypatch):
    """`predict` tiles images over 64 px a side into 64 px tiles, as it tiles mosaics."""
    module = importlib.import_module("napari_segrefine.engine.default_tiling")
    monkeypatch.setattr(module, "WHOLE_IMAGE_LIMIT", 64)
    monkeypatch.setattr(module, "DEFAULT_TILE", 64)


def _zoom_into_the_top_left(viewer):
    """16 px or so of the image's top left corner in view: one of its four 64 px tiles."""
    camera = _camera(viewer)
    camera.center, camera.zoom = (12, 12), min(_canvas_size(viewer)) / 16


def test_visible_part_is_what_the_canvas_shows(viewer, image_layer):
    _zoom_into_the_top_left(viewer)
    half = np.asarray(_canvas_size(viewer)) * 8 / min(_canvas_size(viewer))  # in pixels
    low, high = np.floor(12 - half).clip(0), np.ceil(12 + half)
    assert visible_part(viewer, image_layer, (96, 96)) == (low[0], high[0], low[1], high[1])
    assert max(high) < 32  # one 64 px tile of four
    viewer.dims.ndisplay = 3
    assert visible_part(viewer, image_layer, (96, 96)) is None  # no part first in 3D
    viewer.dims.ndisplay = 2
    _camera(viewer).center = (500, 500)
    assert visible_part(viewer, image_layer, (96, 96)) is None


def test_the_visible_part_of_a_stack_is_in_the_slice_shown(viewer):
    stack = viewer.add_image(np.zeros((3, 96, 96), np.uint8), name="stack")
    viewer.dims.set_point(0, 2)
    _zoom_into_the_top_left(viewer)
    part = visible_part(viewer, stack, (3, 96, 96))
    assert part[0] == 2 and part[1:] == visible_part(viewer, stack, (96, 96))


def test_an_update_shows_the_part_in_view_before_the_rest(qtbot, viewer, image_layer, small_tiles):
    segment(qtbot, viewer, image_layer)
    session = state_for(viewer).existing("salient")
    _paint_both_classes(session)
    before = session.mask.copy()
    widget = open_widget(viewer, "Correct")
    widget.image.value = image_layer
    _zoom_into_the_top_left(viewer)
    statuses, on_event = [], widget._update_event

    def record(*args):
        on_event(*args)
        statuses.append(widget.update_status.value)

    widget._update_event = record
    threads = []
    propose = session.propose_part

    def spy(part):
        threads.append(threading.current_thread())
        return propose(part)

    session.propose_part = spy
    widget.update_now()
    wait_for(qtbot, widget.updater)

    assert any("shown where you look; the rest of the image" in s for s in statuses), statuses
    assert threads and threading.main_thread() not in threads  # merged in the worker
    assert widget.update_status.value.startswith("Update: adopted")
    assert session.before_part is None and not np.array_equal(session.mask, before)
    widget.undo_update()
    np.testing.assert_array_equal(session.mask, before)  # back to before, part and all


def test_a_cancelled_update_takes_back_the_part_it_showed(
    qtbot, viewer, image_layer, small_tiles, monkeypatch
):
    segment(qtbot, viewer, image_layer)
    session = state_for(viewer).existing("salient")
    _paint_both_classes(session)
    before, first = session.mask.copy(), session.prediction
    widget = open_widget(viewer, "Correct")
    widget.image.value = image_layer
    _zoom_into_the_top_left(viewer)
    shown = []

    def show_part_then_cancel(merged):
        CorrectionSession.show_part(session, merged)
        shown.append(session.prediction.probabilities)
        widget.updater.cancel()  # as if the user pressed Cancel while the rest runs

    monkeypatch.setattr(session, "show_part", show_part_then_cancel)
    widget.update_now()
    wait_for(qtbot, widget.updater)

    assert len(shown) == 1  # the part was shown, then taken back
    assert not np.array_equal(shown[0], first.probabilities)
    assert session.prediction.probabilities is first.probabilities
    np.testing.assert_array_equal(session.mask, before)
    assert session.before_part is None and not widget.undo_button.enabled
    assert "cancel" in widget.update_status.value.lower()


def test_an_edit_while_the_rest_is_predicted_starts_the_next_update_at_once(
    qtbot, viewer, image_layer, small_tiles, monkeypatch
):
    """Live: the part in view stays, the rest is left, the update with the edit starts."""
    segment(qtbot, viewer, image_layer)
    session = state_for(viewer).existing("salient")
    first = session.prediction
    widget = open_widget(viewer, "Correct")
    widget.image.value = image_layer
    widget.start_editing()
    widget.live.value = True
    _zoom_into_the_top_left(viewer)
    parts, statuses = [], []

    def show_part_then_edit(merged):
        CorrectionSession.show_part(session, merged)
        parts.append(session.prediction)
        if len(parts) == 1:
            session.paint((slice(0, 8), slice(0, 8)), 0)  # the user goes on correcting
            statuses.append(widget.update_status.value)

    monkeypatch.setattr(session, "show_part", show_part_then_edit)
    _paint_both_classes(session)
    qtbot.waitUntil(lambda: len(parts) == 2, timeout=WAIT_MS)
    wait_for(qtbot, widget.updater)

    assert statuses == ["Update: stopping"]  # the first update stopped at once
    kept = parts[0].probabilities  # the first update's part, shown when the second began
    assert not np.array_equal(kept[:8, :8], first.probabilities[:8, :8])
    np.testing.assert_array_equal(kept[40:, 40:], first.probabilities[40:, 40:])
    assert widget.update_status.value.startswith("Update: adopted")
    assert session.before_part is None and session.valid[:8, :8].all()
    widget.undo_update()  # back to what was shown when the second update began
    np.testing.assert_array_equal(session.prediction.probabilities, kept)
