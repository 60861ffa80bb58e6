"""State shared by the dock widgets of one viewer: the model and one session per image.

Each widget is its own dock, so what they share (the model in use, the
`CorrectionSession` of each image and its `SessionView`) lives here, one `ViewerState`
per viewer, held without keeping the viewer alive. Removing an image, or its mask,
corrections or probability layer, cancels the jobs that work on it.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

import napari
from napari.layers import Image
from psygnal import Signal
from torch import nn

from ..correction import CorrectionSession
from ..models import model_config
from ._channels import Read, Reading, read_layer
from ._common import CHANNEL_KEY, CORRECTIONS, IMAGE_KEY, MASK, PROBABILITY, ROLE_KEY, image_array
from ._views import SessionView

WATCHED_ROLES = (MASK, CORRECTIONS, PROBABILITY)


NO_MODEL = "no model yet: run Segment once (it loads the model), or load a checkpoint in Fine-tune"


class ViewerState:
    """The model in use and the session of each image of one viewer."""

    model_changed = Signal(str)

    def __init__(self, viewer: napari.Viewer) -> None:
        self._viewer = weakref.ref(viewer)
        self.model: nn.Module | None = None
        self.model_source = ""
        self.training = False
        self.project_root: Path | None = None
        self.views: dict[str, SessionView] = {}
        self.readings: dict[str, Reading] = {}
        viewer.layers.events.removed.connect(self._on_removed)

    @property
    def viewer(self) -> napari.Viewer:
        return self._viewer()

    def view(self, source: Image) -> SessionView:
        """The view of ``source``'s session (a new session when its pixels or reading changed)."""
        view = self.views.get(source.name)
        reading = self.reading(source.name)
        if (
            view is not None
            and view.source is source
            and view.pixels is source.data
            and view.reading == reading
        ):
            return view
        if view is not None:
            self._close(source.name)
        read = self.read(source, image_array(source))
        source.metadata[CHANNEL_KEY] = read.axis
        session = CorrectionSession(
            read.image,
            name=source.name,
            rgb=read.rgb,
            source=getattr(source.source, "path", None),
            autosave_root=self.project_root,
        )
        view = self.views[source.name] = SessionView(self.viewer, source, session)
        view.describe_model = self.describe_model
        view.pixels, view.reading = source.data, reading
        return view

    def reading(self, name: str) -> Reading:
        """How the image called ``name`` is read (Segment's channel axis and bands)."""
        return self.readings.get(name, Reading())

    def read(self, source: Image, pixels: Any = None) -> Read:
        """``source`` read as its `Reading` says (``pixels``: its data, lazily by default)."""
        if pixels is None:
            pixels = source.data[0] if source.multiscale else source.data
        return read_layer(pixels, source.rgb, self.reading(source.name))

    def session(self, source: Image) -> CorrectionSession:
        """The session of image ``source`` (see `view`)."""
        return self.view(source).session

    def existing(self, name: str) -> CorrectionSession | None:
        """The session of the image called ``name``, if one was started."""
        view = self.views.get(name)
        return None if view is None else view.session

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

    def set_project_root(self, root: Path | None) -> None:
        """Autosave into ``root`` from now on (None: beside each image)."""
        self.project_root = root
        for view in self.views.values():
            view.session.autosave_root = root

    @property
    def settled(self) -> bool:
        """Whether every layer the views were asked to make exists (see `SessionView`)."""
        return all(view.settled for view in self.views.values())

    def flush_autosaves(self) -> None:
        """Save every session with a pending autosave now, on this thread."""
        for view in self.views.values():
            view.flush()

    def _on_removed(self, event: Any) -> None:
        layer = event.value
        role = layer.metadata.get(ROLE_KEY)
        name = layer.metadata.get(IMAGE_KEY) if role else layer.name
        if not role:
            self.readings.pop(name, None)
        view = self.views.get(name)
        if view is None:
            return
        if layer is view.source:
            self._close(name)
        elif role in WATCHED_ROLES:
            view.session.jobs.cancel()

    def _close(self, name: str) -> None:
        view = self.views.pop(name)
        view.flush()
        view.session.close()
        view.disconnect()


_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def all_settled() -> bool:
    """Whether every viewer's layers are made (scripts and tests wait for this)."""
    return all(state.settled for state in list(_STATES.values()))


def state_for(viewer: napari.Viewer) -> ViewerState:
    """The shared state of ``viewer`` (created on first use)."""
    state = _STATES.get(viewer)
    if state is None:
        state = _STATES[viewer] = ViewerState(viewer)
    return state
