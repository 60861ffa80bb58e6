"""Bring whatever image a user has into the (N, C, H, W) stack a model runs on.

Layouts understood without help (a trailing axis shorter than `MIN_SIDE` pixels
cannot be an image side, so it holds channels):

=============================  ==========================================
shape                          read as
=============================  ==========================================
(H, W)                         one gray image
(H, W, c), c < 8               one image with c channels (3: RGB, 4: RGBA)
(N, H, W)                      a stack (Z or T) of gray images
(N, H, W, c), c < 8            a stack of images with c channels
(N, c, H, W), c < 8            a stack, channels first
=============================  ==========================================

Anything else (channels first for one image, many bands) needs ``channel_axis``.
RGBA loses its alpha channel (with one warning); ``bands`` picks channels by index.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import SegRefineError

MIN_SIDE = 8
PAD_MULTIPLE = 32


@dataclass(frozen=True)
class Layout:
    """How the user's array maps onto the (N, C, H, W) stack.

    Attributes:
        stack_shape: ``()`` for one image, ``(N,)`` for a stack of N slices.
        kind: ``gray``, ``rgb``, ``rgba`` (alpha dropped) or ``multiband``.
        channels: channels kept (after dropping alpha or picking bands).
    """

    stack_shape: tuple[int, ...]
    kind: str
    channels: int

    @property
    def is_stack(self) -> bool:
        return bool(self.stack_shape)


def to_channels_first(
    image: np.ndarray,
    channel_axis: int | None = None,
    bands: Sequence[int] | None = None,
) -> tuple[np.ndarray, Layout]:
    """View ``image`` as a stack (N, C, H, W) in its own dtype, and say how.

    Args:
        image: 2D gray, RGB(A), multiband, or a stack of these (see the module table).
        channel_axis: the axis holding channels, when the layout is not guessable.
        bands: indices of the channels to keep (e.g. 3 bands of a multispectral image).

    Returns:
        The stack (a view where possible) and its `Layout`.

    Raises:
        SegRefineError: empty, NaN/inf, complex, fewer than 2 or more than 4 axes, a side
            shorter than `MIN_SIDE`, an ambiguous layout, or a band index out of range.
    """
    image = np.asarray(image)
    _check_values(image)
    stack, kind, is_stack = _channels_first(image, channel_axis)
    if bands is not None:
        stack = stack[:, _check_bands(bands, stack.shape[1])]
        kind = "gray" if stack.shape[1] == 1 else "multiband"
    elif kind in _ALPHA_KINDS:
        warnings.warn(f"the image is {kind}: the alpha channel is ignored", stacklevel=2)
        stack = stack[:, :-1]
    _check_sides(stack.shape[2:])
    return stack, Layout(stack.shape[:1] if is_stack else (), kind, stack.shape[1])


def _check_values(image: np.ndarray) -> None:
    if image.dtype.kind not in "biuf":
        raise SegRefineError(
            f"images of dtype {image.dtype} are not supported; give bool, integer or float pixels"
        )
    if image.ndim < 2 or image.ndim > 4:
        raise SegRefineError(
            f"the image has {image.ndim} axes (shape {image.shape}); expected 2 to 4: "
            "(H, W), (H, W, C), (N, H, W) or (N, H, W, C)"
        )
    if image.size == 0:
        raise SegRefineError(f"the image is empty (shape {image.shape})")
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise SegRefineError(
            "the image contains NaN or infinite values; replace them (e.g. np.nan_to_num)"
        )


def _channels_first(image: np.ndarray, channel_axis: int | None) -> tuple[np.ndarray, str, bool]:
    """The (N, C, H, W) view, the kind of image, and whether it was a stack."""
    if channel_axis is not None:
        return _explicit_channels(image, channel_axis)
    if image.ndim == 2:
        return image[None, None], "gray", False
    if image.shape[-1] < MIN_SIDE:
        channels_first = np.moveaxis(image, -1, -3)
        is_stack = image.ndim == 4
        stack = channels_first if is_stack else channels_first[None]
        return stack, _color_kind(image.shape[-1]), is_stack
    if image.ndim == 3:
        return image[:, None], "gray", True
    if image.shape[1] < MIN_SIDE:
        return image, _color_kind(image.shape[1]), True
    raise SegRefineError(
        f"cannot tell which axis of shape {image.shape} holds the channels; "
        "pass channel_axis (e.g. channel_axis=1 for (N, C, H, W))"
    )


def _explicit_channels(image: np.ndarray, channel_axis: int) -> tuple[np.ndarray, str, bool]:
    if not -image.ndim <= channel_axis < image.ndim:
        raise SegRefineError(
            f"channel_axis={channel_axis} is out of range for an image of shape {image.shape}"
        )
    if image.ndim == 2:
        raise SegRefineError(
            f"a 2D image (shape {image.shape}) has no channel axis; leave channel_axis=None"
        )
    stack = np.moveaxis(np.moveaxis(image, channel_axis, -1), -1, -3)
    is_stack = image.ndim == 4
    if not is_stack:
        stack = stack[None]
    last_axis = channel_axis % image.ndim == image.ndim - 1
    kind = _color_kind(stack.shape[1]) if last_axis else "multiband"
    return stack, "gray" if stack.shape[1] == 1 else kind, is_stack


_ALPHA_KINDS = ("rgba", "gray+alpha")


def _color_kind(channels: int) -> str:
    """Channels on the last axis read as napari does: 2 = gray + alpha, 3 RGB, 4 RGBA."""
    return {1: "gray", 2: "gray+alpha", 3: "rgb", 4: "rgba"}.get(channels, "multiband")


def _check_bands(bands: Sequence[int], channels: int) -> list[int]:
    picked = [int(b) for b in bands]
    if not picked or any(not -channels <= b < channels for b in picked):
        raise SegRefineError(
            f"bands={list(bands)} must be a non-empty list of channel indices "
            f"below {channels}, the number of channels of this image"
        )
    return picked


def _check_sides(spatial: tuple[int, ...]) -> None:
    if min(spatial) < MIN_SIDE:
        raise SegRefineError(
            f"the image is {spatial[0]} x {spatial[1]} pixels; each side needs at least "
            f"{MIN_SIDE} (is a channel or stack axis where a side should be? "
            "pass channel_axis)"
        )


def match_channels(chw: np.ndarray, in_channels: int) -> np.ndarray:
    """Fit the channels of a (C, H, W) image to a model taking ``in_channels``.

    Gray images are repeated (as a view) to fill the model's channels; any other
    mismatch is an error telling the user to pick bands.
    """
    channels = chw.shape[0]
    if channels == in_channels:
        return chw
    if channels == 1:
        return np.broadcast_to(chw, (in_channels, *chw.shape[1:]))
    raise SegRefineError(
        f"the image has {channels} channels but the model takes {in_channels}; "
        f"pick {in_channels} of them with bands=(...) (e.g. bands={tuple(range(in_channels))})"
    )


def pad_to_multiple(chw: np.ndarray, multiple: int = PAD_MULTIPLE) -> np.ndarray:
    """Reflect-pad the bottom and right of (C, H, W) up to multiples of ``multiple``."""
    height, width = chw.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not pad_h and not pad_w:
        return chw
    return np.pad(chw, ((0, 0), (0, pad_h), (0, pad_w)), mode="reflect")


def crop_to(array: np.ndarray, spatial: tuple[int, int]) -> np.ndarray:
    """The top-left ``spatial`` (H, W) of ``array``'s last two axes."""
    return array[..., : spatial[0], : spatial[1]]
