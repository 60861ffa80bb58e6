"""Refine: a better mask from the probability map, patch by patch (PRN or adaptive)."""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass
from functools import partial
from typing import Any

import napari
import numpy as np
from magicgui.widgets import CheckBox, ComboBox, SpinBox
from napari.layers import Image, Labels
from napari.utils.colormaps import Colormap
from napari.utils.notifications import show_warning

from ..correction import CorrectionSession, change_grid
from ..engine import Progress
from ..errors import SegRefineError
from ..models import DEFAULT_PRN_MODEL
from ..refine import check_refinement
from ..train.prn_adapt import adapt_prn, correction_maps
from ._common import (
    MASK,
    MASK_COLOR,
    Dock,
    TaskRunner,
    buttons,
    cancel_when_closed,
    find_layer,
    label_colors,
    notify_error,
    require_image,
    set_image,
    set_labels,
    source_images,
    wrapped_label,
)
from ._models import DEMO, NO_PRN, ModelPicker, ModelRequest, models_for, weight_choices
from ._state import state_for

BEFORE, GRID = "before refine", "refine changes"
GRID_COLORS = Colormap([[1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 1.0, 1.0]], name="segrefine changed")
RANDOM_PRN = (
    "{arch} has random weights: it changes the mask at random; choose demo weights or a "
    "checkpoint, or no model (adaptive thresholds)"
)


@dataclass(frozen=True)
class RefineOutcome:
    """A refine job's result: the proposal and change grid (None when not applied)."""

    proposal: tuple | None
    grid: np.ndarray | None
    notes: list[str]


def refine_job(
    request: ModelRequest | None,
    session: CorrectionSession,
    patch_size: int,
    stop: threading.Event,
    *,
    adapt: bool = False,
    force: bool = False,
) -> Generator[Any, None, RefineOutcome]:
    """Load the PRN model (if any), adapt it to the corrections when asked, refine,
    check the result against the corrections and measure the change per patch (a worker).
    """
    prn, notes = None, []
    if request is not None:
        yield Progress(0, 0, f"loading {request.arch} ({request.source})")
        prn = request.load()
    if adapt and prn is not None:
        yield Progress(0, 0, f"adapting {request.arch} to your corrections")
        prn = adapted_prn(prn, session, patch_size, notes)
    refined = yield from session.iter_refine(prn, patch_size=patch_size, stop=stop)
    prediction = session.require_binary()
    check = check_refinement(prediction.mask, refined, session.mask, session.valid, patch_size)
    notes.append(check.message)
    if not (check.apply or force):
        notes.append("tick 'apply even if my corrections score lower' to take it anyway")
        return RefineOutcome(None, None, notes)
    key, box = proposal = session.propose_refined(refined)
    after = session.mask.copy()
    if key is not None:
        after[key] = box
    return RefineOutcome(proposal, change_grid(session.mask, after, patch_size), notes)


def adapted_prn(prn, session: CorrectionSession, patch_size: int, notes: list[str]):
    """``prn`` adapted to the session's corrections when its guard adopts it, else ``prn``."""
    prediction = session.require_binary()
    samples = correction_maps(prediction.probabilities, session.mask, session.valid)
    try:
        result = adapt_prn(prn, samples, patch_size)
    except SegRefineError as error:
        notes.append(f"PRN not adapted: {error}")
        return prn
    notes.append(result.reason)
    return result.model if result.adopted else prn


def grid_placement(source: Image, patch_size: int, ndim: int) -> dict[str, tuple]:
    """Scale and translate that lay a per-patch grid image over ``source``'s pixels."""
    scale = np.asarray(source.scale[-ndim:], float)
    translate = np.asarray(source.translate[-ndim:], float)
    factor = np.array([1.0] * (ndim - 2) + [patch_size, patch_size])
    return {
        "scale": tuple(scale * factor),
        "translate": tuple(translate + scale * (factor - 1) / 2),
    }


