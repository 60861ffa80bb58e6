"""A `CorrectionSession` shown in a viewer: its arrays are the layers' data.

The mask and corrections layers hold the session's own arrays, so painting writes
into the session and a session change only needs a refresh. Each finished stroke is
recorded by the session (which marks the pixels as corrected) and napari's own undo
is routed to the session's history, so Ctrl+Z moves the mask and the record
together. Autosaves run in a worker shortly after each burst of edits.

Adding a napari layer costs 0.1 to 0.5 s of the main thread (vispy visuals, layer
controls), so the first results of an image (probability, boundary, mask, corrections)
are added one per turn of the event loop, never all in one callback; layers that
exist are updated in place at once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import napari
import numpy as np
from napari.layers import Image, Labels
from napari.qt.threading import create_worker
from napari.utils.notifications import show_info
from qtpy.QtCore import QTimer

from ..correction import CorrectionSession, write_snapshot
from ..engine import Prediction
from ._common import (
    BOUNDARY,
    CORRECTIONS,
    MASK,
    MASK_COLOR,
    PROBABILITY,
    VALID_COLOR,
    find_layer,
    label_colors,
    notify_error,
    set_image,
    set_labels,
)

CLASSES = "classes"
SELECT = "select"  # a queued step that is not a layer: select the mask
AUTOSAVE_DELAY_MS = 800


def shown_probability(prediction: Prediction) -> np.ndarray:
    """The map shown as the probability layer: P(foreground), or the top class's."""
    if prediction.is_binary:
        return prediction.probabilities
    return prediction.probabilities.max(axis=-3)


