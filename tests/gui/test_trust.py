"""The plugin a user can trust: undo undoes corrections, jobs stay under control,
multi-class results get their own layer, docks fit a small screen."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from app_model.types import KeyBinding

from napari_segrefine.correction import session as session_module
from napari_segrefine.data import make_sample
from napari_segrefine.engine import Prediction, Progress, boundary_map
from napari_segrefine.errors import SegRefineError
from napari_segrefine.widgets import finetune as finetune_module
from napari_segrefine.widgets._state import state_for

from .conftest import open_widget, segment, wait_for

pytestmark = pytest.mark.gui

DOCKS = ("Segment", "Refine", "Correct", "Fine-tune", "Export")


def _stroke(mask, center, value):
    with mask.block_history():
        mask.paint(center, value)


def test_undo_takes_back_the_stroke_and_its_record_so_it_is_not_trained_on(
    qtbot, viewer, image_layer, monkeypatch
):
    segment(qtbot, viewer, image_layer)
    mask = viewer.layers["salient mask"]
    corrections = viewer.layers["salient corrections"]
    mask.brush_size = 5
    _stroke(mask, (20, 20), 1 - int(mask.data[20, 20]))
    kept = mask.data[20, 20]
    before_second = mask.data[70, 70]
    _stroke(mask, (70, 70), 1 - int(before_second))
    assert corrections.data[70, 70] == 1

    mask.undo()  # what Ctrl+Z calls on the layer

    assert mask.data[70, 70] == before_second and corrections.data[70, 70] == 0
    assert corrections.data[20, 20] == 1 and mask.data[20, 20] == kept
    trained_on = []

    def record_samples(model, samples, *args, **kwargs):
        trained_on.append(samples)
        raise SegRefineError("samples recorded; no training in this test")
        yield  # a generator, as iter_finetune

    monkeypatch.setattr(finetune_module, "iter_finetune", record_samples)
    finetune = open_widget(viewer, "Fine-tune")
    finetune.images.value = [image_layer]
    finetune.train()
    wait_for(qtbot, finetune.runner)
    ((_, _, valid),) = trained_on[0]
    assert valid[20, 20] and not valid[70, 70]

    mask.redo()
    assert corrections.data[70, 70] == 1 and mask.data[70, 70] != before_second


@pytest.fixture
def stuck_forward(monkeypatch):
    """A prediction that sits in one long step (a one-tile forward) until released."""
    release = threading.Event()

    def one_tile(model, image, **kwargs):
        yield Progress(0, 1, "starting")
        release.wait(30)
        raise AssertionError("the abandoned forward's result must not be used")

    monkeypatch.setattr(session_module, "iter_predict", one_tile)
    yield release
    release.set()


def _start_segment(viewer, layer):
    widget = open_widget(viewer, "Segment")
    widget.image.value, widget.device.value = layer, "cpu"
    return widget, widget.run()


def test_cancel_ends_a_one_tile_prediction_at_once(qtbot, viewer, image_layer, stuck_forward):
    widget, worker = _start_segment(viewer, image_layer)
    qtbot.waitUntil(lambda: "starting" in widget.status.value, timeout=10_000)

    widget.cancel_button.native.click()
    wait_for(qtbot, widget.runner, timeout=5_000)

    assert "cancelled" in widget.status.value
    assert "salient mask" not in viewer.layers
    assert not state_for(viewer).existing("salient").jobs.busy


def test_deleting_the_image_cancels_its_job(qtbot, viewer, image_layer, stuck_forward):
    widget, worker = _start_segment(viewer, image_layer)
    qtbot.waitUntil(lambda: "starting" in widget.status.value, timeout=10_000)

    viewer.layers.remove(image_layer)
    wait_for(qtbot, widget.runner, timeout=5_000)

    assert "cancelled" in widget.status.value
    assert "salient" not in state_for(viewer).views


def test_closing_the_fine_tune_dock_stops_training_and_frees_segment(qtbot, viewer, image_layer):
    segment(qtbot, viewer, image_layer)
    state_for(viewer).existing("salient").confirm((slice(0, 40), slice(0, 96)))
    finetune = open_widget(viewer, "Fine-tune")
    finetune.images.value = [image_layer]
    finetune.steps.value, finetune.batch_size.value, finetune.crop.value = 5000, 1, 64
    finetune.device.value = "cpu"
    worker = finetune.train()
    qtbot.waitUntil(lambda: len(finetune.plot.steps) >= 1, timeout=30_000)

    viewer.window.remove_dock_widget(finetune.native)  # its close button
    qtbot.waitUntil(lambda: not worker.is_running, timeout=30_000)

    assert len(finetune.plot.steps) < 5000
    assert not state_for(viewer).training
    assert segment(qtbot, viewer, image_layer) is not None


def test_a_multiclass_result_gets_its_own_layer(qtbot, viewer, image_layer, monkeypatch):
    segment(qtbot, viewer, image_layer)
    binary = viewer.layers["salient mask"].data.copy()
    prob = np.random.default_rng(0).dirichlet([1, 1, 1], size=(96, 96)).astype(np.float32)
    prob = np.moveaxis(prob, -1, 0)

    def three_classes(model, image, **kwargs):
        yield Progress(1, 1, "done")
        labels = prob.argmax(0).astype(np.uint8)
        return Prediction(prob, labels, boundary_map(prob[1]), num_classes=3)

    monkeypatch.setattr(session_module, "iter_predict", three_classes)
    segment(qtbot, viewer, image_layer)

    classes = viewer.layers["salient classes"].data
    assert set(np.unique(classes)) <= {0, 1, 2} and classes.max() == 2
    np.testing.assert_array_equal(viewer.layers["salient mask"].data, binary)
    assert not viewer.layers["salient corrections"].data.any()


def test_next_patch_and_confirm_have_keyboard_shortcuts(viewer):
    open_widget(viewer, "Correct")
    keys = {str(k) for k in viewer.keymap}
    assert {str(KeyBinding.from_str("Shift+N")), str(KeyBinding.from_str("Shift+C"))} <= keys


def test_all_docks_fit_a_1280_by_800_screen(qtbot, viewer, image_layer):
    for name in DOCKS:
        open_widget(viewer, name)
    window = viewer.window._qt_window
    window.resize(1280, 800)
    qtbot.wait(50)
    hint = window.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 800
    assert window.width() <= 1280 and window.height() <= 800


def test_soak_the_loop_with_layers_removed_and_jobs_cancelled(qtbot, viewer, notifications):
    pixels = make_sample("salient", (96, 96), seed=3).image
    for round_ in range(3):
        layer = viewer.add_image(pixels, name="soak")
        segment(qtbot, viewer, layer)
        refine = open_widget(viewer, "Refine")
        refine.image.value, refine.patch_size.value = layer, 32
        refine.run()
        if round_ == 1:
            refine.cancel_button.native.click()
        wait_for(qtbot, refine.runner)
        mask = viewer.layers["soak mask"]
        _stroke(mask, (10 + round_, 10), 1)
        mask.undo()
        mask.redo()
        finetune = open_widget(viewer, "Fine-tune")
        finetune.images.value = [layer]
        finetune.steps.value, finetune.batch_size.value, finetune.crop.value = 50, 1, 64
        finetune.device.value = "cpu"
        finetune.train()
        finetune.stop_button.native.click()
        wait_for(qtbot, finetune.runner)
        for name in [n.name for n in viewer.layers if n.name.startswith("soak")]:
            viewer.layers.remove(name)
        assert "soak" not in state_for(viewer).views
    unexpected = [e for e in notifications.errors if "failed unexpectedly" in e]
    assert not unexpected
