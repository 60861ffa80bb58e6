"""The npe2 contributions: every widget, the sample data and the labels writer."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine.io import read_image
from napari_segrefine.widgets.correct import CorrectWidget
from napari_segrefine.widgets.export import ExportWidget
from napari_segrefine.widgets.finetune import FinetuneWidget
from napari_segrefine.widgets.refine import RefineWidget
from napari_segrefine.widgets.segment import SegmentWidget

from .conftest import PLUGIN, open_widget

pytestmark = pytest.mark.gui

WIDGETS = {
    "Segment": SegmentWidget,
    "Refine": RefineWidget,
    "Correct": CorrectWidget,
    "Fine-tune": FinetuneWidget,
    "Export": ExportWidget,
}


def test_every_widget_opens_through_the_manifest_and_sees_the_image(viewer, image_layer):
    for name, widget_type in WIDGETS.items():
        widget = open_widget(viewer, name)
        assert isinstance(widget, widget_type)
        if hasattr(widget, "image"):
            assert widget.image.value is image_layer, name


def test_sample_data_opens_image_and_hidden_ground_truth(viewer):
    viewer.open_sample(PLUGIN, "polyps")
    image, truth = viewer.layers["polyps"], viewer.layers["polyps ground truth"]
    assert image.data.shape == (512, 512, 3) and image.rgb
    assert truth.data.shape == (512, 512) and set(np.unique(truth.data)) == {0, 1}
    assert not truth.visible
    viewer.open_sample(PLUGIN, "coins")
    assert viewer.layers["coins"].data.ndim == 2


def test_labels_layers_save_through_the_plugin_writer(viewer, tmp_path):
    labels = np.zeros((20, 30), np.uint8)
    labels[5:10, 5:25] = 1
    viewer.add_labels(labels, name="mask", scale=(0.5, 0.5))
    target = tmp_path / "mask.tif"

    written = viewer.layers.save(str(target), selected=False, plugin=PLUGIN)

    assert written == [str(target)]
    back = read_image(target)
    np.testing.assert_array_equal(back.array, labels)
    assert back.scale == pytest.approx((0.5, 0.5))
