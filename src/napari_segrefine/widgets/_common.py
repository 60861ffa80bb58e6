"""Shared wiring of the dock widgets: background jobs, notifications and layer helpers.

A job is a generator function ``job(stop) -> Generator[event, None, result]`` that
calls the library; `TaskRunner` runs it in a napari ``thread_worker`` under the stop
event of the image's `CorrectionSession` (so deleting the image or closing the dock
cancels it), drives the dock's own progress bar and status line from the yielded
events, turns library errors into notifications, and hands the result to a callback
on the main thread. The dock's bar never processes Qt events itself (napari's global
progress bars do, which redrew the canvas in the middle of layer changes).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import napari
import numpy as np
from magicgui.widgets import Container, Label, ProgressBar, PushButton
from napari.layers import Image, Labels, Layer
from napari.qt.threading import create_worker
from napari.utils.colormaps import DirectLabelColormap
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QFrame, QSizePolicy

from ..correction import GAINED, LOST, CorrectionSession
from ..engine import Progress
from ..errors import Cancelled, SegRefineError

LOG = logging.getLogger("napari_segrefine.widgets")

Job = Callable[[threading.Event], Generator[Any, None, Any]]

ROLE_KEY = "segrefine_role"  # layer metadata: which output of which image a layer is
IMAGE_KEY = "segrefine_image"
CHANGES = "changes"  # the layer of what a model's new output changed in the mask
CHANNEL_KEY = "segrefine_channel_axis"  # image metadata: the axis read as channels
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
        task: what the job does, for the status line and the messages (``Segment``).
        run_button: disabled while a job runs.
        cancel_button: enabled while a job runs; sets the job's stop event.
        status: the widget's status line.
        bar: the widget's progress bar (hidden while idle).
    """

    def __init__(
        self,
        task: str,
        run_button: PushButton,
        cancel_button: PushButton,
        status: Label,
        bar: ProgressBar | None = None,
    ) -> None:
        self.task = task
        self.run_button, self.cancel_button, self.status = run_button, cancel_button, status
        self.bar = bar or ProgressBar(visible=False)
        self.bar.visible = False
        self.cancel_button.enabled = False
        self.cancel_button.changed.connect(self.cancel)
        self.worker = None
        self.sessions: list[CorrectionSession] = []
        self._stop = threading.Event()
        self.why_stopped: str | None = None  # what the widget gave `cancel` as its reason

    @property
    def busy(self) -> bool:
        return self.worker is not None

    @property
    def stopping(self) -> bool:
        """Cancel was pressed and the job has not ended yet."""
        return self.busy and self._stop.is_set()

    def start(
        self,
        job: Job,
        on_done: Callable[[Any], None],
        on_event: Callable[[Any], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        sessions: Sequence[CorrectionSession] = (),
    ):
        """Start ``job`` in a worker and return the worker (None when it cannot start).

        The job belongs to the images' ``sessions`` (one job at a time per image; a
        session's cancel stops it). ``on_event(event)``, ``on_done(result)`` (on
        success) and ``on_finished()`` (always, last) run on the main thread.
        """
        if self.busy:
            show_warning(f"{self.task} is already running; wait or press Cancel")
            return None
        stop, claimed = threading.Event(), []
        try:
            for session in sessions:
                claimed.append(session.jobs.begin(self.task, stop) and session)
        except SegRefineError as error:
            for session in claimed:
                session.jobs.end(stop)
            notify_error(self.task, error)
            return None
        self._stop, self.sessions, self.why_stopped = stop, claimed, None
        worker = create_worker(_guarded, job, self._stop, _start_thread=False)
        worker.yielded.connect(lambda event: self._on_event(event, on_event))
        worker.returned.connect(lambda outcome: self._on_returned(outcome, on_done))
        worker.finished.connect(self._on_finished)
        if on_finished is not None:
            worker.finished.connect(on_finished)
        self.worker = worker
        self.run_button.enabled, self.cancel_button.enabled = False, True
        self.bar.min, self.bar.max, self.bar.value, self.bar.visible = 0, 0, 0, True
        self.status.value = f"{self.task}: starting"
        worker.start()
        return worker

    def cancel(self, why: str | None = None) -> None:
        """Ask the running job to stop (it ends within a fraction of a second).

        ``why``: the widget stops it itself, for this reason: the status line then says
        it, with no notification.
        """
        if self.busy:
            self._stop.set()
            self.why_stopped = why
            self.status.value = f"{self.task}: stopping"

    def _on_event(self, event: Any, on_event: Callable[[Any], None] | None) -> None:
        done, total, text = describe(event)
        if not self.stopping:
            self.status.value = f"{self.task}: {text}"
        if total and self.bar.max != total:
            self.bar.max = total
        self.bar.value = min(done, self.bar.max)
        if on_event is not None:
            on_event(event)

    def _on_returned(self, outcome: _Outcome, on_done: Callable[[Any], None]) -> None:
        if outcome.cancelled and self.why_stopped:
            self.status.value = f"{self.task}: {self.why_stopped}"
        elif outcome.cancelled:
            self.status.value = f"{self.task}: cancelled"
            show_info(f"{self.task} cancelled")
        elif outcome.error is not None:
            self._failed(outcome.error)
        else:
            self.status.value = f"{self.task}: done"
            try:
                on_done(outcome.value)
            except Exception as error:  # a failure while showing results
                if not isinstance(error, SegRefineError):
                    LOG.exception("napari-segrefine could not show the result")
                self._failed(error)

    def _failed(self, error: BaseException) -> None:
        """A notification, and on the status line what to do (a `SegRefineError`'s one
        line) or, for an unexpected error, where to look."""
        told = error if isinstance(error, SegRefineError) else "failed (see the notification)"
        self.status.value = f"{self.task}: {told}"
        notify_error(self.task, error)

    def _on_finished(self) -> None:
        for session in self.sessions:
            session.jobs.end(self._stop)
        self.worker, self.sessions = None, []
        self.bar.visible = False
        self.run_button.enabled, self.cancel_button.enabled = True, False


class _CloseWatcher(QObject):
    """Cancels a dock's jobs when napari takes the dock away (its close button)."""

    def __init__(self, runners: list[TaskRunner]) -> None:
        super().__init__()
        self.runners = runners

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.ParentChange and watched.parent() is None:
            for runner in self.runners:
                runner.cancel()
        return False


def cancel_when_closed(widget: Container, *runners: TaskRunner) -> None:
    """Closing ``widget``'s dock cancels the jobs of ``runners``."""
    watcher = _CloseWatcher(list(runners))
    widget.native.installEventFilter(watcher)
    widget._close_watcher = watcher  # kept alive with the widget


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


def placement(source: Image, ndim: int) -> tuple[list[float], list[float]]:
    """Scale and translate of a ``ndim``-axis layer made from ``source``'s pixels.

    A layer axis read as channels (Segment's channel axis) is not one of the result's.
    """
    scale, translate = list(source.scale), list(source.translate)
    axis = source.metadata.get(CHANNEL_KEY)
    if axis is not None and len(scale) > ndim:
        del scale[axis], translate[axis]
    return scale[-ndim:], translate[-ndim:]


def _set_layer(viewer, source: Image, role: str, data: np.ndarray, kind: type, add, **kwargs):
    """Update the ``role`` layer of ``source`` in place, or (re)add it placed like ``source``."""
    layer = find_layer(viewer, source.name, role)
    if layer is not None and isinstance(layer, kind) and layer.data.shape == data.shape:
        if layer.data is data:  # the session changed it in place
            layer.refresh()
        else:
            layer.data = data
        return layer
    if layer is not None:
        viewer.layers.remove(layer)
    scale, translate = placement(source, data.ndim)
    return add(
        data,
        name=derived_name(source.name, role),
        scale=scale,
        translate=translate,
        metadata={ROLE_KEY: role, IMAGE_KEY: source.name},
        **kwargs,
    )


def set_image(
    viewer: napari.Viewer, source: Image, role: str, data: np.ndarray, **kwargs: Any
) -> Image:
    """Add or update the ``role`` image layer of ``source`` (placed like ``source``)."""
    return _set_layer(viewer, source, role, data, Image, viewer.add_image, **kwargs)


def show_changes(viewer: napari.Viewer, source: Image, changes: np.ndarray) -> Labels:
    """The ``changes`` layer of ``source``: a `change_map` of what a new model output
    added (blue) and removed (magenta) from the mask."""
    colors = label_colors({GAINED: "dodgerblue", LOST: "magenta"})
    return set_labels(viewer, source, CHANGES, changes, colormap=colors)


def set_labels(
    viewer: napari.Viewer, source: Image, role: str, data: np.ndarray, **kwargs: Any
) -> Labels:
    """Add or update the ``role`` labels layer of ``source`` (placed like ``source``)."""
    return _set_layer(viewer, source, role, data, Labels, viewer.add_labels, **kwargs)


class Dock(Container):
    """A dock widget whose controls sit in a scroll area (see `lay_out`).

    napari docks a widget's ``native`` QWidget, so the scroll area goes inside it:
    a dock then asks for little height, and five docks fit a small screen.
    """

    def __init__(self) -> None:
        super().__init__(widgets=[])
        self.margins = (0, 0, 0, 0)
        self.content = Container(widgets=[])

    def lay_out(self, widgets: list) -> None:
        """Show ``widgets``, top to bottom, in the dock's scroll area."""
        self.content = Container(widgets=widgets, scrollable=True)
        self.content.root_native_widget.setFrameShape(QFrame.Shape.NoFrame)
        self.native.layout().addWidget(self.content.root_native_widget)

    def reset_choices(self, *args: Any) -> None:
        """napari calls this when layers change: refresh the pickers."""
        self.content.reset_choices()


def collapsible(parent: Container, title: str, widgets: list, after: Any) -> Container:
    """Put ``widgets`` in a folded section of ``parent``, below ``after``; returns the section.

    Advanced settings start folded, so every dock fits a small screen.
    """
    from superqt import QCollapsible

    inner = Container(widgets=widgets)
    inner.margins = (0, 0, 0, 0)
    box = QCollapsible(title, expandedIcon="▼", collapsedIcon="▶")
    box.layout().setContentsMargins(0, 0, 0, 0)
    box.layout().setSpacing(0)
    box.addWidget(inner.native)
    layout, row = parent.native.layout(), after.native
    while row.parentWidget() is not parent.native:  # a labelled widget sits in a row
        row = row.parentWidget()
    layout.insertWidget(layout.indexOf(row) + 1, box)
    inner.box = box
    return inner