class RefineWidget(Dock):
    """Patch size, PRN model, Run/Cancel; the patch grid and the before/after view."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        self.viewer = napari_viewer
        self.state = state_for(napari_viewer)
        self.image = ComboBox(label="image", choices=lambda _: source_images(self.viewer))
        self.patch_size = SpinBox(label="patch size", min=16, max=512, step=8, value=64)
        default = DEFAULT_PRN_MODEL if DEFAULT_PRN_MODEL in self._prn_with_weights() else NO_PRN
        self.picker = ModelPicker(models_for("probability"), default, optional=True)
        self.show_grid = CheckBox(text="show patch grid (coloured by change)", value=True)
        self.show_before = CheckBox(text="show the mask before refinement", value=False)
        self.adapt = CheckBox(text="adapt PRN to my corrections first", value=False)
        self.force = CheckBox(text="apply even if my corrections score lower", value=False)
        row, (self.run_button, self.cancel_button) = buttons("Refine", "Cancel")
        self.status = wrapped_label("segment an image first, then Refine", "status")
        self.runner = TaskRunner("Refine", self.run_button, self.cancel_button, self.status)
        super().__init__()
        self.lay_out(
            [self.image, self.patch_size, self.picker, self.adapt, self.force, row,
             self.runner.bar, self.show_grid, self.show_before, self.status]
        )  # fmt: skip
        cancel_when_closed(self, self.runner)
        self.run_button.changed.connect(self.run)
        self.show_before.changed.connect(self._toggle_before)
        self.show_grid.changed.connect(self._toggle_grid)

    @staticmethod
    def _prn_with_weights() -> list[str]:
        return [name for name in models_for("probability") if DEMO in weight_choices(name)]

    def run(self) -> Any:
        """Refine the chosen image's mask in a worker (None on a mistake)."""
        try:
            layer = require_image(self.image.value)
            session = self.state.existing(layer.name)
            if session is None:
                raise SegRefineError(f"no prediction for {layer.name!r}: run Segment first")
            session.require_binary()
        except SegRefineError as error:
            notify_error("Refine", error)
            return None
        if self.picker.untrained:
            show_warning(RANDOM_PRN.format(arch=self.picker.arch.value))
        job = partial(refine_job, self.picker.request(), session, self.patch_size.value,
                      adapt=self.adapt.value, force=self.force.value)  # fmt: skip
        on_done = partial(self._apply, layer, session, self.patch_size.value)
        return self.runner.start(job, on_done=on_done, sessions=[session])

    def _apply(
        self, layer: Image, session: CorrectionSession, patch_size: int, outcome: RefineOutcome
    ) -> None:
        if layer not in self.viewer.layers:
            raise SegRefineError(f"the image {layer.name!r} was closed while it was refined")
        checked = "; ".join(outcome.notes)
        if outcome.proposal is None:
            self.status.value = f"Refine: {checked}"
            show_warning(f"Refine: {outcome.notes[-2]}")
            return
        grid = outcome.grid
        view = self.state.view(layer)
        session.apply_refined(proposal=outcome.proposal)
        mask = view.show()
        self._show_grid(layer, grid, patch_size)
        self._toggle_before(self.show_before.value)
        self.viewer.layers.selection.active = mask
        share = float(np.mean(grid)) if grid.size else 0.0
        self.status.value = (
            f"Refine: changed about {share:.2%} of the pixels; Ctrl+Z on {mask.name!r} undoes "
            f"it. {checked}"
        )

    def _show_grid(self, layer: Image, grid: np.ndarray, patch_size: int) -> None:
        """One image, one pixel per patch, over the image (not one shape per patch)."""
        placement = grid_placement(layer, patch_size, grid.ndim)
        limits = (0.0, max(float(grid.max()) if grid.size else 0.0, 1e-3))
        shown = set_image(self.viewer, layer, GRID, grid, colormap=GRID_COLORS,
                          contrast_limits=limits, opacity=0.6, interpolation2d="nearest",
                          visible=self.show_grid.value)  # fmt: skip
        shown.scale, shown.translate = placement["scale"], placement["translate"]
        shown.contrast_limits = limits

    def _toggle_before(self, show: bool) -> None:
        """Swap the mask for the one before refinement (its layer is made when first shown)."""
        layer = self.image.value
        if not isinstance(layer, Image):
            return
        session = self.state.existing(layer.name)
        before = find_layer(self.viewer, layer.name, BEFORE)
        if session is not None and session.before_refine is not None and (show or before):
            before = set_labels(self.viewer, layer, BEFORE, session.before_refine,
                                colormap=label_colors({1: MASK_COLOR}), opacity=0.5)  # fmt: skip
        mask = find_layer(self.viewer, layer.name, MASK)
        if isinstance(before, Labels):
            before.visible = bool(show)
        if isinstance(mask, Labels):
            mask.visible = not show

    def _toggle_grid(self, show: bool) -> None:
        layer = self.image.value
        grid = find_layer(self.viewer, layer.name, GRID) if isinstance(layer, Image) else None
        if grid is not None:
            grid.visible = bool(show)
