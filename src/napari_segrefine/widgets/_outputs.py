"""Writing a prediction into the viewer: probability, boundary and mask layers.

Used by Segment (after a prediction), its threshold slider, and Fine-tune (after the
re-prediction). Pixels the user corrected or confirmed are never overwritten, and a
mask autosaved earlier for the same image is restored the first time it is shown.
"""

from __future__ import annotations

import napari
import numpy as np
from napari.layers import Image, Labels
from napari.utils.notifications import show_info

from ..engine import Prediction
from ..session import keep_corrections
from ._common import (
    BOUNDARY,
    CORRECTIONS,
    MASK,
    MASK_COLOR,
    PROBABILITY,
    find_layer,
    label_colors,
    set_image,
    set_labels,
)
from ._state import ViewerState


def shown_probability(prediction: Prediction) -> np.ndarray:
    """The map shown as the probability layer: P(foreground), or the top class's."""
    if prediction.is_binary:
        return prediction.probabilities
    return prediction.probabilities.max(axis=-3)


def show_prediction(
    viewer: napari.Viewer, state: ViewerState, source: Image, prediction: Prediction
) -> Labels:
    """Add or update the probability, boundary and mask layers of ``source``."""
    state.image(source.name).prediction = prediction
    set_image(
        viewer,
        source,
        PROBABILITY,
        shown_probability(prediction),
        colormap="magma",
        contrast_limits=(0.0, 1.0),
        opacity=0.45,
    )
    set_image(
        viewer,
        source,
        BOUNDARY,
        prediction.boundary,
        colormap="cyan",
        contrast_limits=(0.0, 1.0),
        blending="additive",
    )
    return write_mask(viewer, state, source, prediction.mask, binary=prediction.is_binary)


def _matching(layer: Labels | None, shape: tuple[int, ...]) -> np.ndarray | None:
    return layer.data if isinstance(layer, Labels) and layer.data.shape == shape else None


def write_mask(
    viewer: napari.Viewer,
    state: ViewerState,
    source: Image,
    proposed: np.ndarray,
    binary: bool = True,
) -> Labels:
    """Show ``proposed`` as ``source``'s mask, keeping corrected pixels as they are."""
    shape = proposed.shape
    current = _matching(find_layer(viewer, source.name, MASK), shape)
    valid = _matching(find_layer(viewer, source.name, CORRECTIONS), shape)
    restored = None
    if current is None:
        restored = state.project(source).load_corrections(state.fingerprint(source))
        if restored is not None and restored[0].shape == shape:
            current, valid = restored
        else:
            restored = None
    merged = keep_corrections(proposed, current, valid)
    style = {"colormap": label_colors({1: MASK_COLOR})} if binary else {}
    with state.writing(source.name):
        mask = set_labels(viewer, source, MASK, merged, opacity=0.5, **style)
    corrections = state.corrections_layer(source, shape)
    if restored is not None:
        corrections.data = restored[1].astype(np.uint8)
        show_info(
            f"restored {int(restored[1].sum())} corrected pixels of {source.name!r} from "
            f"{state.project(source).path}"
        )
    state.track(source)
    viewer.layers.selection.active = mask
    return mask
