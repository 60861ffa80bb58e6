"""Correct: edit the mask with napari's label tools, guided to the patches most likely wrong.

The mask and corrections layers hold the image session's own arrays: each stroke is
recorded as corrected (see `_views.SessionView`), and Ctrl+Z undoes mask and record
together. "Next patch to check" (Shift+N) ranks the patches in a worker and moves the
camera to the top one not yet corrected or confirmed; "Confirm patch" (Shift+C)
records it as checked and moves on. "Update as I correct" fits a head to the
corrections after each edit (in a worker, seconds) and shows its prediction when its
guard adopts it (on a tiled image, where you look first, then the rest); "Update now"
does it once; "Undo update" shows again what the image
showed before the last one (corrections stay). With "Learn from all images" the head also
learns from the other open images' corrections; its guard judges this image only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import napari
import numpy as np
from magicgui.widgets import CheckBox, ComboBox, SpinBox
from napari.layers import Image
from napari.utils.notifications import show_info

from ..correction import CorrectionSession
from ..engine import FirstPart, Prediction, Progress
from ..errors import SegRefineError
from ..generators import map_events
from ..ranking import PatchScore
from ..train.head import HeadResult
from ._common import (
    IMAGE_KEY,
    Dock,
    TaskRunner,
    buttons,
    cancel_when_closed,
    derived_name,
    find_layer,
    notify_error,
    require_image,
    show_changes,
    source_images,
    wrapped_label,
)
from ._state import NO_MODEL, state_for

OUTLINE = "next patch"
TWO_CLASSES_FIRST = (
    ": it holds bright and dark pixels; an update needs corrections of both classes"
)
NEXT_KEY, CONFIRM_KEY = "Shift-N", "Shift-C"
HELP = (
    "Paint, erase or fill the mask layer (it is selected for you). Edited pixels are "
    "recorded in the corrections layer (green); paint 1 there to confirm pixels as "
    "correct. Ctrl+Z undoes an edit and its record. Corrections are autosaved; "
    f"Fine-tune learns from them. Keys: {NEXT_KEY} next patch, {CONFIRM_KEY} confirm."
)
FALLBACK_CANVAS = (600, 800)
SUPERSEDED = "kept where you look; starting again with your new edit"


def _canvas_size(viewer: napari.Viewer) -> tuple[int, int]:
    size = getattr(getattr(viewer, "canvas", None), "size", None)
    size = size or getattr(viewer, "_canvas_size", None)
    return tuple(size) if size and min(size) > 1 else FALLBACK_CANVAS


def _camera(viewer: napari.Viewer) -> Any:
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def visible_part(viewer: napari.Viewer, layer: Image, shape: tuple[int, ...]) -> tuple | None:
    """The part of ``layer``'s image (spatial ``shape``: (H, W) or (N, H, W)) that the
    canvas shows: ``(y0, y1, x0, x1)``, the slice's index first in a stack; None when
    none of it is in view, or in a 3D view."""
    if viewer.dims.ndisplay != 2:
        return None
    camera = _camera(viewer)
    centre = np.asarray(camera.center[-2:], float)
    half = np.asarray(_canvas_size(viewer), float) / 2 / camera.zoom
    point = np.asarray(viewer.dims.point, float)
    corners = []
    for dy, dx in ((-1, -1), (-1, 1), (1, -1), (1, 1)):  # all four: the layer may be rotated
        point[-2:] = centre + (dy * half[0], dx * half[1])
        corners.append(np.asarray(layer.world_to_data(point), float))
    low, high = np.min(corners, axis=0)[-2:], np.max(corners, axis=0)[-2:]
    y0, x0 = np.maximum(np.floor(low).astype(int), 0)
    y1, x1 = np.minimum(np.ceil(high).astype(int), shape[-2:])
    if y0 >= y1 or x0 >= x1:
        return None
    if len(shape) == 2:
        return y0, y1, x0, x1
    index = int(round(corners[0][-3]))
    return (index, y0, y1, x0, x1) if 0 <= index < shape[0] else None


def rank_job(session: CorrectionSession, patch_size: int, stop) -> Any:
    """Find the next patch to check, in any slice of a stack (in a worker)."""
    return session.next_patch(patch_size)
    yield  # a generator, as every job


def adapt_job(
    session: CorrectionSession, model: Any, others: list, first: tuple | None, stop
) -> Any:
    """Fit a head to the corrections (this image's and ``others``' sessions') and, when
    adopted, predict with it (``first``: the part in view, first), map what it changes
    and the share of the unchecked pixels that is (in a worker)."""
    events = session.iter_adapt(model, stop=stop, also_from=others, first=first)
    result, prediction = yield from map_events(events, partial(_part_ready, session))
    if prediction is None:
        return result, None, None, 0.0
    changes = session.proposed_changes(prediction)
    return result, prediction, changes, session.unchecked_share(changes)


@dataclass(frozen=True)
class PartReady(Progress):
    """An update's part in view, ready to show (`CorrectionSession.propose_part`)."""

    prediction: Prediction | None = None
    changes: np.ndarray | None = None


def _part_ready(session: CorrectionSession, event: Any) -> Any:
    """A `FirstPart` event as a `PartReady` one, its merge done here (in the worker)."""
    if not isinstance(event, FirstPart):
        return event
    return PartReady(event.done, event.total, event.message, *session.propose_part(event))


class CorrectWidget(Dock):
    """Start editing, next patch to check, confirm patch; progress of the review."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        self.viewer = napari_viewer
        self.state = state_for(napari_viewer)
        self.image = ComboBox(label="image", choices=lambda _: source_images(self.viewer))
        self.patch_size = SpinBox(label="review patch", min=16, max=2048, step=16, value=128)
        row, (self.edit_button, self.next_button, self.confirm_button) = buttons(
            "Start editing", "Next patch", "Confirm patch"
        )
        self.next_button.tooltip = f"the next patch most likely wrong ({NEXT_KEY})"
        self.confirm_button.tooltip = f"record this patch as checked, go on ({CONFIRM_KEY})"
        self.status = wrapped_label("segment an image, then Start editing", "status")
        _, (cancel,) = buttons("Cancel")
        self.runner = TaskRunner("Next patch", self.next_button, cancel, self.status)
        self.live = CheckBox(text="Update as I correct", value=False)
        self.pooled = CheckBox(text="Learn from all images", value=True)
        self.pooled.tooltip = (
            "the update also learns from the corrections of the other images open here; "
            "it is still checked on this image's corrections only"
        )
        update_row, (self.update_button, self.undo_button, update_cancel) = buttons(
            "Update now", "Undo update", "Cancel"
        )
        self.undo_button.tooltip = (
            "show again what you had before the last update; your corrections stay"
        )
        self.undo_button.enabled = False
        self.update_status = wrapped_label("", "update status")
        self.updater = TaskRunner("Update", self.update_button, update_cancel, self.update_status)
        self.pending = False
        super().__init__()
        self.lay_out(
            [self.image, wrapped_label(HELP), self.patch_size, row, self.status, self.live,
             self.pooled, update_row, self.update_status]
        )  # fmt: skip
        cancel_when_closed(self, self.runner)
        cancel_when_closed(self, self.updater)
        self.watched: CorrectionSession | None = None
        self.update_button.changed.connect(self.update_now)
        self.undo_button.changed.connect(self.undo_update)
        self.image.changed.connect(self._image_chosen)
        self.edit_button.changed.connect(self.start_editing)
        self.next_button.changed.connect(self.next_patch)
        self.confirm_button.changed.connect(self.confirm_patch)
        self.viewer.bind_key(NEXT_KEY, lambda _: self.next_patch(), overwrite=True)
        self.viewer.bind_key(CONFIRM_KEY, lambda _: self.confirm_patch(), overwrite=True)

    def _session(self) -> tuple[Image, CorrectionSession]:
        layer = require_image(self.image.value)
        session = self.state.existing(layer.name)
        if session is None:
            raise SegRefineError(f"no prediction for {layer.name!r}: run Segment first")
        session.require_binary()
        self._watch(session)
        return layer, session

    def _watch(self, session: CorrectionSession) -> None:
        """Live counts while painting: follow the session's record (and whether it has an
        update to undo)."""
        if self.watched is not session:
            session.events.valid.connect(self._on_valid)
            session.events.history.connect(self._on_edit)
            session.events.prediction.connect(self._refresh_undo)
            self.watched = session
        self._refresh_undo()

    def _image_chosen(self, layer: Any) -> None:
        session = self.state.existing(layer.name) if isinstance(layer, Image) else None
        if session is not None:
            self._watch(session)
        else:
            self.undo_button.enabled = False

    def _refresh_undo(self, *_: Any) -> None:
        session = self.watched
        self.undo_button.enabled = session is not None and session.before_update is not None

    def start_editing(self) -> None:
        """Select the mask in paint mode (its strokes are recorded as corrections)."""
        try:
            layer, session = self._session()
        except SegRefineError as error:
            notify_error("Correct", error)
            return
        mask = self.state.view(layer).show()
        self.viewer.layers.selection.active = mask
        mask.selected_label = 1
        mask.mode = "paint"
        self._report(session)

    def next_patch(self) -> Any:
        """Rank the patches in a worker (of every slice of a stack), then move the view to
        the top unchecked one."""
        try:
            layer, session = self._session()
        except SegRefineError as error:
            notify_error("Correct", error)
            return None
        job = partial(rank_job, session, self.patch_size.value)
        return self.runner.start(job, on_done=partial(self._show_patch, layer, session))

    def confirm_patch(self) -> Any:
        """Record the current patch as checked (valid), then go to the next one."""
        try:
            layer, session = self._session()
            session.confirm_patch()
        except SegRefineError as error:
            notify_error("Correct", error)
            return None
        return self.next_patch()

    def _show_patch(self, layer: Image, session: CorrectionSession, patch: PatchScore | None):
        if layer not in self.viewer.layers:
            return
        if patch is None:
            show_info(f"every patch of {layer.name!r} is corrected or confirmed")
            self._report(session, "no patch left to check")
            return
        index = session.current[0]
        self._go_to(layer, index, patch)
        self._outline(layer, index, patch)
        self.viewer.layers.selection.active = self.state.view(layer).show()
        where = "" if index is None else f" of slice {index}"
        why = TWO_CLASSES_FIRST if patch.mixture > 0 else ""  # a two-class patch
        self._report(session, f"checking the patch at {patch.top}, {patch.left}{where}{why}")

    def _go_to(self, layer: Image, index: int | None, patch: PatchScore) -> None:
        point = [*([] if index is None else [index]), *patch.center]
        world = np.asarray(layer.data_to_world(point), dtype=float)
        if index is not None:
            axis = self.viewer.dims.ndim - len(point)
            self.viewer.dims.set_point(axis, world[0])
        camera = _camera(self.viewer)
        camera.center = tuple(world[-2:])
        side = max(patch.height * abs(layer.scale[-2]), patch.width * abs(layer.scale[-1]))
        camera.zoom = 0.6 * min(_canvas_size(self.viewer)) / side

    def _outline(self, layer: Image, index: int | None, patch: PatchScore) -> None:
        """One rectangle in one shapes layer, updated in place."""
        top, left = patch.top, patch.left
        bottom, right = top + patch.height, left + patch.width
        box = np.array([[top, left], [top, right], [bottom, right], [bottom, left]], float)
        if index is not None:
            box = np.column_stack([np.full(4, index), box])
        edge = max(1.0, max(patch.height, patch.width) / 50)
        old = find_layer(self.viewer, layer.name, OUTLINE)
        if old is not None and old.ndim == box.shape[1]:
            old.data = [box]
            old.edge_width = edge
            return
        if old is not None:
            self.viewer.layers.remove(old)
        self.viewer.add_shapes(
            [box],
            shape_type="rectangle",
            name=derived_name(layer.name, OUTLINE),
            edge_color="yellow",
            face_color="transparent",
            edge_width=edge,
            scale=layer.scale,
            translate=layer.translate,
            metadata={IMAGE_KEY: layer.name},
        )

    def update_now(self) -> Any:
        """Fit a head to this image's corrections (and, with "Learn from all images",
        the other images') in a worker; show it on this image if adopted."""
        try:
            layer, session = self._session()
            if self.state.model is None:
                raise SegRefineError(NO_MODEL)
        except SegRefineError as error:
            notify_error("Update", error)
            return None
        self.pending = False
        others = [view.session for view in self.state.views.values()] if self.pooled.value else []
        first = visible_part(self.viewer, layer, session.shape)
        job = partial(adapt_job, session, self.state.model, others, first)
        return self.updater.start(
            job,
            on_done=partial(self._show_update, layer, session),
            on_event=partial(self._update_event, layer, session),
            on_finished=partial(self._update_finished, layer, session),
            sessions=[session],
        )

    def _update_event(self, layer: Image, session: CorrectionSession, event: Any) -> None:
        """An adopted update's part in view is shown while the rest is predicted."""
        if isinstance(event, PartReady) and layer in self.viewer.layers:
            session.show_part(event.prediction)
            show_changes(self.viewer, layer, event.changes)
        if session.before_part is not None and not self.updater.stopping:
            rest = "starting" if isinstance(event, PartReady) else event.message
            self.update_status.value = (
                f"Update adopted, shown where you look; the rest of the image: {rest}"
            )

    def _on_edit(self, *_: Any) -> None:
        """After an edit: update now when live, or once the running update ends. An
        update already shown where you look stops predicting the rest and keeps its
        part: the next one, with this edit, follows at once."""
        if not self.live.value:
            return
        if not self.updater.busy:
            self.update_now()
            return
        self.pending = True
        if any(session.before_part is not None for session in self.updater.sessions):
            self.updater.cancel(SUPERSEDED)

    def _update_finished(self, layer: Image, session: CorrectionSession) -> None:
        """After an update: a part shown of an update that did not finish goes, unless
        a newer update takes over from it; a pending update starts."""
        if self.updater.why_stopped == SUPERSEDED:
            session.keep_part()
        elif (changes := session.drop_part()) is not None and layer in self.viewer.layers:
            show_changes(self.viewer, layer, changes)
        if self.pending and self.live.value:
            self.update_now()

    def _show_update(self, layer: Image, session: CorrectionSession, outcome: tuple) -> None:
        result, prediction, changes, share = outcome
        if prediction is not None:
            session.show_update(prediction)  # the head stays with its image
            if layer in self.viewer.layers:
                show_changes(self.viewer, layer, changes)
        self._describe_update(result, share)

    def undo_update(self) -> None:
        """Show again what this image showed before its last update (corrections stay)."""
        try:
            layer, session = self._session()
            if self.updater.busy:
                raise SegRefineError("an update is running; cancel it or wait, then undo")
            changes = session.undo_update()
        except SegRefineError as error:
            notify_error("Undo update", error)
            return
        show_changes(self.viewer, layer, changes)
        self.update_status.value = (
            "Update undone: showing what you had before it; your corrections stay "
            "(the changes layer shows what the undo changed)"
        )

    def _describe_update(self, result: HeadResult, changed: float) -> None:
        text = f"{result.reason}; {result.pixels} pixels, {result.seconds:.1f} s"
        if changed:  # adopted and shown, and it changed something
            text += (
                f"; it changed {changed:.1%} of the mask you have not checked (blue: added, "
                "magenta: removed, in the changes layer)"
            )
        self.update_status.value = f"Update: {text}"
        if not result.adopted:
            show_info(f"Update {text}")

    def _on_valid(self, key: Any) -> None:
        if self.watched is not None and self.watched.valid is not None:
            self._report(self.watched)

    def _report(self, session: CorrectionSession, extra: str = "") -> None:
        done = int(np.count_nonzero(session.valid))
        text = f"{done} pixels corrected or confirmed ({done / session.valid.size:.1%})"
        self.status.value = f"{text}; {extra}" if extra else text
