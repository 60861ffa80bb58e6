"""Wrong layer choices and failing library calls become notifications, never crashes."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine.correction import session as session_module
from napari_segrefine.errors import SegRefineError
from napari_segrefine.widgets._common import require_image
from napari_segrefine.widgets._models import CHECKPOINT

from .conftest import open_widget, segment, wait_for

pytestmark = pytest.mark.gui


def test_every_widget_explains_that_there_is_no_image(viewer, notifications):
    open_widget(viewer, "Segment").run()
    open_widget(viewer, "Refine").run()
    open_widget(viewer, "Correct").next_patch()
    open_widget(viewer, "Fine-tune").train()
    open_widget(viewer, "Export").export()

    errors = notifications.errors
    assert len(errors) == 5
    assert "no image layer" in errors[0] and "no image layer" in errors[1]
    assert "no image layer" in errors[2]
    assert "no model yet" in errors[3]
    assert "no labels layer" in errors[4]


def test_labels_layers_are_not_offered_as_images(viewer, notifications):
    labels = viewer.add_labels(np.zeros((64, 64), np.uint8), name="annotations")
    widget = open_widget(viewer, "Segment")

    assert labels not in widget.image.choices
    widget.run()
    assert "no image layer" in notifications.errors[0]
    with pytest.raises(SegRefineError, match="labels layer, not an image"):
        require_image(labels)


def test_steps_out_of_order_and_mismatched_shapes(qtbot, viewer, image_layer, notifications):
    open_widget(viewer, "Refine").run()
    assert "run Segment first" in notifications.errors[-1]

    segment(qtbot, viewer, image_layer)
    viewer.layers.remove("salient mask")
    viewer.add_labels(np.zeros((50, 50), np.uint8), name="salient mask")
    finetune = open_widget(viewer, "Fine-tune")
    finetune.images.value = [image_layer]
    assert finetune.train() is None  # a stranger's layer is not taken for corrections
    assert "no corrected pixels" in notifications.errors[-1]
    open_widget(viewer, "Correct").start_editing()
    assert viewer.layers["salient mask"].data.shape == (96, 96)  # the session's again

    export = open_widget(viewer, "Export")
    export.labels_layer.value = viewer.layers["salient mask"]
    assert export.export() is None
    assert "choose an output folder" in notifications.errors[-1]


def test_library_errors_in_the_worker_become_notifications(
    qtbot, viewer, image_layer, notifications, monkeypatch
):
    widget = open_widget(viewer, "Segment")
    widget.picker.weights.value = CHECKPOINT
    widget.picker.checkpoint.value = "/nowhere/model.safetensors"
    widget.run()
    wait_for(qtbot, widget.runner)
    assert "no checkpoint file" in notifications.errors[-1]
    assert "no checkpoint file" in widget.status.value  # what to do, on the status line too

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")
        yield

    monkeypatch.setattr(session_module, "iter_predict", broken)
    widget.picker.weights.value = widget.picker.weights.choices[0]
    widget.run()
    wait_for(qtbot, widget.runner)
    assert "failed unexpectedly (RuntimeError: out of memory)" in notifications.errors[-1]
    assert widget.status.value == "Segment: failed (see the notification)"
    assert "salient mask" not in viewer.layers
    assert widget.run_button.enabled
