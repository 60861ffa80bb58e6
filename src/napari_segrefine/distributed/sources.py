"""Inputs of a distributed run: one 2-D image, read region by region on any worker.

A file input (zarr, OME-Zarr, TIFF, GeoTIFF, ...) travels to the workers as its path and
is opened there, once per worker process, so a task carries a few hundred bytes. An
in-memory array (numpy, dask) travels inside the source, which the run scatters to
the workers once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.preprocess import MIN_SIDE, to_channels_first
from ..errors import SegRefineError
from ..io import read_image, stem

Region = tuple[int, int, int, int]  # (y0, y1, x0, x1)


@dataclass(frozen=True)
class ImageSource:
    """One image to segment; `read` returns any region as channels-first pixels.

    Attributes:
        name: what outputs and messages call it (the file's stem, or ``image``).
        shape: the stored array's shape.
        dtype: the stored pixels' dtype.
        channel_axis: the stored array's channel axis, or None for gray (H, W).
        bands: channel indices kept, or None for all (RGBA's alpha is dropped on opening,
            as `predict` drops it).
        path: the file, opened on the worker; None for an in-memory ``array``.
        array: the in-memory pixels (numpy or dask), None for a file.
        scale: (Y, X) pixel size when the file has one.
        geo: GeoTIFF tags when the file has them.
        member: for a zarr group, the path of the array inside it (e.g. ``prob/0``).
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    channel_axis: int | None
    bands: tuple[int, ...] | None = None
    path: Path | None = None
    array: Any = None
    scale: tuple[float, ...] | None = None
    geo: dict[str, Any] | None = None
    member: str | None = None

    @property
    def spatial(self) -> tuple[int, int]:
        """(H, W)."""
        axes = [size for axis, size in enumerate(self.shape) if axis != self.channel_axis]
        return axes[0], axes[1]

    def pixels(self) -> Any:
        """The stored array: the in-memory one, or the file opened on this process."""
        if self.path is None:
            return self.array
        return _open_lazily(str(self.path), self.member)

    def read(self, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
        """The (C, h, w) pixels of ``rows`` x ``cols``, channels picked as `predict` does."""
        index: list[Any] = [slice(*rows), slice(*cols)]
        if self.channel_axis is not None:
            index.insert(self.channel_axis, slice(None))
        region = self.pixels()[tuple(index)]
        if hasattr(region, "compute"):  # a dask array: read here, in this task
            region = region.compute(scheduler="synchronous")
        region = np.asarray(region)
        if region.dtype.kind == "f" and not np.isfinite(region).all():
            raise SegRefineError(
                f"{self.name} has NaN or infinite values in rows {rows}, columns {cols}; "
                "replace them (e.g. np.nan_to_num) first"
            )
        if self.channel_axis is None:
            return region[None]
        region = np.moveaxis(region, self.channel_axis, 0)
        return region if self.bands is None else region[list(self.bands)]

    def read_padded(
        self, region: Region, padded: tuple[int, int], mode: str = "reflect"
    ) -> np.ndarray:
        """``region`` of the image padded to ``padded`` (H, W) at its bottom and right.

        ``reflect`` pads as `predict` does; ``symmetric`` (the edge pixel repeated) as
        `refine` pads for PRN. Rows and columns past the image are mirrored from the
        ones before them; enough of those are read that the mirror is the whole image's.
        """
        (height, width), (y0, y1, x0, x1) = self.spatial, region
        rows, pad_rows = _mirror_span(y0, y1, height, padded[0], mode)
        cols, pad_cols = _mirror_span(x0, x1, width, padded[1], mode)
        raw = self.read(rows, cols)
        if pad_rows or pad_cols:
            raw = np.pad(raw, ((0, 0), (0, pad_rows), (0, pad_cols)), mode=mode)
        return raw[:, y0 - rows[0] : y1 - rows[0], x0 - cols[0] : x1 - cols[0]]


def _mirror_span(
    start: int, stop: int, length: int, padded: int, mode: str
) -> tuple[tuple[int, int], int]:
    """Which stored rows to read for ``[start, stop)`` of the padded axis, and the padding."""
    if stop <= length:
        return (start, stop), 0
    pad = padded - length
    first_mirrored = length - pad - (1 if mode == "reflect" else 0)
    return (min(start, max(0, first_mirrored)), length), pad


@functools.lru_cache(maxsize=16)
def _open_lazily(path: str, member: str | None = None) -> Any:
    if member is None:
        return read_image(path, lazy=True).array
    import zarr

    return zarr.open_array(str(Path(path) / member), mode="r")


def open_source(
    image: str | Path | Any,
    *,
    channel_axis: int | None = None,
    bands: tuple[int, ...] | None = None,
) -> ImageSource:
    """An `ImageSource` for a file path or an in-memory 2-D image.

    Raises:
        SegRefineError: unreadable file, a stack (give its slices as a folder), or a
            layout `predict` would reject.
    """
    if isinstance(image, str | Path):
        data = read_image(image, lazy=True)
        axis = data.channel_axis if channel_axis is None else channel_axis
        return ImageSource(
            stem(Path(image)),
            tuple(data.shape),
            np.dtype(data.array.dtype),
            *_resolve_channels(data.shape, data.array.dtype, axis, bands),
            Path(image),
            scale=_plane_scale(data.scale),
            geo=data.geo,
        )
    shape, dtype = tuple(image.shape), np.dtype(image.dtype)
    axis, kept = _resolve_channels(shape, dtype, channel_axis, bands)
    return ImageSource("image", shape, dtype, axis, kept, None, image)


def _resolve_channels(
    shape: tuple[int, ...], dtype: np.dtype, channel_axis: int | None, bands: Any
) -> tuple[int | None, tuple[int, ...] | None]:
    """The channel axis and kept channels `to_channels_first` would use; no stacks.

    The layout is checked on a stand-in of the same layout with sides of `MIN_SIDE`
    pixels, so nothing is read.
    """
    stand_in = np.zeros(tuple(min(size, MIN_SIDE) for size in shape), dtype)
    _, layout = to_channels_first(stand_in, channel_axis, bands)
    if layout.is_stack:
        raise SegRefineError(
            f"distributed prediction takes one 2-D image (gray, RGB or multiband) per "
            f"input, got shape {shape} which reads as a stack; save its slices as a "
            "folder of images, or pass channel_axis if one axis holds channels"
        )
    if len(shape) == 2:
        return None, None
    axis = len(shape) - 1 if channel_axis is None else channel_axis % len(shape)
    if bands is not None:
        return axis, tuple(int(band) for band in bands)
    dropped = layout.channels < shape[axis]  # RGBA / gray + alpha: alpha dropped
    return axis, tuple(range(layout.channels)) if dropped else None


def _plane_scale(scale: tuple[float, ...] | None) -> tuple[float, float] | None:
    return None if scale is None or len(scale) < 2 else (scale[-2], scale[-1])
