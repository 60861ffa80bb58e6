"""Segment: run a model over an image layer, then re-threshold its probabilities live."""

from __future__ import annotations

import threading
from collections.abc import Generator
from functools import partial
from typing import Any

import napari
import numpy as np
from magicgui.widgets import ComboBox, FloatSlider, FloatSpinBox, LineEdit, SpinBox
from napari.layers import Image
from napari.utils.notifications import show_info, show_warning
from torch import nn

from ..correction import CorrectionSession, Restored
from ..engine import Prediction, Progress, coverage_advice
from ..errors import SegRefineError
from ..models import DEFAULT_BINARY_MODEL, model_config
from ._channels import Read, Reading, axis_choices, parse_bands
from ._cluster import ClusterRequest, ClusterSettings, cluster_job, is_lazy, show_cluster_mask
from ._common import (
    Dock,
    TaskRunner,
    buttons,
    cancel_when_closed,
    collapsible,
    notify_error,
    require_image,
    source_images,
    with_placeholder,
    wrapped_label,
)
from ._models import ModelPicker, ModelRequest, device_choices, models_for, precision_choices
from ._state import state_for

TRAINING_BUSY = "the model is being fine-tuned; wait for it or press Stop in Fine-tune"
RANDOM_WEIGHTS = (
    "{arch} has random weights: its output is noise; choose demo or published "
    "weights, or a checkpoint, for real results"
)


def segment_job(
    model: nn.Module | None,
    request: ModelRequest,
    session: CorrectionSession,
    options: dict[str, Any],
    stop: threading.Event,
) -> Generator[Progress, None, tuple[nn.Module, Prediction, Restored | None]]:
    """Load the model when there is none yet, predict, read the autosave (in a worker)."""
    if model is None:
        yield Progress(0, 0, f"loading {request.arch} ({request.source})")
        model = request.load()
    prediction = yield from session.iter_predict(model, stop=stop, **options)
    restored = session.load_autosave() if session.mask is None else None
    return model, prediction, restored


