"""Write label images and probability maps, atomically, in the format the extension names.

=============  ===========================================================================
extension      written as
=============  ===========================================================================
.tif, .tiff    zlib-compressed TIFF; scale as OME-XML and resolution tags; GeoTIFF
               placement tags (not the source's nodata or band metadata) from ``geo``
.png           one 2-D image, 8 bits (see `write_labels` and `write_probability`)
.npy           NumPy array
.zarr          plain zarr array (v2 format), chunks of 512 in Y and X; no metadata
.ome.zarr      OME-Zarr 0.4 multiscale image, up to 3 levels by nearest 2x downsampling
               in Y and X, scale in ``coordinateTransformations``
=============  ===========================================================================

A scale or georeferencing the chosen format cannot hold is dropped with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image

from ..errors import SegRefineError
from .atomic import atomic_output
from .formats import stem, write_format
from .image import check_scale
from .tiff import write_tiff
from .zarr_io import write_ome_zarr, write_zarr

PNG_MAX_LABEL = 255


def write_labels(
    path: str | Path,
    labels: ArrayLike,
    *,
    scale: Sequence[float] | None = None,
    geo: dict[str, Any] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write a mask or a label image, (Y, X) or (Z, Y, X), by the extension of ``path``.

    Labels are stored in the smallest unsigned integer type that holds them (booleans
    as uint8). A PNG holds one 2-D image: a binary mask (only 0 and 1) is written as
    0/255 so that it shows in any viewer; class ids up to 255 are written as they are.

    Args:
        path: output file or ``.zarr`` / ``.ome.zarr`` directory (see the module table).
        labels: non-negative integers or booleans.
        scale: pixel size per axis in micrometres, as `ImageData.scale`.
        geo: GeoTIFF tags as `ImageData.geo`, to place the mask on the map (TIFF only).
        overwrite: replace an existing output; when False that is an error.

    Returns:
        ``path``, written completely (never half-written, even on error).

    Raises:
        SegRefineError: unsupported extension, labels that are not non-negative
            integers in 2-D or 3-D, ids a PNG cannot hold, a bad scale or GeoTIFF tag.
    """
    path = Path(path)
    fmt = write_format(path)
    array = _as_labels(labels)
    if fmt == "png":
        array = _labels_for_png(array, path)
    return _save(path, fmt, array, scale=scale, geo=geo, overwrite=overwrite, labels=True)


def write_probability(
    path: str | Path,
    prob: ArrayLike,
    *,
    scale: Sequence[float] | None = None,
    geo: dict[str, Any] | None = None,
    channel_axis: int | None = None,
    overwrite: bool = True,
) -> Path:
    """Write a probability map as float32, by the extension of ``path``.

    A PNG holds one 2-D map as 8 bits: ``round(clip(p, 0, 1) * 255)``, NaN as 0.

    Args:
        path: output file or ``.zarr`` / ``.ome.zarr`` directory (see the module table).
        prob: probabilities, (..., Y, X); per-class maps have a channel axis.
        scale: pixel size per non-channel axis in micrometres, as `ImageData.scale`.
        geo: GeoTIFF tags as `ImageData.geo` (TIFF only).
        channel_axis: the class axis of per-class maps (for metadata and OME-Zarr).
        overwrite: replace an existing output; when False that is an error.

    Returns:
        ``path``, written completely (never half-written, even on error).

    Raises:
        SegRefineError: unsupported extension, a non-numeric array, a PNG that is not
            2-D, a bad scale or GeoTIFF tag.
    """
    path = Path(path)
    fmt = write_format(path)
    array = np.asarray(prob)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise SegRefineError(f"a probability map must hold real numbers, got dtype {array.dtype}")
    array = array.astype(np.float32, copy=False)
    if fmt == "png":
        _require_2d(array, path)
        array = np.round(np.clip(np.nan_to_num(array), 0, 1) * 255).astype(np.uint8)
    return _save(
        path, fmt, array, scale=scale, geo=geo, channel_axis=channel_axis, overwrite=overwrite
    )


def _as_labels(labels: ArrayLike) -> np.ndarray:
    array = np.asarray(labels)
    if array.dtype == bool:
        return array.view(np.uint8)
    if not np.issubdtype(array.dtype, np.integer):
        raise SegRefineError(
            f"labels must be integers or booleans, got dtype {array.dtype}; threshold a "
            "probability map first, or write it with write_probability"
        )
    if array.ndim not in (2, 3) or array.size == 0:
        raise SegRefineError(
            f"labels must be a non-empty 2-D (Y, X) or 3-D (Z, Y, X) array, got shape "
            f"{array.shape}"
        )
    lowest, highest = int(array.min()), int(array.max())
    if lowest < 0:
        raise SegRefineError(f"labels must not be negative, found {lowest}")
    return array.astype(np.min_scalar_type(highest), copy=False)


def _require_2d(array: np.ndarray, path: Path) -> None:
    if array.ndim != 2:
        raise SegRefineError(
            f"cannot write {path.name}: a PNG holds one 2-D image, got shape {array.shape}; "
            "write .tif or .zarr instead"
        )


def _labels_for_png(labels: np.ndarray, path: Path) -> np.ndarray:
    _require_2d(labels, path)
    highest = int(labels.max())
    if highest > PNG_MAX_LABEL:
        raise SegRefineError(
            f"cannot write {path.name}: a PNG holds label ids up to {PNG_MAX_LABEL}, found "
            f"{highest}; write .tif or .zarr instead"
        )
    return labels * np.uint8(255) if highest <= 1 else labels


def _warn_dropped(
    path: Path, fmt: str, scale: tuple[float, ...] | None, geo: dict[str, Any] | None
) -> None:
    if geo and fmt != "tiff":
        warnings.warn(
            f"{path.name}: georeferencing is kept only in .tif outputs; written without it",
            stacklevel=4,
        )
    if scale and fmt not in ("tiff", "ome-zarr") and any(size != 1 for size in scale):
        warnings.warn(
            f"{path.name}: this format keeps no pixel size; write .tif or .ome.zarr to keep "
            "the scale",
            stacklevel=4,
        )


def _save(
    path: Path,
    fmt: str,
    array: np.ndarray,
    *,
    scale: Sequence[float] | None,
    geo: dict[str, Any] | None,
    overwrite: bool,
    channel_axis: int | None = None,
    labels: bool = False,
) -> Path:
    checked_scale = check_scale(scale, array.ndim, channel_axis)
    _warn_dropped(path, fmt, checked_scale, geo)
    with atomic_output(path, overwrite=overwrite, directory=fmt.endswith("zarr")) as target:
        if fmt == "tiff":
            write_tiff(target, array, scale=checked_scale, geo=geo, channel_axis=channel_axis)
        elif fmt == "ome-zarr":
            write_ome_zarr(
                target,
                array,
                scale=checked_scale,
                channel_axis=channel_axis,
                labels=labels,
                name=stem(path),
            )
        elif fmt == "zarr":
            write_zarr(target, array)
        elif fmt == "npy":
            with open(target, "wb") as file:
                np.save(file, array)
        else:
            Image.fromarray(array).save(target, format="PNG")
    return path