class SessionView:
    """Keeps ``source``'s derived layers in step with its session, and the other way."""

    def __init__(self, viewer: napari.Viewer, source: Image, session: CorrectionSession) -> None:
        self.viewer, self.source, self.session = viewer, source, session
        self.describe_model = lambda: ""
        self.pixels: Any = source.data  # the layer data and reading the session was made from
        self.reading: Any = None
        self._hooked: set[int] = set()
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.autosave)
        self._queued: dict[str, Callable[[], Any]] = {}
        self._tick = QTimer()
        self._tick.setSingleShot(True)
        self._tick.setInterval(0)
        self._tick.timeout.connect(self._make_next)
        self.saving = None
        events = session.events
        events.prediction.connect(self._show_prediction)
        events.mask.connect(self._show_mask)
        events.valid.connect(self._show_valid)
        events.history.connect(self._schedule)
        events.notice.connect(show_info)

    def disconnect(self) -> None:
        """Stop listening to the session (the image left the viewer)."""
        self.session.events.disconnect()
        self._timer.stop()
        self._tick.stop()
        self._queued.clear()

    def _show_prediction(self, prediction: Prediction) -> None:
        shown = find_layer(self.viewer, self.source.name, PROBABILITY)
        if shown is not None and shown.data is prediction.probabilities:
            return  # a new threshold: the maps are the same arrays, nothing to redraw
        self._place(PROBABILITY, partial(
            set_image, self.viewer, self.source, PROBABILITY, shown_probability(prediction),
            colormap="magma", contrast_limits=(0.0, 1.0), opacity=0.45,
        ))  # fmt: skip
        self._place(BOUNDARY, partial(
            set_image, self.viewer, self.source, BOUNDARY, prediction.boundary,
            colormap="cyan", contrast_limits=(0.0, 1.0), blending="additive",
        ))  # fmt: skip
        if not prediction.is_binary:
            self._place(CLASSES, partial(self._show_classes, self.session.classes))

    def _show_classes(self, classes: np.ndarray) -> None:
        layer = set_labels(self.viewer, self.source, CLASSES, classes, opacity=0.5)
        self.viewer.layers.selection.active = layer

    def _show_mask(self, key: Any = None) -> None:
        self._place(MASK, self._mask_layer)

    def _show_valid(self, key: Any = None) -> None:
        self._place(CORRECTIONS, self._valid_layer)

    def _mask_layer(self) -> Labels:
        layer = set_labels(self.viewer, self.source, MASK, self.session.mask, opacity=0.5,
                           colormap=label_colors({1: MASK_COLOR}))  # fmt: skip
        self._hook(layer, self._on_mask_stroke)
        return layer

    def _valid_layer(self) -> Labels:
        layer = set_labels(self.viewer, self.source, CORRECTIONS, self.session.valid,
                           colormap=label_colors({1: VALID_COLOR}), opacity=0.35)  # fmt: skip
        self._hook(layer, self._on_valid_stroke)
        return layer

    def show(self) -> Labels:
        """Make sure the mask and corrections layers exist now; returns the mask layer."""
        self._queued.pop(MASK, None)
        self._queued.pop(CORRECTIONS, None)
        mask = find_layer(self.viewer, self.source.name, MASK)
        if not (isinstance(mask, Labels) and mask.data is self.session.mask):
            mask = self._mask_layer()
        valid = find_layer(self.viewer, self.source.name, CORRECTIONS)
        if not (isinstance(valid, Labels) and valid.data is self.session.valid):
            self._valid_layer()
        return mask

    def show_soon(self) -> None:
        """Like `show`, one new layer per turn of the event loop; then select the mask."""
        self._show_mask()
        self._show_valid()
        self._later(SELECT, self._select_mask)

    def _select_mask(self) -> None:
        mask = find_layer(self.viewer, self.source.name, MASK)
        if mask is not None:
            self.viewer.layers.selection.active = mask

    @property
    def settled(self) -> bool:
        """Whether every layer this view was asked to make exists."""
        return not self._queued

    def _place(self, role: str, make: Callable[[], Any]) -> None:
        """Update the ``role`` layer now when it exists, else make it on a later turn."""
        if role not in self._queued and find_layer(self.viewer, self.source.name, role):
            make()
        else:
            self._later(role, make)

    def _later(self, role: str, make: Callable[[], Any]) -> None:
        """Run ``make`` on a later turn of the event loop (the newest wins per role)."""
        self._queued[role] = make
        self._tick.start()

    def _make_next(self) -> None:
        if self._queued:
            role = next(iter(self._queued))
            self._queued.pop(role)()
        if self._queued:
            self._tick.start()

    def _hook(self, layer: Labels, on_stroke) -> None:
        if id(layer) in self._hooked:
            return
        self._hooked.add(id(layer))
        layer.events.paint.connect(lambda event: on_stroke(layer, event.value))
        # One history: Ctrl+Z / Shift+Ctrl+Z on the layer call the session's.
        layer.undo, layer.redo = self.session.undo, self.session.redo

    def _on_mask_stroke(self, layer: Labels, atoms: list) -> None:
        if layer.data is self.session.mask:
            self.session.record_stroke(atoms)

    def _on_valid_stroke(self, layer: Labels, atoms: list) -> None:
        if layer.data is self.session.valid:
            self.session.record_stroke(atoms, on="valid")

    def _schedule(self, *counts: int) -> None:
        self._timer.start(AUTOSAVE_DELAY_MS)

    def autosave(self, background: bool = True):
        """Write the session now: a copy is taken here, the file written in a worker."""
        self._timer.stop()
        if self.session.mask is None or self.session.prediction is None:
            return None
        if not self.session.prediction.is_binary:
            return None
        snapshot = self.session.snapshot(model=self.describe_model())
        if not background:
            _report(_write_quietly(snapshot))
            return None
        worker = create_worker(_write_quietly, snapshot, _start_thread=False)
        worker.returned.connect(_report)
        worker.start()
        self.saving = worker
        return worker

    def flush(self) -> None:
        """Save now, on this thread, when an autosave is pending."""
        if self._timer.isActive():
            self.autosave(background=False)


def _write_quietly(snapshot) -> Exception | None:
    try:
        write_snapshot(snapshot)
    except Exception as error:  # shown as a notification on the main thread
        return error
    return None


def _report(error: Exception | None) -> None:
    if error is not None:
        notify_error("Autosave", error)
