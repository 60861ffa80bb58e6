"""Correct: edit the mask with napari's label tools, guided to the patches most likely wrong.

Edits of the mask are recorded in the image's corrections (valid-mask) layer as they
happen (see `_state.ViewerState.track`); painting 1 on the corrections layer confirms
pixels as correct. "Next patch to check" moves the camera to the highest-ranked patch
that is not yet corrected or confirmed.
"""

from __future__ import annotations

from typing import Any

import napari
import numpy as np
from magicgui.widgets import ComboBox, Container, SpinBox
from napari.layers import Image, Labels
from napari.utils.notifications import show_info

from ..errors import SegRefineError
from ..ranking import PatchScore, rank_patches
from ._common import (
    CORRECTIONS,
    IMAGE_KEY,
    MASK,
    buttons,
    current_slice,
    find_layer,
    notify_error,
    require_image,
    require_layer,
    source_images,
    wrapped_label,
)
from ._state import state_for

OUTLINE = "next patch"
HELP = (
    "Paint, erase or fill the mask layer (it is selected for you). Edited pixels are "
    "recorded in the corrections layer (green); paint 1 there to confirm pixels as "
    "correct. Corrections are autosaved; Fine-tune learns from them."
)
FALLBACK_CANVAS = (600, 800)


def _canvas_size(viewer: napari.Viewer) -> tuple[int, int]:
    size = getattr(getattr(viewer, "canvas", None), "size", None)
    size = size or getattr(viewer, "_canvas_size", None)
    return tuple(size) if size and min(size) > 1 else FALLBACK_CANVAS


def _camera(viewer: napari.Viewer) -> Any:
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


class CorrectWidget(Container):
    """Start editing, next patch to check, confirm patch; progress of the review."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        self.viewer = napari_viewer
        self.state = state_for(napari_viewer)
        self.image = ComboBox(label="image", choices=lambda _: source_images(self.viewer))
        self.patch_size = SpinBox(label="review patch", min=16, max=2048, step=16, value=128)
        row, (self.edit_button, self.next_button, self.confirm_button) = buttons(
            "Start editing", "Next patch to check", "Confirm patch"
        )
        self.status = wrapped_label("segment an image, then Start editing", "status")
        super().__init__(
            widgets=[self.image, wrapped_label(HELP), self.patch_size, row, self.status]
        )
        self.current: tuple[str, int | None, PatchScore] | None = None
        self.edit_button.changed.connect(self.start_editing)
        self.next_button.changed.connect(self.next_patch)
        self.confirm_button.changed.connect(self.confirm_patch)

    def _layers(self) -> tuple[Image, Labels, Labels]:
        layer = require_image(self.image.value)
        mask = require_layer(self.viewer, layer.name, MASK, "Segment")
        return layer, mask, self.state.corrections_layer(layer, mask.data.shape)

    def start_editing(self) -> None:
        """Select the mask in paint mode and make sure its edits are recorded."""
        try:
            layer, mask, _ = self._layers()
        except SegRefineError as error:
            notify_error("Correct", error)
            return
        self.state.track(layer)
        self.viewer.layers.selection.active = mask
        mask.selected_label = 1
        mask.mode = "paint"
        self._report(layer)

    def next_patch(self) -> PatchScore | None:
        """Move the camera to the top-ranked patch not yet corrected or confirmed."""
        try:
            layer, mask, valid = self._layers()
            ranked, index = self._rank(layer, mask, valid)
        except SegRefineError as error:
            notify_error("Correct", error)
            return None
        if not ranked:
            self.current = None
            show_info(f"every patch of {layer.name!r} is corrected or confirmed")
            self._report(layer, 0)
            return None
        patch = ranked[0]
        self.current = (layer.name, index, patch)
        self._go_to(layer, index, patch)
        self._outline(layer, index, patch)
        self.viewer.layers.selection.active = mask
        self._report(layer, len(ranked))
        return patch

    def confirm_patch(self) -> PatchScore | None:
        """Mark the current patch as checked (valid), then go to the next one."""
        if self.current is None or self.current[0] not in self.viewer.layers:
            notify_error("Correct", SegRefineError("no patch to confirm: press Next patch first"))
            return None
        name, index, patch = self.current
        valid = find_layer(self.viewer, name, CORRECTIONS)
        if valid is not None:
            key = patch.slices if index is None else (index, *patch.slices)
            valid.data[key] = 1
            valid.refresh()
            self.state.schedule_autosave(name)
        return self.next_patch()

    def _rank(self, layer: Image, mask: Labels, valid: Labels) -> tuple[list[PatchScore], int]:
        prediction = self.state.image(layer.name).prediction
        if prediction is None or not prediction.is_binary:
            raise SegRefineError(
                f"no binary prediction for {layer.name!r}: run Segment with a one-logit model"
            )
        index = current_slice(self.viewer, mask.data.ndim)
        pick = (lambda a: a) if index is None else (lambda a: a[index])
        ranked = rank_patches(
            pick(prediction.probabilities),
            self.patch_size.value,
            boundary=pick(prediction.boundary),
            refined=pick(mask.data),
            valid=pick(valid.data),
            threshold=prediction.threshold,
        )
        return ranked, index

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
        top, left = patch.top, patch.left
        bottom, right = top + patch.height, left + patch.width
        box = np.array([[top, left], [top, right], [bottom, right], [bottom, left]], float)
        if index is not None:
            box = np.column_stack([np.full(4, index), box])
        old = find_layer(self.viewer, layer.name, OUTLINE)
        if old is not None:
            self.viewer.layers.remove(old)
        self.viewer.add_shapes(
            [box],
            shape_type="rectangle",
            name=f"{layer.name} {OUTLINE}",
            edge_color="yellow",
            face_color="transparent",
            edge_width=max(1.0, max(patch.height, patch.width) / 50),
            scale=layer.scale,
            translate=layer.translate,
            metadata={IMAGE_KEY: layer.name},
        )

    def _report(self, layer: Image, left: int | None = None) -> None:
        valid = find_layer(self.viewer, layer.name, CORRECTIONS)
        done = int(np.count_nonzero(valid.data)) if valid is not None else 0
        total = valid.data.size if valid is not None else 1
        text = f"{done} pixels corrected or confirmed ({done / total:.1%})"
        if left is not None:
            text += f"; {left} patches left to check"
        self.status.value = text
