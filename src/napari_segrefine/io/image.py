"""What a read image carries along (`ImageData`), and how its axes are named."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SegRefineError

SPATIAL_NAMES = "xyzt"  # named from the last axis back


@dataclass(frozen=True)
class ImageData:
    """An image as read from disk, with what is needed to write results back alike.

    Attributes:
        array: the pixels as stored: (H, W), (H, W, C), (Z, H, W), (C, H, W) ... A numpy
            array; large inputs stay on disk: zarr as a lazy ``dask.array.Array``, .npy
            as a read-only memory map (see `read_image`).
        path: where it was read from.
        scale: pixel size per axis except the channel axis, in array order (Z, Y, X),
            in micrometres when the file names a unit; None when the file has none.
        geo: the raw GeoTIFF tags by name (``ModelPixelScaleTag``, ``ModelTiepointTag``,
            ``ModelTransformationTag``, ``GeoKeyDirectoryTag``, ``GeoDoubleParamsTag``,
            ``GeoAsciiParamsTag``, ``GDAL_METADATA``, ``GDAL_NODATA``); None when absent.
            Pass it to `write_labels` to georeference a mask like its image.
        channel_axis: the colour/band axis when the file says which (OME axes, TIFF
            samples, RGB(A) PNG/JPEG), else None.
    """

    array: Any
    path: Path
    scale: tuple[float, ...] | None = None
    geo: dict[str, Any] | None = None
    channel_axis: int | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)


def _normalize_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise SegRefineError(f"channel_axis {axis} is out of range for a {ndim}-D array")
    return axis % ndim


def axis_names(ndim: int, channel_axis: int | None = None) -> list[str]:
    """Names of an array's axes: ``c`` for channels, the others x, y, z, t from the end.

    Raises:
        SegRefineError: fewer than 2 or more than 4 non-channel axes.
    """
    channel = None if channel_axis is None else _normalize_axis(channel_axis, ndim)
    spatial = [axis for axis in range(ndim) if axis != channel]
    if not 2 <= len(spatial) <= len(SPATIAL_NAMES):
        raise SegRefineError(
            f"expected a 2-D to 4-D image (plus an optional channel axis), got shape with "
            f"{ndim} axes; pass channel_axis if one axis holds channels"
        )
    names = dict(zip(reversed(spatial), SPATIAL_NAMES))
    if channel is not None:
        names[channel] = "c"
    return [names[axis] for axis in range(ndim)]


def check_scale(
    scale: Sequence[float] | None, ndim: int, channel_axis: int | None = None
) -> tuple[float, ...] | None:
    """``scale`` as floats, checked to hold one positive size per non-channel axis.

    Raises:
        SegRefineError: wrong length, or a size that is not a positive number.
    """
    if scale is None:
        return None
    expected = ndim - (channel_axis is not None)
    sizes = tuple(float(size) for size in scale)
    if len(sizes) != expected:
        raise SegRefineError(
            f"scale {sizes} has {len(sizes)} entries, expected {expected} (one per "
            "non-channel axis of the array)"
        )
    if not all(np.isfinite(size) and size > 0 for size in sizes):
        raise SegRefineError(f"scale {sizes} must hold positive pixel sizes")
    return sizes
