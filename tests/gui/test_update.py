"""Correct dock: "Update now" and "Update as I correct" fit a head in a worker."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine.models.adapted import AdaptedModel
from napari_segrefine.widgets._state import state_for

from .conftest import open_widget, segment, wait_for

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
