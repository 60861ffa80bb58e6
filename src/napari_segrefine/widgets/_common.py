"""Shared wiring of the dock widgets: background jobs, notifications and layer helpers.

A job is a generator function ``job(stop) -> Generator[event, None, result]`` that
calls the library; `TaskRunner` runs it in a napari ``thread_worker``, drives a napari
progress bar and the widget's status line from the yielded events, turns library
errors into notifications, and hands the result to a callback on the main thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import napari
import numpy as np
from magicgui.widgets import Container, Label, PushButton
from napari.layers import Image, Labels, Layer
from napari.qt.threading import create_worker
from napari.utils import progress
from napari.utils.colormaps import DirectLabelColormap
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import QSizePolicy

from ..engine import Progress
from ..errors import Cancelled, SegRefineError

LOG = logging.getLogger("napari_segrefine.widgets")

Job = Callable[[threading.Event], Generator[Any, None, Any]]

ROLE_KEY = "segrefine_role"  # layer metadata: which output of which image a layer is
IMAGE_KEY = "segrefine_image"
PROBABILITY, BOUNDARY, MASK, CORRECTIONS = "probability", "boundary", "mask", "corrections"

MASK_COLOR, VALID_COLOR = "gold", "lime"


def label_colors(colors: dict[int, str]) -> DirectLabelColormap:
    """A fresh colormap for ``colors`` (label -> colour), 0 and others transparent.

    Fresh for each layer: napari layers may change their colormap in place.
    """
    return DirectLabelColormap(color_dict={None: "transparent", 0: "transparent", **colors})


@dataclass(frozen=True)
class _Outcome:
    value: Any = None
    error: BaseException | None = None
    cancelled: bool = False


def _guarded(job: Job, stop: threading.Event) -> Generator[Any, None, _Outcome]:
    """Run ``job`` so that no exception escapes the worker thread."""
    try:
        value = yield from job(stop)
    except Cancelled:
        return _Outcome(cancelled=True)
    except Exception as error:  # shown to the user; the viewer must not crash
        if not isinstance(error, SegRefineError):
            LOG.exception("napari-segrefine job failed")
        return _Outcome(error=error)
    return _Outcome(value=value)


def describe(event: Any) -> tuple[int, int, str]:
    """(done, total, text) of a job's event: a `Progress` (`TrainEvent` too) or a pair."""
    if isinstance(event, Progress):
        return event.done, event.total, event.message
    if isinstance(event, tuple) and len(event) == 2:
        return int(event[0]), int(event[1]), f"{event[0]}/{event[1]}"
    return 0, 0, str(event)


def notify_error(task: str, error: BaseException) -> None:
    """Show an error as a napari notification; unexpected ones name their type."""
    if isinstance(error, SegRefineError):
        show_error(f"{task}: {error}")
    else:
        show_error(f"{task} failed unexpectedly ({type(error).__name__}: {error})")


