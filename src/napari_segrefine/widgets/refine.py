"""Refine: a better mask from the probability map, patch by patch (PRN or adaptive)."""

from __future__ import annotations

import threading
from collections.abc import Generator
from functools import partial
from typing import Any

import napari
import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, SpinBox
from napari.layers import Image, Labels

from ..engine import Progress
from ..errors import Cancelled, SegRefineError
from ..models import DEFAULT_PRN_MODEL
from ..refine import iter_refine, refine_stats
from ..session import keep_corrections, patch_boxes
from ._common import (
    IMAGE_KEY,
    MASK,
    MASK_COLOR,
    TaskRunner,
    buttons,
    find_layer,
    label_colors,
    notify_error,
    require_image,
    require_layer,
    set_labels,
    source_images,
    wrapped_label,
)
from ._models import DEMO, NO_PRN, ModelPicker, ModelRequest, models_for, weight_choices
from ._state import state_for

BEFORE, GRID = "before refine", "refine changes"
TEXT_LIMIT = 150  # label patches with their percentage when there are at most this many


def refine_job(
    request: ModelRequest | None,
    prob: np.ndarray,
    settings: dict[str, Any],
    stop: threading.Event,
) -> Generator[Any, None, np.ndarray]:
    """Load the PRN model (if any) and refine each slice of ``prob`` (runs in a worker)."""
    prn = None
    if request is not None:
        yield Progress(0, 0, f"loading {request.arch} ({request.source})")
        prn = request.load()
    slices = [prob] if prob.ndim == 2 else list(prob)
    refined = []
    for index, slice_prob in enumerate(slices):
        if stop.is_set():
            raise Cancelled("refinement stopped")
        yield Progress(index, len(slices), f"slice {index + 1}/{len(slices)}")
        refined.append((yield from iter_refine(slice_prob, prn=prn, stop=stop, **settings)))
    return refined[0] if prob.ndim == 2 else np.stack(refined)


def grid_rectangles(
    before: np.ndarray, after: np.ndarray, patch_size: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Patch rectangles coloured by changed fraction (a stack: each slice's, at its index)."""
    if before.ndim == 2:
        return patch_boxes(refine_stats(before, after, patch_size), patch_size, before.shape)
    corners, values = [], []
    for index, (b, a) in enumerate(zip(before, after)):
        boxes, fractions = patch_boxes(refine_stats(b, a, patch_size), patch_size, b.shape)
        corners += [np.column_stack([np.full(4, index), box]) for box in boxes]
        values.append(fractions)
    return corners, np.concatenate(values) if values else np.zeros(0, np.float32)


class RefineWidget(Container):
    """Patch size, PRN model, Run/Cancel; patch grid and before/after view."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        self.viewer = napari_viewer
        self.state = state_for(napari_viewer)
        self.image = ComboBox(label="image", choices=lambda _: source_images(self.viewer))
        self.patch_size = SpinBox(label="patch size", min=16, max=512, step=8, value=64)
        default = DEFAULT_PRN_MODEL if DEFAULT_PRN_MODEL in self._prn_with_weights() else NO_PRN
        self.picker = ModelPicker(models_for("probability"), default, optional=True)
        self.show_grid = CheckBox(text="show patch grid (coloured by change)", value=True)
        self.show_before = CheckBox(text="show the mask before refinement", value=False)
        row, (self.run_button, self.cancel_button) = buttons("Refine", "Cancel")
        self.status = wrapped_label("segment an image first, then Refine", "status")
        super().__init__(
            widgets=[
                self.image,
                self.patch_size,
                self.picker,
                row,
                self.show_grid,
                self.show_before,
                self.status,
            ]
        )
        self.runner = TaskRunner("Refine", self.run_button, self.cancel_button, self.status)
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
            prediction = self.state.image(layer.name).prediction
            if prediction is None:
                raise SegRefineError(f"no prediction for {layer.name!r}: run Segment first")
            if not prediction.is_binary:
                raise SegRefineError(
                    "Refine works on binary (one-logit) models; this prediction has "
                    f"{prediction.num_classes} classes"
                )
            require_layer(self.viewer, layer.name, MASK, "Segment")
        except SegRefineError as error:
            notify_error("Refine", error)
            return None
        settings = {
            "patch_size": self.patch_size.value,
            "threshold": float(np.clip(prediction.threshold, 0.01, 0.99)),
        }
        job = partial(refine_job, self.picker.request(), prediction.probabilities, settings)
        return self.runner.start(job, on_done=partial(self._apply, layer))

    def _apply(self, layer: Image, refined: np.ndarray) -> None:
        mask = require_layer(self.viewer, layer.name, MASK, "Segment")
        if mask.data.shape != refined.shape:
            raise SegRefineError(
                f"{mask.name!r} changed shape while refining; segment {layer.name!r} again"
            )
        valid = self.state.corrections_layer(layer, refined.shape).data
        before = np.array(mask.data, copy=True)
        merged = keep_corrections(refined.astype(before.dtype), before, valid)
        changed = np.nonzero(merged != before)
        with self.state.writing(layer.name):
            mask.data_setitem(changed, merged[changed])  # one undo step (Ctrl+Z)
        self.state.image(layer.name).before_refine = before
        set_labels(
            self.viewer, layer, BEFORE, before, colormap=label_colors({1: MASK_COLOR}), opacity=0.5
        )
        self._draw_grid(layer, before, merged)
        self._toggle_before(self.show_before.value)
        self.viewer.layers.selection.active = mask
        share = changed[0].size / max(before.size, 1)
        self.status.value = (
            f"Refine: changed {share:.2%} of the pixels; Ctrl+Z on {mask.name!r} undoes it"
        )

    def _draw_grid(self, layer: Image, before: np.ndarray, after: np.ndarray) -> None:
        old = find_layer(self.viewer, layer.name, GRID)
        if old is not None:
            self.viewer.layers.remove(old)
        corners, values = grid_rectangles(before, after, self.patch_size.value)
        if not corners:
            return
        text = {"string": "{changed:.1%}", "color": "white", "size": 8}
        self.viewer.add_shapes(
            corners,
            shape_type="rectangle",
            name=f"{layer.name} {GRID}",
            features={"changed": values},
            face_color="changed",
            face_colormap="cool",
            face_contrast_limits=(0.0, max(float(values.max()), 1e-3)),
            edge_width=0,
            opacity=0.35,
            text=text if len(corners) <= TEXT_LIMIT else None,
            scale=layer.scale,
            translate=layer.translate,
            visible=self.show_grid.value,
            metadata={IMAGE_KEY: layer.name},
        )

    def _toggle_before(self, show: bool) -> None:
        layer = self.image.value
        if not isinstance(layer, Image):
            return
        before = find_layer(self.viewer, layer.name, BEFORE)
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
