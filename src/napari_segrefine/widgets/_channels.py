"""How the docks read an image layer: which axis holds channels, which bands feed the model.

napari calls a layer RGB(A) when its last axis has 3 or 4 values; any other 3-axis
layer is a stack of slices. That guess is often wrong for microscopy and remote
sensing: a (4, H, W) multiband image shows as a 4-slice stack, and a 4-band
(H, W, 4) image loses its 4th band as "alpha". Segment's *channel axis* and *bands*
controls say what the pixels are; `read_layer` turns that choice into the array a
`CorrectionSession` gets (channels last, only the chosen bands) and into one line that
says how the image is read, with a warning whenever a band is dropped or a stack axis
was guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.preprocess import MIN_SIDE
from ..errors import SegRefineError

AUTO = "auto"
NO_AXIS = "none"
ALPHA_CHANNELS = (2, 4)  # read as gray + alpha and RGBA: the last one is dropped


@dataclass(frozen=True)
class Reading:
    """The user's choice for one image.

    Attributes:
        axis: `AUTO` (napari's guess), `NO_AXIS` (gray image or stack of slices) or the
            index of the axis of the layer's data that holds channels.
        bands: channel indices fed to the model, in order; None keeps them all.
    """

    axis: int | str = AUTO
    bands: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Read:
    """An image layer as the session gets it.

    Attributes:
        image: the pixels, channels on the last axis when ``rgb``.
        rgb: whether the last axis of ``image`` holds channels.
        text: how the image is read, in one line.
        warning: what the user may not expect (a dropped band, a guessed stack axis).
        axis: the channel axis of the layer's data, None when there is none.
    """

    image: np.ndarray
    rgb: bool
    text: str
    warning: str | None = None
    axis: int | None = None


def parse_bands(text: str) -> tuple[int, ...] | None:
    """``"0, 1, 3"`` -> ``(0, 1, 3)``; an empty text -> None (all channels)."""
    parts = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    if not parts:
        return None
    try:
        return tuple(int(part) for part in parts)
    except ValueError:
        raise SegRefineError(
            f"bands {text!r} must be channel numbers separated by commas, such as 0, 1, 2 "
            "(empty: all channels)"
        ) from None


def axis_choices(shape: tuple[int, ...]) -> list[tuple[str, int | str]]:
    """The channel-axis choices for data of ``shape``: (label, value) pairs."""
    choices: list[tuple[str, int | str]] = [("auto (as napari shows it)", AUTO)]
    if len(shape) >= 3:
        choices.append(("none (gray image or stack)", NO_AXIS))
        choices += [(f"axis {axis} ({size} values)", axis) for axis, size in enumerate(shape)]
    return choices


def guessed_axis(shape: tuple[int, ...], rgb: bool) -> int | None:
    """The channel axis of `AUTO`: napari's RGB guess, else a short last (or 2nd) axis."""
    ndim = len(shape)
    if rgb or (ndim >= 3 and shape[-1] < MIN_SIDE):
        return ndim - 1
    if ndim == 4 and shape[1] < MIN_SIDE:
        return 1
    return None


def read_layer(data: np.ndarray, rgb: bool, reading: Reading) -> Read:
    """``data`` (a layer's pixels, ``rgb`` as napari shows it) read as ``reading`` says.

    Raises:
        SegRefineError: an axis out of range, bands without a channel axis or out of
            range, or a 4-axis image without a channel axis.
    """
    shape = tuple(np.shape(data))
    axis = guessed_axis(shape, rgb) if reading.axis == AUTO else reading.axis
    if axis == NO_AXIS:
        axis = None
    if axis is None:
        return _without_channels(data, shape, reading)
    if not (len(shape) >= 3 and 0 <= int(axis) < len(shape)):
        raise SegRefineError(
            f"channel axis {axis} does not fit an image of shape {shape}; choose another "
            "in Segment's channel axis"
        )
    return _with_channels(data, shape, int(axis), reading.bands)


def _without_channels(data: np.ndarray, shape: tuple[int, ...], reading: Reading) -> Read:
    if reading.bands is not None:
        raise SegRefineError(
            "bands need a channel axis: choose one in Segment's channel axis, or clear bands"
        )
    if len(shape) == 2:
        return Read(data, False, f"gray, {_size(shape)}")
    if len(shape) > 3:
        raise SegRefineError(
            f"an image of shape {shape} needs a channel axis; choose it in Segment's channel axis"
        )
    text = f"a stack of {shape[0]} gray slices (axis 0), each {_size(shape[1:])}"
    warning = None
    if reading.axis == AUTO:
        warning = (
            f"{text}: if axis 0 holds channels or bands, set Segment's channel axis to axis 0"
        )
    return Read(data, False, text, warning)


def _with_channels(
    data: np.ndarray, shape: tuple[int, ...], axis: int, bands: tuple[int, ...] | None
) -> Read:
    count = shape[axis]
    image = data if axis == len(shape) - 1 else np.moveaxis(data, axis, -1)
    spatial = tuple(size for index, size in enumerate(shape) if index != axis)
    if bands is not None:
        if any(not 0 <= band < count for band in bands):
            raise SegRefineError(
                f"bands {list(bands)} must be channel numbers from 0 to {count - 1} "
                f"(axis {axis} has {count})"
            )
        image = image[..., list(bands)]
    kept = list(bands) if bands is not None else list(range(count))
    dropped = kept.pop() if len(kept) in ALPHA_CHANNELS else None
    where = f"{count} channels on axis {axis}"
    if len(spatial) == 3:
        where = f"a stack of {spatial[0]} slices, {where}"
    text = f"{where}, {_size(spatial[-2:])}; the model gets bands {_listed(kept)}"
    if bands is None and count == 3 and axis == len(shape) - 1:  # plain colour
        text = f"{'a stack of RGB slices' if len(spatial) == 3 else 'RGB'}, {_size(spatial)}"
    warning = None
    if dropped is not None:
        text += f" (band {dropped} is read as alpha and ignored)"
        warning = (
            f"{text}; to use band {dropped}, list the bands in Segment's bands "
            f"(e.g. {_listed(_example(count, dropped))})"
        )
    elif len(kept) < count:
        left = [band for band in range(count) if band not in kept]
        warning = f"{text}; band(s) {_listed(left)} left out, as chosen"
    return Read(image, True, text, warning, axis)


def _example(count: int, dropped: int) -> list[int]:
    """Bands that include ``dropped``: three when there are, else ``dropped`` alone."""
    others = [band for band in range(count) if band != dropped]
    return [*others[-2:], dropped] if len(others) >= 2 else [dropped]


def _size(spatial: tuple[int, ...]) -> str:
    return " x ".join(str(size) for size in spatial)


def _listed(bands: list[int]) -> str:
    return ", ".join(str(band) for band in bands)
