"""The whole loop on a small synthetic image: segment, threshold, refine, edit,
fine-tune, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_segrefine.data import make_sample
from napari_segrefine.io import read_image
from napari_segrefine.models import model_config
from napari_segrefine.widgets._state import state_for
from napari_segrefine.widgets.correct import _camera

from .conftest import foreground_share, open_widget, segment, wait_for

pytestmark = pytest.mark.gui


def test_segment_adds_three_layers_and_the_threshold_reuses_the_prediction(
    qtbot, viewer, image_layer
):
    widget = segment(qtbot, viewer, image_layer)
    prediction = state_for(viewer).existing("salient").prediction
    probability = viewer.layers["salient probability"]
    assert probability.contrast_limits == [0.0, 1.0]
    assert viewer.layers["salient boundary"].blending == "additive"
    mask = viewer.layers["salient mask"]
    assert mask.data.shape == (96, 96)
    assert widget.threshold.enabled

    cut = float(np.quantile(prediction.probabilities, 0.7))
    widget.threshold.value = round(float(np.clip(cut, 0.01, 0.99)), 2)

    expected = (prediction.probabilities > widget.threshold.value).astype(mask.data.dtype)
    np.testing.assert_array_equal(mask.data, expected)
    session = state_for(viewer).existing("salient")
    assert session.prediction.probabilities is prediction.probabilities
    assert not session.valid.any()  # a threshold move is not a correction


def test_segment_says_when_the_model_finds_nothing_and_what_to_do(qtbot, viewer, image_layer):
    torch.manual_seed(0)  # random weights, drawn the same every run: p near 0.5
    widget = segment(qtbot, viewer, image_layer, threshold=0.99)

    assert not viewer.layers["salient mask"].data.any()
    assert "the model marks nothing as foreground" in widget.status.value
    assert "Update now in the Correct dock" in widget.status.value


def test_full_loop_keeps_corrections_and_exports(qtbot, viewer, image_layer, tmp_path):
    segment_widget = segment(qtbot, viewer, image_layer)
    segment_widget.threshold.value = 0.5
    mask = viewer.layers["salient mask"]

    refine_widget = open_widget(viewer, "Refine")
    refine_widget.patch_size.value = 32
    refine_widget.run()
    wait_for(qtbot, refine_widget.runner)
    assert "salient before refine" not in viewer.layers  # made when first shown
    refine_widget.show_before.value = True
    assert not mask.visible
    refine_widget.show_before.value = False
    refined = np.array(mask.data, copy=True)
    before = viewer.layers["salient before refine"].data
    if not np.array_equal(refined, before):  # refinement is one undo step
        mask.undo()
        np.testing.assert_array_equal(mask.data, before)
        mask.redo()
        np.testing.assert_array_equal(mask.data, refined)

    correct = open_widget(viewer, "Correct")
    correct.patch_size.value = 32
    correct.start_editing()
    corrections = viewer.layers["salient corrections"]
    assert not corrections.data.any()
    mask.brush_size = 6
    row, col = _background_spot(mask.data)  # painting foreground there changes the mask
    with mask.block_history():  # one brush stroke
        mask.paint((row, col), 1)
        mask.paint((row, col + 6), 1)
    assert corrections.data[row, col] == 1 and corrections.data[row, col + 3] == 1
    rows, cols = np.nonzero(corrections.data)
    assert np.all(np.abs(rows - row) <= 4) and np.all((cols >= col - 4) & (cols <= col + 10))
    session = state_for(viewer).existing("salient")
    correct.next_patch()  # only foreground corrected yet: a patch of both classes first
    wait_for(qtbot, correct.runner)
    _, patch = session.current
    assert _camera(viewer).center[-2:] == pytest.approx(patch.center)
    assert "corrections of both classes" in correct.status.value
    correct.confirm_patch()
    assert corrections.data[patch.slices].all()
    wait_for(qtbot, correct.runner)

    finetune = open_widget(viewer, "Fine-tune")
    finetune.project.value = tmp_path / "project"
    state_for(viewer).flush_autosaves()
    (saved,) = (tmp_path / "project").glob("salient-*.segrefine.npz")
    with np.load(saved) as archive:
        np.testing.assert_array_equal(archive["valid"] > 0, corrections.data > 0)

    finetune.images.value = [image_layer]
    finetune.steps.value, finetune.batch_size.value, finetune.crop.value = 3, 2, 64
    finetune.device.value = "cpu"
    corrected, before = mask.data[20, 20], mask.data.copy()
    assert finetune.train() is not None
    wait_for(qtbot, finetune.runner)
    assert len(finetune.plot.steps) == 3
    provenance = model_config(state_for(viewer).model).provenance
    assert provenance["finetune"]["steps_done"] == 3
    assert "trained 3 steps" in segment_widget.model_info.value
    assert "salient changes" in viewer.layers
    assert mask.data[20, 20] == corrected  # re-prediction kept the correction
    session = state_for(viewer).existing("salient")
    unchecked = session.valid == 0
    share = np.count_nonzero((before != mask.data) & unchecked) / np.count_nonzero(unchecked)
    assert f"it changed {share:.1%} of the mask you have not checked" in finetune.status.value

    finetune.checkpoint.value = tmp_path / "tuned.safetensors"
    finetune.save()
    wait_for(qtbot, finetune.runner)
    assert (tmp_path / "tuned.safetensors").is_file()
    finetune.load()
    wait_for(qtbot, finetune.runner)
    loaded = model_config(state_for(viewer).model)
    assert loaded.provenance["trained_on"] == ["salient"]

    export = open_widget(viewer, "Export")
    export.labels_layer.value = mask
    export.folder.value = tmp_path / "out"
    export.probability.value = True
    export.export()
    wait_for(qtbot, export.runner)
    np.testing.assert_array_equal(
        read_image(tmp_path / "out" / "salient_mask.tif").array, mask.data
    )
    probability = read_image(tmp_path / "out" / "salient_mask_probability.tif").array
    assert probability.shape == (96, 96) and probability.dtype == np.float32
    assert 0 < foreground_share(mask) < 1


def test_a_stack_is_segmented_refined_and_reviewed_slice_by_slice(qtbot, viewer):
    stack = np.stack([make_sample("roads", (64, 64), seed=s).image[..., 0] for s in (1, 2)])
    layer = viewer.add_image(stack, name="stack")
    segment(qtbot, viewer, layer)
    assert viewer.layers["stack mask"].data.shape == (2, 64, 64)
    assert viewer.layers["stack probability"].data.shape == (2, 64, 64)

    refine = open_widget(viewer, "Refine")
    refine.image.value = layer
    refine.patch_size.value = 16
    refine.run()
    wait_for(qtbot, refine.runner)
    refine.show_before.value = True
    assert viewer.layers["stack before refine"].data.shape == (2, 64, 64)

    correct = open_widget(viewer, "Correct")
    correct.image.value = layer
    correct.patch_size.value = 32
    correct.next_patch()  # ranks both slices and shows the best patch of the stack
    wait_for(qtbot, correct.runner)
    shown = viewer.dims.current_step[0]
    assert f"of slice {shown}" in correct.status.value
    correct.confirm_patch()
    wait_for(qtbot, correct.runner)
    corrections = viewer.layers["stack corrections"].data
    assert corrections[shown].sum() == 32 * 32 and corrections[1 - shown].sum() == 0


def test_autosaved_corrections_come_back_after_a_restart(
    qtbot, viewer, image_layer, notifications
):
    segment(qtbot, viewer, image_layer)
    mask = viewer.layers["salient mask"]
    with mask.block_history():
        mask.paint((40, 40), 1 - int(mask.data[40, 40]))
    edited = int(mask.data[40, 40])
    state_for(viewer).flush_autosaves()
    pixels = image_layer.data
    viewer.layers.clear()  # as if napari had been closed
    image_layer = viewer.add_image(pixels, name="salient")

    segment(qtbot, viewer, image_layer)

    assert viewer.layers["salient corrections"].data[40, 40] == 1
    assert viewer.layers["salient mask"].data[40, 40] == edited
    assert any("restored" in message for message in notifications.messages())


def _background_spot(mask: np.ndarray) -> tuple[int, int]:
    """A (row, col) whose 7-px stroke to (row, col + 6) and its margin are all background."""
    clear = ~ndimage.binary_dilation(mask > 0, iterations=5)
    rows, cols = np.nonzero(clear[5:-16, 5:-16])
    assert rows.size, "the mask leaves no background to paint on"
    for row, col in zip(rows + 5, cols + 5, strict=True):
        if clear[row, col : col + 7].all():
            return int(row), int(col)
    raise AssertionError("no background stroke found")