class SegmentWidget(Dock):
    """Image and model pickers, Run/Cancel, threshold; device and tiling folded away."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        self.viewer = napari_viewer
        self.state = state_for(napari_viewer)
        self.image = ComboBox(label="image", choices=lambda _: source_images(self.viewer))
        self.channel_axis = ComboBox(label="channel axis", choices=self._axis_choices)
        self.bands = with_placeholder(
            LineEdit(label="bands", tooltip="the channels the model gets, in order"),
            "all, or e.g. 0, 1, 2",
        )
        self.reads_as = wrapped_label("", "reads as")
        self.picker = ModelPicker(models_for("image"), DEFAULT_BINARY_MODEL)
        self.device = ComboBox(label="device", choices=device_choices())
        self.precision = ComboBox(label="precision", choices=precision_choices())
        self.tile_size = SpinBox(
            label="tile size", min=0, max=8192, step=32, value=0, tooltip="0: automatic"
        )
        self.overlap = FloatSpinBox(label="tile overlap", min=0.0, max=0.75, step=0.05, value=0.25)
        self.cluster = ClusterSettings()
        row, (self.run_button, self.cancel_button) = buttons("Run", "Cancel")
        self.threshold = FloatSlider(
            label="threshold", min=0.01, max=0.99, step=0.01, value=0.5, enabled=False
        )
        self.model_info = wrapped_label(self.state.describe_model(), "model in use")
        self.status = wrapped_label("choose an image and press Run", "status")
        self.runner = TaskRunner("Segment", self.run_button, self.cancel_button, self.status)
        super().__init__()
        self.lay_out(
            [self.image, self.reads_as, self.picker, row, self.runner.bar, self.threshold,
                     self.model_info, self.status]
        )  # fmt: skip
        self.channels = collapsible(
            self.content, "Channels and bands", [self.channel_axis, self.bands],
            after=self.reads_as,
        )  # fmt: skip
        self.cluster_box = collapsible(
            self.content, "Large images: Dask cluster", self.cluster.widgets, after=self.picker
        )
        tiling = [self.device, self.precision, self.tile_size, self.overlap]
        self.advanced = collapsible(self.content, "Device and tiling", tiling, after=self.picker)
        cancel_when_closed(self, self.runner)
        self.run_button.changed.connect(self.run)
        self.threshold.changed.connect(self._rethreshold)
        self.image.changed.connect(self._image_changed)
        self.channel_axis.changed.connect(self._reading_changed)
        self.bands.changed.connect(self._reading_changed)
        self.picker.changed.connect(self._model_choice_changed)
        self.state.model_changed.connect(self._show_model)
        self._image_changed(self.image.value)

    def run(self) -> Any:
        """Segment the chosen image in a worker; returns the worker (None on a mistake)."""
        try:
            layer = require_image(self.image.value)
            if self.state.training:
                raise SegRefineError(TRAINING_BUSY)
            self.state.readings[layer.name] = self._reading()
            read = self.state.read(layer)
        except SegRefineError as error:
            notify_error("Segment", error)
            return None
        if read.warning:
            show_info(read.warning)
        if self.state.model is None and self.picker.untrained:
            show_warning(RANDOM_WEIGHTS.format(arch=self.picker.arch.value))
        options = {
            "tile_size": self.tile_size.value or None,
            "overlap": self.overlap.value,
            "device": self.device.value,
            "precision": self.precision.value,
            "threshold": self.threshold.value,
        }
        request = self.picker.request()
        if self.cluster.enabled.value:
            return self._run_on_cluster(layer, read, request, options)
        session = self.state.session(layer)
        job = partial(segment_job, self.state.model, request, session, options)
        return self.runner.start(
            job, on_done=partial(self._show, layer, request), sessions=[session]
        )

    def _run_on_cluster(
        self, layer: Image, read: Read, request: ModelRequest, options: dict[str, Any]
    ) -> Any:
        """Segment a dask/zarr layer chunk by chunk on a Dask cluster, into OME-Zarr."""
        try:
            run = self.cluster.request(layer, read, self.state.reading(layer.name).bands, options)
        except SegRefineError as error:
            notify_error("Segment", error)
            return None
        job = partial(cluster_job, self.state.model, request, run)
        worker = self.runner.start(job, on_done=partial(self._show_cluster, layer, request, run))
        if worker is not None:  # no session owns this job: deleting the image cancels it here
            cancel = partial(self._cancel_if_removed, layer)
            self.viewer.layers.events.removed.connect(cancel)
            worker.finished.connect(lambda: self.viewer.layers.events.removed.disconnect(cancel))
        return worker

    def _cancel_if_removed(self, layer: Image, event: Any) -> None:
        if event.value is layer:
            self.runner.cancel()

    def _show_cluster(
        self, layer: Image, request: ModelRequest, run: ClusterRequest, result
    ) -> None:
        model, summary = result
        self._adopt(model, request, layer)
        binary = model_config(model).num_classes == 1
        shown = show_cluster_mask(self.viewer, layer, run.out, binary)
        self.viewer.layers.selection.active = shown
        self.threshold.enabled = False
        self.status.value = (
            f"Segment: done on the cluster, {summary.computed} chunk(s) computed, "
            f"{summary.already_done} already done; written to {run.out}"
        )

    def _adopt(self, model: nn.Module, request: ModelRequest, layer: Image) -> None:
        """Make a job's model the one in use; check its image is still open."""
        if model is not self.state.model:
            self.state.set_model(model, request.source)
        if layer not in self.viewer.layers:
            raise SegRefineError(f"the image {layer.name!r} was closed while it was segmented")

    def _show(self, layer: Image, request: ModelRequest, result) -> None:
        model, prediction, restored = result
        self._adopt(model, request, layer)
        view = self.state.view(layer)
        view.session.set_prediction(prediction, restored)
        self.threshold.enabled = prediction.is_binary
        if prediction.is_binary:
            view.show_soon()
            share = float(np.count_nonzero(view.session.mask)) / view.session.mask.size
            advice = coverage_advice(view.session.mask, prediction.threshold)
            self.status.value = f"Segment: done, {share:.1%} foreground; " + (
                advice or "drag the threshold"
            )
        else:
            self.status.value = (
                f"Segment: done, {prediction.num_classes} classes in {layer.name!r} classes"
            )

    def _rethreshold(self, value: float) -> None:
        layer = self.image.value
        session = self.state.existing(layer.name) if isinstance(layer, Image) else None
        if session is None or session.prediction is None:
            return
        try:
            session.set_threshold(value)
        except SegRefineError as error:
            notify_error("Threshold", error)
            return
        share = np.count_nonzero(session.mask) / session.mask.size
        self.status.value = f"threshold {value:.2f}: {share:.1%} foreground"

    def _axis_choices(self, _: Any = None) -> list[tuple[str, Any]]:
        layer = self.image.value if hasattr(self, "image") else None
        return axis_choices(layer.data.shape if isinstance(layer, Image) else ())

    def _reading(self) -> Reading:
        """The channel axis and bands chosen in the dock."""
        return Reading(self.channel_axis.value, parse_bands(self.bands.value))

    def _reading_changed(self) -> None:
        """Keep the image's reading and say how it now reads (or what is wrong)."""
        layer = self.image.value
        if not isinstance(layer, Image):
            self.reads_as.value = ""
            return
        try:
            self.state.readings[layer.name] = self._reading()
            read = self.state.read(layer)
        except SegRefineError as error:
            self.reads_as.value = str(error)
            return
        self.reads_as.value = read.text
        self.cluster.enabled.enabled = is_lazy(layer)
        if not is_lazy(layer):
            self.cluster.enabled.value = False
        if read.warning:
            self.channels.box.expand(animate=False)

    def _image_changed(self, layer: Image | None) -> None:
        reading = self.state.reading(layer.name) if isinstance(layer, Image) else Reading()
        with self.channel_axis.changed.blocked(), self.bands.changed.blocked():
            self.channel_axis.native.clear()  # in axis order, not kept from the last image
            self.channel_axis.reset_choices()
            self.channel_axis.value = reading.axis
            self.bands.value = ", ".join(map(str, reading.bands or ()))
        self._reading_changed()
        session = self.state.existing(layer.name) if isinstance(layer, Image) else None
        prediction = None if session is None else session.prediction
        self.threshold.enabled = prediction is not None
        if prediction is not None:
            with self.threshold.changed.blocked():
                self.threshold.value = prediction.threshold

    def _model_choice_changed(self) -> None:
        if self.state.model is not None and not self.state.training:
            self.state.set_model(None, "")

    def _show_model(self, text: str) -> None:
        self.model_info.value = text
