"""Fine-tune: train the model in use on the corrected pixels, then re-predict and compare."""

from __future__ import annotations

import threading
from collections.abc import Generator
from functools import partial
from pathlib import Path
from typing import Any

import napari
import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Select,
    SpinBox,
)
from napari.layers import Image
from napari.utils.notifications import show_info
from torch import nn

from ..engine import Prediction, Progress, iter_predict
from ..errors import SegRefineError
from ..models import load_checkpoint, save_checkpoint
from ..session import GAINED, LOST, change_map, correction_samples
from ..train import FinetuneConfig, FinetuneResult, TrainEvent, iter_finetune
from ._common import (
    CORRECTIONS,
    MASK,
    TaskRunner,
    buttons,
    find_layer,
    image_array,
    label_colors,
    notify_error,
    require_layer,
    set_labels,
    source_images,
    with_placeholder,
    wrapped_label,
)
from ._models import CHECKPOINT_FILTER, device_choices
from ._outputs import show_prediction
from ._plot import TrainingPlot
from ._state import state_for

CHANGES = "changes"
CHANGE_COLORS = {GAINED: "dodgerblue", LOST: "magenta"}
LEARNING_RATES = ["1e-5", "3e-5", "1e-4", "3e-4", "1e-3"]
NO_MODEL = (
    "no model to fine-tune: run Segment once (it loads the model), or load a checkpoint here"
)


def finetune_job(
    model: nn.Module,
    samples: list,
    config: FinetuneConfig,
    images: list[tuple[str, np.ndarray, int | None, float]],
    stop: threading.Event,
) -> Generator[Any, None, tuple[FinetuneResult, dict[str, Prediction]]]:
    """Fine-tune, then re-predict each trained image with the result (runs in a worker)."""
    result = yield from iter_finetune(model, samples, config, stop=stop)
    predictions = {}
    for name, image, channel_axis, threshold in images:
        yield Progress(0, 0, f"re-predicting {name}")
        predictions[name] = yield from iter_predict(
            result.model, image, device=config.device, channel_axis=channel_axis,
            threshold=threshold,
        )  # fmt: skip
    return result, predictions


def load_job(path: str, stop: threading.Event) -> Generator[Progress, None, nn.Module]:
    yield Progress(0, 1, f"loading {Path(path).name}")
    return load_checkpoint(path)


def save_job(
    model: nn.Module, path: str, meta: dict[str, Any], stop: threading.Event
) -> Generator[Progress, None, Path]:
    yield Progress(0, 1, f"saving {Path(path).name}")
    return save_checkpoint(model, path, **meta)


def _path_or_none(value: Any) -> str | None:
    text = str(value or "")
    return None if text in ("", ".") else text


