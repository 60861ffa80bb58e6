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
    FileEdit,
    FloatSpinBox,
    Select,
    SpinBox,
)
from napari.layers import Image
from napari.utils.notifications import show_info
from torch import nn

from ..correction import CorrectionSession
from ..engine import Prediction, Progress
from ..errors import SegRefineError
from ..models import load_checkpoint, save_checkpoint
from ..train import FinetuneConfig, FinetuneResult, TrainEvent, iter_finetune
from ._common import (
    MASK,
    Dock,
    TaskRunner,
    buttons,
    cancel_when_closed,
    collapsible,
    find_layer,
    notify_error,
    show_changes,
    source_images,
    with_placeholder,
    wrapped_label,
)
from ._models import CHECKPOINT_FILTER, device_choices
from ._plot import TrainingPlot
from ._state import NO_MODEL, state_for

LEARNING_RATES = ["1e-5", "3e-5", "1e-4", "3e-4", "1e-3"]


def finetune_job(
    model: nn.Module,
    samples: list,
    config: FinetuneConfig,
    sessions: list[CorrectionSession],
    stop: threading.Event,
) -> Generator[Any, None, tuple[FinetuneResult, dict[str, tuple[Prediction, np.ndarray, float]]]]:
    """Fine-tune, then re-predict each trained image with the result (runs in a worker).

    Stop ends the training (the best weights so far are kept); the re-prediction then
    starts with the stop event cleared, so a second Stop cancels it.
    """
    result = yield from iter_finetune(model, samples, config, stop=stop)
    stop.clear()
    shown = {}
    for session in sessions:
        yield Progress(0, 0, f"re-predicting {session.name}")
        prediction = yield from session.iter_predict(
            result.model, device=config.device, stop=stop,
            threshold=session.prediction.threshold,
        )  # fmt: skip
        changes = session.proposed_changes(prediction)
        shown[session.name] = (prediction, changes, session.unchecked_share(changes))
    return result, shown


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


class FinetuneWidget(Dock):
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
        self.runner = TaskRunner("Fine-tune", self.train_button, self.stop_button, self.status)
        super().__init__()
        self.lay_out(
            [self.images, self.steps, self.lr, train_row, self.runner.bar,
                     self.status, self.model_info]
        )  # fmt: skip
        under_status = self.content.index(self.model_info)
        self.content.native.layout().insertWidget(under_status, self.plot.canvas)
        self.advanced = collapsible(
            self.content, "Training settings",
            [self.batch_size, self.crop, self.freeze, self.val_fraction, self.device],
            after=self.lr,
        )  # fmt: skip
        self.files = collapsible(
            self.content, "Checkpoint and autosave", [self.checkpoint, file_row, self.project],
            after=self.model_info,
        )  # fmt: skip
        cancel_when_closed(self, self.runner)
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

    def _sessions(self, layers: list[Image]) -> list[CorrectionSession]:
        if not layers:
            raise SegRefineError("choose the images to train on (those you segmented)")
        sessions = []
        for layer in layers:
            session = self.state.existing(layer.name)
            if session is None:
                raise SegRefineError(f"no prediction for {layer.name!r}: run Segment first")
            sessions.append(session)
        return sessions

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
        try:
            if self.state.model is None:
                raise SegRefineError(NO_MODEL)
            sessions = self._sessions(list(self.images.value))
            samples = [sample for s in sessions for sample in s.training_samples()]
            config = self._config()
        except SegRefineError as error:
            notify_error("Fine-tune", error)
            return None
        job = partial(finetune_job, self.state.model, samples, config, sessions)
        worker = self.runner.start(
            job,
            on_done=partial(self._finished, config),
            on_event=self._on_event,
            on_finished=self._training_over,
            sessions=sessions,
        )
        if worker is not None:
            self.state.training = True
            self.plot.reset()
        return worker

    def _on_event(self, event: Any) -> None:
        if isinstance(event, TrainEvent):
            self.plot.add(event)

    def _training_over(self) -> None:
        self.state.training = False

    def _finished(self, config: FinetuneConfig, outcome) -> None:
        result, shown = outcome
        self.state.set_model(result.model, self.state.model_source)
        changed = []
        for name, (prediction, changes, share) in shown.items():
            session = self.state.existing(name)
            if session is None or name not in self.viewer.layers:
                continue
            session.set_prediction(prediction)
            layer = self.viewer.layers[name]
            show_changes(self.viewer, layer, changes)
            changed.append(share)
        self.status.value = _summary(result, config, changed)

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
            where = f"no checkpoint file at {path}" if path else "no checkpoint file chosen"
            notify_error("Load", SegRefineError(f"{where}; choose a .safetensors or .pth file"))
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


def _summary(result: FinetuneResult, config: FinetuneConfig, changed: list[float]) -> str:
    """What happened, truthfully: how training ended and what the re-prediction moved."""
    steps = result.state.step
    if result.stopped_by_user:
        how = "stopped by you"
    elif result.stopped_early and steps < config.steps:
        how = "stopped early (validation IoU stopped improving)"
    else:
        how = "done"
    best = f", best val IoU {result.best_iou:.3f}" if result.best_iou is not None else ""
    moved = (
        f"; re-predicted, it changed {np.mean(changed):.1%} of the mask you have not checked "
        "(blue: added, magenta: removed, in the changes layer)"
        if changed
        else ""
    )
    return f"Fine-tune {how} after {steps} of {config.steps} steps{best}{moved}"
