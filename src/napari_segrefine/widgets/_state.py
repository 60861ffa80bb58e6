"""State shared by the dock widgets of one viewer: the model, predictions, corrections.

Each widget is its own dock, so what they share (the model in use, the cached
prediction of each image, where corrections are saved) lives here, one `ViewerState`
per viewer, held without keeping the viewer alive.

The mask layer's edits are recorded into the image's corrections (valid-mask) layer
as they happen, and the corrections are autosaved to a project folder shortly after
each burst of edits, so a crash loses nothing.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import napari
import numpy as np
from napari.layers import Image, Labels
from napari.qt.threading import create_worker
from psygnal import Signal
from qtpy.QtCore import QTimer
from torch import nn

from ..engine import Prediction
from ..models import model_config
from ..session import ProjectFolder, edited_pixels, image_fingerprint
from ._common import (
    CORRECTIONS,
    MASK,
    VALID_COLOR,
    find_layer,
    image_array,
    label_colors,
    layer_named,
    notify_error,
    set_labels,
)

AUTOSAVE_DELAY_MS = 800


@dataclass
class ImageState:
    """What the widgets know about one image (by layer name)."""

    prediction: Prediction | None = None
    before_refine: np.ndarray | None = None
    project: ProjectFolder | None = None
    writing: bool = False  # the plugin itself is writing the mask: not a user edit
    fingerprint: tuple[int, str] | None = None  # (id of the pixel array, its hash)
    tracked: set[int] = field(default_factory=set)  # ids of the layers listened to


class ViewerState:
    """The model in use and the per-image state of one viewer."""

    model_changed = Signal(str)

    def __init__(self, viewer: napari.Viewer) -> None:
        self._viewer = weakref.ref(viewer)
        self.model: nn.Module | None = None
        self.model_source = ""
        self.training = False
        self.project_root: Path | None = None
        self.images: dict[str, ImageState] = {}
        self._timers: dict[str, QTimer] = {}

    @property
    def viewer(self) -> napari.Viewer:
        return self._viewer()

    def image(self, name: str) -> ImageState:
        """The state of image ``name`` (created on first use)."""
        return self.images.setdefault(name, ImageState())

    def set_model(self, model: nn.Module | None, source: str) -> None:
        """Make ``model`` the one every widget uses, and say so."""
        self.model, self.model_source = model, source
        self.model_changed.emit(self.describe_model())

    def describe_model(self) -> str:
        """One line about the model in use: architecture, weights, fine-tuning."""
        if self.model is None:
            return "no model loaded yet (Segment loads one)"
        config = model_config(self.model)
        text = f"{config.arch} ({self.model_source})"
        tuned = config.provenance.get("finetune")
        if tuned:
            best = tuned.get("best_val_iou")
            text += f", trained {tuned.get('steps_done')} steps"
            text += f", best val IoU {best:.3f}" if best is not None else ""
        return text

    def project(self, source: Image) -> ProjectFolder:
        """The autosave folder of ``source`` (see `ProjectFolder.for_image`)."""
        state = self.image(source.name)
        if state.project is None:
            path = getattr(source.source, "path", None)
            state.project = ProjectFolder.for_image(source.name, path, self.project_root)
        return state.project

    def fingerprint(self, source: Image) -> str:
        """`image_fingerprint` of ``source``'s pixels (cached until its data is replaced)."""
        state = self.image(source.name)
        if state.fingerprint is None or state.fingerprint[0] != id(source.data):
            state.fingerprint = (id(source.data), image_fingerprint(image_array(source)))
        return state.fingerprint[1]

    def set_project_root(self, root: Path | None) -> None:
        """Autosave into ``root`` from now on (None: beside each image)."""
        self.project_root = root
        for state in self.images.values():
            state.project = None

    @contextlib.contextmanager
    def writing(self, image_name: str) -> Iterator[None]:
        """Mark mask writes made by the plugin, so they are not taken for corrections."""
        state = self.image(image_name)
        state.writing = True
        try:
            yield
        finally:
            state.writing = False

    def corrections_layer(self, source: Image, shape: tuple[int, ...]) -> Labels:
        """The valid-mask layer of ``source``, made empty when missing or mis-shaped."""
        layer = find_layer(self.viewer, source.name, CORRECTIONS)
        if isinstance(layer, Labels) and layer.data.shape == shape:
            return layer
        empty = np.zeros(shape, dtype=np.uint8)
        return set_labels(
            self.viewer,
            source,
            CORRECTIONS,
            empty,
            colormap=label_colors({1: VALID_COLOR}),
            opacity=0.35,
        )

    def track(self, source: Image) -> None:
        """Record edits of ``source``'s mask into its corrections layer, and autosave."""
        state = self.image(source.name)
        for role, handler in ((MASK, self._on_mask_edit), (CORRECTIONS, self._on_valid_edit)):
            layer = find_layer(self.viewer, source.name, role)
            if layer is None or id(layer) in state.tracked:
                continue
            layer.events.paint.connect(lambda event, n=source.name, h=handler: h(n, event))
            state.tracked.add(id(layer))

    def _on_mask_edit(self, name: str, event: Any) -> None:
        if self.image(name).writing:
            return
        mask = find_layer(self.viewer, name, MASK)
        valid = find_layer(self.viewer, name, CORRECTIONS)
        if mask is None or valid is None or valid.data.shape != mask.data.shape:
            return
        touched = edited_pixels(event.value, mask.data.shape)
        valid.data[touched] = 1
        valid.refresh()
        self.schedule_autosave(name)

    def _on_valid_edit(self, name: str, event: Any) -> None:
        self.schedule_autosave(name)

    def schedule_autosave(self, name: str) -> None:
        """Save ``name``'s corrections once no edit came for `AUTOSAVE_DELAY_MS`."""
        timer = self._timers.get(name)
        if timer is None:
            timer = QTimer()
            timer.setSingleShot(True)
            timer.timeout.connect(lambda n=name: self.autosave(n))
            self._timers[name] = timer
        timer.start(AUTOSAVE_DELAY_MS)

    def autosave(self, name: str, background: bool = True):
        """Write ``name``'s mask and corrections to its project folder.

        Returns the worker that writes them (``background``), else None.
        """
        viewer = self.viewer
        mask = find_layer(viewer, name, MASK) if viewer is not None else None
        valid = find_layer(viewer, name, CORRECTIONS) if viewer is not None else None
        source = layer_named(viewer, name) if viewer is not None else None
        if mask is None or valid is None or not isinstance(source, Image):
            return None
        if valid.data.shape != mask.data.shape:
            return None
        prediction = self.image(name).prediction
        arguments = (
            self.project(source),
            np.array(mask.data, copy=True),
            np.array(valid.data, copy=True),
            self.fingerprint(source),
        )
        meta = {
            "image": name,
            "threshold": None if prediction is None else prediction.threshold,
            "model": self.describe_model(),
        }
        if not background:
            error = _save_quietly(*arguments, **meta)
            if error is not None:
                notify_error("Autosave", error)
            return None
        worker = create_worker(_save_quietly, *arguments, **meta, _start_thread=False)
        worker.returned.connect(lambda error: error and notify_error("Autosave", error))
        worker.start()
        return worker

    def flush_autosaves(self) -> None:
        """Save every image with a pending autosave now, on this thread."""
        for name, timer in self._timers.items():
            if timer.isActive():
                timer.stop()
                self.autosave(name, background=False)


def _save_quietly(
    project: ProjectFolder, mask: np.ndarray, valid: np.ndarray, fingerprint: str, **meta: Any
) -> Exception | None:
    """Save, returning the error instead of raising it in the worker thread."""
    try:
        project.save_corrections(mask, valid, fingerprint, **meta)
    except Exception as error:  # shown as a notification by the caller
        return error
    return None


_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def state_for(viewer: napari.Viewer) -> ViewerState:
    """The shared state of ``viewer`` (created on first use)."""
    state = _STATES.get(viewer)
    if state is None:
        state = _STATES[viewer] = ViewerState(viewer)
    return state
