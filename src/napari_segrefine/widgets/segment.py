"""Segment: run a model over an image layer, then re-threshold its probabilities live."""

from __future__ import annotations

import threading
from collections.abc import Generator
from functools import partial
from typing import Any

import napari
import numpy as np
from magicgui.widgets import ComboBox, Container, FloatSlider, FloatSpinBox, SpinBox
from napari.layers import Image
from napari.utils.notifications import show_warning
from torch import nn

from ..engine import Prediction, Progress, iter_predict
from ..errors import SegRefineError
from ..models import DEFAULT_BINARY_MODEL
from ._common import (
    TaskRunner,
    buttons,
    image_array,
    notify_error,
    require_image,
    source_images,
    wrapped_label,
)
from ._models import ModelPicker, ModelRequest, device_choices, models_for, precision_choices
from ._outputs import show_prediction, write_mask
from ._state import state_for

TRAINING_BUSY = "the model is being fine-tuned; wait for it or press Stop in Fine-tune"


def segment_job(
    model: nn.Module | None,
    request: ModelRequest,
    image: np.ndarray,
    options: dict[str, Any],
    stop: threading.Event,
) -> Generator[Progress, None, tuple[nn.Module, Prediction]]:
    """Load the model when there is none yet, then predict (runs in a worker)."""
    if model is None:
        yield Progress(0, 0, f"loading {request.arch} ({request.source})")
        model = request.load()
    prediction = yield from iter_predict(model, image, stop=stop, **options)
    return model, prediction


class SegmentWidget(Container):
    """Image and model pickers, device and tiling settings, Run/Cancel, threshold."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        self.viewer = napari_viewer
        self.state = state_for(napari_viewer)
        self.image = ComboBox(label="image", choices=lambda _: source_images(self.viewer))
        self.picker = ModelPicker(models_for("image"), DEFAULT_BINARY_MODEL)
        self.device = ComboBox(label="device", choices=device_choices())
        self.precision = ComboBox(label="precision", choices=precision_choices())
        self.tile_size = SpinBox(
            label="tile size", min=0, max=8192, step=32, value=0, tooltip="0: automatic"
        )
        self.overlap = FloatSpinBox(label="tile overlap", min=0.0, max=0.75, step=0.05, value=0.25)
        row, (self.run_button, self.cancel_button) = buttons("Run", "Cancel")
        self.threshold = FloatSlider(
            label="threshold", min=0.01, max=0.99, step=0.01, value=0.5, enabled=False
        )
        self.model_info = wrapped_label(self.state.describe_model(), "model in use")
        self.status = wrapped_label("choose an image and press Run", "status")
        super().__init__(
            widgets=[
                self.image,
                self.picker,
                self.device,
                self.precision,
                self.tile_size,
                self.overlap,
                row,
                self.threshold,
                self.model_info,
                self.status,
            ]
        )
        self.runner = TaskRunner("Segment", self.run_button, self.cancel_button, self.status)
        self.run_button.changed.connect(self.run)
        self.threshold.changed.connect(self._rethreshold)
        self.image.changed.connect(self._image_changed)
        self.picker.changed.connect(self._model_choice_changed)
        self.state.model_changed.connect(self._show_model)

    def run(self) -> Any:
        """Segment the chosen image in a worker; returns the worker (None on a mistake)."""
        try:
            layer = require_image(self.image.value)
            if self.state.training:
                raise SegRefineError(TRAINING_BUSY)
        except SegRefineError as error:
            notify_error("Segment", error)
            return None
        if self.state.model is None and self.picker.untrained:
            show_warning(
                f"{self.picker.arch.value} has random weights: its masks are noise; choose "
                "demo or published weights, or a checkpoint, for real results"
            )
        options = {
            "tile_size": self.tile_size.value or None,
            "overlap": self.overlap.value,
            "device": self.device.value,
            "precision": self.precision.value,
            "threshold": self.threshold.value,
            "channel_axis": -1 if layer.rgb else None,
        }
        request = self.picker.request()
        job = partial(segment_job, self.state.model, request, image_array(layer), options)
        return self.runner.start(job, on_done=partial(self._show, layer, request))

    def _show(self, layer: Image, request: ModelRequest, result) -> None:
        model, prediction = result
        if model is not self.state.model:
            self.state.set_model(model, request.source)
        if layer.name not in self.viewer.layers:
            raise SegRefineError(f"the image {layer.name!r} was closed while it was segmented")
        show_prediction(self.viewer, self.state, layer, prediction)
        self.threshold.enabled = prediction.is_binary
        share = float(prediction.mask.mean()) if prediction.is_binary else None
        summary = f", {share:.1%} foreground" if share is not None else ""
        self.status.value = f"Segment: done{summary}; drag the threshold to adjust"

    def _rethreshold(self, value: float) -> None:
        layer = self.image.value
        if not isinstance(layer, Image):
            return
        image_state = self.state.image(layer.name)
        prediction = image_state.prediction
        if prediction is None or not prediction.is_binary:
            return
        image_state.prediction = prediction.with_threshold(value)
        try:
            mask = write_mask(self.viewer, self.state, layer, image_state.prediction.mask)
        except SegRefineError as error:
            notify_error("Threshold", error)
            return
        share = np.count_nonzero(mask.data) / mask.data.size
        self.status.value = f"threshold {value:.2f}: {share:.1%} foreground"

    def _image_changed(self, layer: Image | None) -> None:
        prediction = self.state.image(layer.name).prediction if layer is not None else None
        self.threshold.enabled = prediction is not None and prediction.is_binary
        if prediction is not None:
            with self.threshold.changed.blocked():
                self.threshold.value = prediction.threshold

    def _model_choice_changed(self) -> None:
        if self.state.model is not None and not self.state.training:
            self.state.set_model(None, "")

    def _show_model(self, text: str) -> None:
        self.model_info.value = text