class FinetuneWidget(Container):
    """Training settings, Train/Stop, live curves, checkpoints and the autosave folder."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        self.viewer = napari_viewer
        self.state = state_for(napari_viewer)
        self.images = Select(label="train on", choices=lambda _: self._corrected_images())
        self.images.native.setMaximumHeight(72)
        self.steps = SpinBox(label="steps", min=1, max=100_000, value=100)
        self.lr = ComboBox(label="learning rate", choices=LEARNING_RATES, value="1e-4")
        self.batch_size = SpinBox(label="batch size", min=1, max=64, value=4)
        self.crop = SpinBox(label="crop size", min=32, max=1024, step=32, value=256)
        self.freeze = CheckBox(text="freeze the encoder", value=False)
        self.val_fraction = FloatSpinBox(
            label="validation", min=0.0, max=0.5, step=0.05, value=0.2
        )
        self.device = ComboBox(label="device", choices=device_choices())
        train_row, (self.train_button, self.stop_button) = buttons("Train", "Stop")
        self.plot = TrainingPlot()
        self.status = wrapped_label("correct a mask, then Train", "status")
        self.model_info = wrapped_label(self.state.describe_model(), "model in use")
        self.checkpoint = with_placeholder(
            FileEdit(label="checkpoint", mode="w", filter=CHECKPOINT_FILTER), "a .safetensors file"
        )
        file_row, (self.save_button, self.load_button) = buttons("Save", "Load")
        self.project = with_placeholder(
            FileEdit(label="autosave to", mode="d"), "empty: beside the image file"
        )
        super().__init__(
            widgets=[
                self.images,
                self.steps,
                self.lr,
                self.batch_size,
                self.crop,
                self.freeze,
                self.val_fraction,
                self.device,
                train_row,
                self.status,
                self.model_info,
                self.checkpoint,
                file_row,
                self.project,
            ]
        )
        self.native.layout().insertWidget(self.index(self.status), self.plot.canvas)
        self.runner = TaskRunner("Fine-tune", self.train_button, self.stop_button, self.status)
        self.train_button.changed.connect(self.train)
        self.save_button.changed.connect(self.save)
        self.load_button.changed.connect(self.load)
        self.project.changed.connect(self._project_changed)
        self.state.model_changed.connect(self._show_model)

    def _corrected_images(self) -> list[tuple[str, Image]]:
        return [
            (name, layer)
            for name, layer in source_images(self.viewer)
            if find_layer(self.viewer, name, MASK) is not None
        ]

    def _samples(self, layers: list[Image]) -> list:
        if not layers:
            raise SegRefineError("choose the images to train on (those you segmented)")
        samples = []
        for layer in layers:
            mask = require_layer(self.viewer, layer.name, MASK, "Segment")
            valid = find_layer(self.viewer, layer.name, CORRECTIONS)
            samples += correction_samples(
                image_array(layer), layer.rgb, mask.data, None if valid is None else valid.data
            )
        return samples

    def _config(self) -> FinetuneConfig:
        return FinetuneConfig(
            steps=self.steps.value,
            lr=float(self.lr.value),
            batch_size=self.batch_size.value,
            patch_size=self.crop.value,
            freeze_encoder=self.freeze.value,
            val_fraction=self.val_fraction.value,
            val_every=max(1, self.steps.value // 10),
            device=self.device.value,
        )

    def train(self) -> Any:
        """Fine-tune the model in use on the chosen images' corrections (in a worker)."""
        layers = list(self.images.value)
        try:
            if self.state.model is None:
                raise SegRefineError(NO_MODEL)
            samples = self._samples(layers)
            config = self._config()
        except SegRefineError as error:
            notify_error("Fine-tune", error)
            return None
        images = [
            (layer.name, image_array(layer), -1 if layer.rgb else None, self._threshold(layer))
            for layer in layers
        ]
        job = partial(finetune_job, self.state.model, samples, config, images)
        worker = self.runner.start(
            job,
            on_done=self._finished,
            on_event=self._on_event,
            on_finished=self._training_over,
        )
        if worker is not None:
            self.state.training = True
            self.plot.reset()
        return worker

    def _threshold(self, layer: Image) -> float:
        prediction = self.state.image(layer.name).prediction
        return prediction.threshold if prediction is not None else 0.5

    def _on_event(self, event: Any) -> None:
        if isinstance(event, TrainEvent):
            self.plot.add(event)

    def _training_over(self) -> None:
        self.state.training = False

    def _finished(self, outcome: tuple[FinetuneResult, dict[str, Prediction]]) -> None:
        result, predictions = outcome
        self.state.set_model(result.model, self.state.model_source)
        changed = []
        for name, prediction in predictions.items():
            if name not in self.viewer.layers:
                continue
            layer = self.viewer.layers[name]
            mask = find_layer(self.viewer, name, MASK)
            before = np.array(mask.data, copy=True) if mask is not None else None
            after = show_prediction(self.viewer, self.state, layer, prediction).data
            if before is not None and before.shape == after.shape:
                changes = change_map(before, after)
                set_labels(
                    self.viewer, layer, CHANGES, changes, colormap=label_colors(CHANGE_COLORS)
                )
                changed.append(np.count_nonzero(changes) / changes.size)
        how = "stopped by you" if result.stopped_by_user else "done"
        how = "stopped early (no better validation IoU)" if result.stopped_early else how
        best = f", best val IoU {result.best_iou:.3f}" if result.best_iou is not None else ""
        moved = f"; re-predicted, {np.mean(changed):.2%} of pixels changed" if changed else ""
        self.status.value = f"Fine-tune {how} after {result.state.step} steps{best}{moved}"

    def save(self) -> Any:
        """Save the model in use, with its provenance, to the checkpoint path."""
        path = _path_or_none(self.checkpoint.value)
        if self.state.model is None or path is None:
            notify_error("Save", SegRefineError(NO_MODEL if path else "choose a file to save to"))
            return None
        meta = {"trained_on": [layer.name for layer in self.images.value]}
        job = partial(save_job, self.state.model, path, meta)
        return self.runner.start(job, on_done=lambda p: show_info(f"saved the model to {p}"))

    def load(self) -> Any:
        """Load the checkpoint file and make it the model every widget uses."""
        path = _path_or_none(self.checkpoint.value)
        if path is None or not Path(path).is_file():
            notify_error("Load", SegRefineError(f"no checkpoint file at {path!r}; choose one"))
            return None
        source = f"checkpoint {Path(path).name}"
        return self.runner.start(
            partial(load_job, path), on_done=lambda model: self.state.set_model(model, source)
        )

    def _project_changed(self, value: Any) -> None:
        path = _path_or_none(value)
        self.state.set_project_root(Path(path) if path else None)

    def _show_model(self, text: str) -> None:
        self.model_info.value = text
