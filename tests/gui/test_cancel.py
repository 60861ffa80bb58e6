"""Cancel during inference and Stop during training end the job cleanly."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine.data import make_sample
from napari_segrefine.widgets._state import state_for

from .conftest import open_widget, segment, wait_for

pytestmark = pytest.mark.gui


def _click_on_first_event(worker, button) -> list:
    seen = []

    def clicked(event):
        seen.append(event)
        if len(seen) == 2:  # the first real step (event 1 is "starting" / "loading")
            button.native.click()

    worker.yielded.connect(clicked)
    return seen


def test_cancel_during_inference_leaves_no_layers(qtbot, viewer, notifications):
    image = viewer.add_image(make_sample("roads", (256, 256), seed=2).image, name="roads")
    widget = open_widget(viewer, "Segment")
    widget.image.value = image
    widget.device.value = "cpu"
    widget.tile_size.value, widget.overlap.value = 64, 0.5

    worker = widget.run()
    seen = _click_on_first_event(worker, widget.cancel_button)
    wait_for(qtbot, widget.runner)

    total_tiles = seen[-1].total
    assert len(seen) < total_tiles
    assert "roads mask" not in viewer.layers
    assert state_for(viewer).existing("roads").prediction is None
    assert "cancelled" in widget.status.value
    assert "Segment cancelled" in notifications.messages()
    assert widget.run_button.enabled and not widget.cancel_button.enabled


def test_stop_during_training_keeps_the_model_and_repredicts(qtbot, viewer, image_layer):
    segment(qtbot, viewer, image_layer)
    viewer.layers["salient corrections"].data[:40] = 1
    widget = open_widget(viewer, "Fine-tune")
    widget.images.value = [image_layer]
    widget.steps.value, widget.batch_size.value, widget.crop.value = 500, 1, 64
    widget.device.value = "cpu"

    worker = widget.train()
    _click_on_first_event(worker, widget.stop_button)
    wait_for(qtbot, widget.runner)

    assert "stopped by you" in widget.status.value
    steps = len(widget.plot.steps)
    assert 1 <= steps < 500
    assert not state_for(viewer).training
    assert "salient changes" in viewer.layers
    assert np.isin(viewer.layers["salient changes"].data, [0, 1, 2]).all()