class TaskRunner:
    """Runs one job at a time for a widget, with a progress bar, Cancel and notifications.

    Args:
        task: what the job does, for the progress bar and the messages (``Segment``).
        run_button: disabled while a job runs.
        cancel_button: enabled while a job runs; sets the job's stop event.
        status: the widget's status line.
    """

    def __init__(
        self, task: str, run_button: PushButton, cancel_button: PushButton, status: Label
    ) -> None:
        self.task = task
        self.run_button, self.cancel_button, self.status = run_button, cancel_button, status
        self.cancel_button.enabled = False
        self.cancel_button.changed.connect(self.cancel)
        self.worker = None
        self._stop = threading.Event()
        self._bar: progress | None = None

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def start(
        self,
        job: Job,
        on_done: Callable[[Any], None],
        on_event: Callable[[Any], None] | None = None,
        on_finished: Callable[[], None] | None = None,
    ):
        """Start ``job`` in a worker and return the worker (None when one is running).

        ``on_event(event)``, ``on_done(result)`` (on success) and ``on_finished()``
        (always, last) run on the main thread.
        """
        if self.busy:
            show_warning(f"{self.task} is already running; wait or press Cancel")
            return None
        self._stop = threading.Event()
        self._bar = progress(total=0, desc=self.task)
        worker = create_worker(_guarded, job, self._stop, _start_thread=False)
        worker.yielded.connect(lambda event: self._on_event(event, on_event))
        worker.returned.connect(lambda outcome: self._on_returned(outcome, on_done))
        worker.finished.connect(self._on_finished)
        if on_finished is not None:
            worker.finished.connect(on_finished)
        self.worker = worker
        self.run_button.enabled, self.cancel_button.enabled = False, True
        self.status.value = f"{self.task}: starting"
        worker.start()
        return worker

    def cancel(self) -> None:
        """Ask the running job to stop at its next check."""
        if self.busy:
            self._stop.set()
            self.status.value = f"{self.task}: stopping"

    def _on_event(self, event: Any, on_event: Callable[[Any], None] | None) -> None:
        done, total, text = describe(event)
        self.status.value = f"{self.task}: {text}"
        if on_event is not None:
            on_event(event)
        # Last: napari's progress bars process pending events, even this job's end.
        bar = self._bar
        if bar is not None:
            if total and bar.total != total:
                bar.total = total
            bar.set_description(f"{self.task}: {text}")
            bar.update(done - bar.n)

    def _on_returned(self, outcome: _Outcome, on_done: Callable[[Any], None]) -> None:
        if outcome.cancelled:
            self.status.value = f"{self.task}: cancelled"
            show_info(f"{self.task} cancelled")
        elif outcome.error is not None:
            self.status.value = f"{self.task}: failed (see the notification)"
            notify_error(self.task, outcome.error)
        else:
            self.status.value = f"{self.task}: done"
            try:
                on_done(outcome.value)
            except Exception as error:  # a failure while showing results
                LOG.exception("napari-segrefine could not show the result")
                notify_error(self.task, error)

    def _on_finished(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.worker = None
        self.run_button.enabled, self.cancel_button.enabled = True, False


def wrapped_label(value: str, label: str = "") -> Label:
    """A text label that wraps long lines instead of widening the dock."""
    widget = Label(label=label, value=value)
    widget.native.setWordWrap(True)
    widget.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    return widget


def with_placeholder(widget: Any, text: str) -> Any:
    """Grey hint text in an empty line edit (or a file picker's line edit)."""
    getattr(widget, "line_edit", widget).native.setPlaceholderText(text)
    return widget


def buttons(*names: str) -> tuple[Container, list[PushButton]]:
    """A row of push buttons."""
    row = [PushButton(text=name) for name in names]
    return Container(widgets=row, layout="horizontal", labels=False), row


def derived_name(image_name: str, role: str) -> str:
    """The name of an image's output layer: ``"<image> <role>"``."""
    return f"{image_name} {role}"


def find_layer(viewer: napari.Viewer, image_name: str, role: str) -> Layer | None:
    """The ``role`` layer made for ``image_name``, if it exists."""
    return layer_named(viewer, derived_name(image_name, role))


def layer_named(viewer: napari.Viewer, name: str | None) -> Layer | None:
    """The layer called ``name``, or None."""
    return next((layer for layer in viewer.layers if layer.name == name), None)


def source_images(viewer: napari.Viewer) -> list[tuple[str, Image]]:
    """Image layers the user brought in (not the probability and boundary maps)."""
    return [
        (layer.name, layer)
        for layer in viewer.layers
        if isinstance(layer, Image) and ROLE_KEY not in layer.metadata
    ]


def require_image(layer: Any) -> Image:
    """``layer`` when it is an image layer; a `SegRefineError` saying what to do otherwise."""
    if layer is None:
        raise SegRefineError(
            "no image layer: open an image (File > Open) or a sample "
            "(File > Open Sample > SegRefine) first"
        )
    if not isinstance(layer, Image):
        raise SegRefineError(
            f"{layer.name!r} is a {type(layer).__name__.lower()} layer, not an image; "
            "choose the image you want to segment"
        )
    return layer


def require_layer(viewer: napari.Viewer, image_name: str, role: str, step: str) -> Layer:
    """The ``role`` layer of ``image_name``; a `SegRefineError` naming the missing step."""
    layer = find_layer(viewer, image_name, role)
    if layer is None:
        raise SegRefineError(
            f"no layer {derived_name(image_name, role)!r}: run {step} on {image_name!r} first"
        )
    return layer


def image_array(layer: Image) -> np.ndarray:
    """An image layer's pixels as numpy (multiscale: the full resolution)."""
    data = layer.data[0] if layer.multiscale else layer.data
    return np.asarray(data)


def _set_layer(viewer, source: Image, role: str, data: np.ndarray, kind: type, add, **kwargs):
    """Update the ``role`` layer of ``source`` in place, or (re)add it placed like ``source``."""
    layer = find_layer(viewer, source.name, role)
    if layer is not None and isinstance(layer, kind) and layer.data.shape == data.shape:
        layer.data = data
        return layer
    if layer is not None:
        viewer.layers.remove(layer)
    return add(
        data,
        name=derived_name(source.name, role),
        scale=source.scale,
        translate=source.translate,
        metadata={ROLE_KEY: role, IMAGE_KEY: source.name},
        **kwargs,
    )


def set_image(
    viewer: napari.Viewer, source: Image, role: str, data: np.ndarray, **kwargs: Any
) -> Image:
    """Add or update the ``role`` image layer of ``source`` (placed like ``source``)."""
    return _set_layer(viewer, source, role, data, Image, viewer.add_image, **kwargs)


def set_labels(
    viewer: napari.Viewer, source: Image, role: str, data: np.ndarray, **kwargs: Any
) -> Labels:
    """Add or update the ``role`` labels layer of ``source`` (placed like ``source``)."""
    return _set_layer(viewer, source, role, data, Labels, viewer.add_labels, **kwargs)


def current_slice(viewer: napari.Viewer, array_ndim: int) -> int | None:
    """Index of the displayed slice of a stack (arrays with more than 2 axes)."""
    if array_ndim <= 2:
        return None
    steps = viewer.dims.current_step
    return int(steps[len(steps) - array_ndim]) if len(steps) >= array_ndim else 0
