"""zarr and OME-Zarr in and out.

Reading opens a plain zarr array, a group holding one array, or an OME-Zarr multiscale
image (0.1 to 0.5), of which only the first, full-resolution level is read. Arrays
larger than `LAZY_BYTES` stay on disk as a lazy ``dask.array.Array`` (each slice reads
only the chunks it needs); smaller ones are loaded as numpy arrays.

Writing uses the zarr v2 format (what OME-Zarr 0.4 specifies and most tools read),
chunks of `CHUNK` pixels in Y and X and one slice along every other axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import SegRefineError
from ..limits import check_pixels
from .image import ImageData, axis_names

LAZY_BYTES = 256 * 2**20
CHUNK = 512
OME_VERSION = "0.4"
MAX_LEVELS = 3
MIN_LEVEL_SIDE = 16  # no pyramid level with a Y or X side shorter than this

_MICROMETRES_PER_UNIT = {"nanometer": 1e-3, "micrometer": 1.0, "millimeter": 1e3, "meter": 1e6}
_AXIS_TYPES = {"t": "time", "c": "channel"}


def _import_zarr() -> ModuleType:
    try:
        import zarr
    except ImportError as exc:
        raise SegRefineError(
            "zarr files need the zarr package; install it with "
            "pip install 'napari-segrefine[dask]'"
        ) from exc
    return zarr


def read_zarr(path: Path, lazy: bool | None = None) -> ImageData:
    """Read a zarr array or the full-resolution level of an OME-Zarr image.

    Raises:
        SegRefineError: a group that is neither OME-Zarr nor holds exactly one array.
    """
    zarr = _import_zarr()
    node = zarr.open(store=str(path), mode="r")
    if isinstance(node, zarr.Array):
        return ImageData(_load(node, lazy), path)
    multiscales = node.attrs.get("multiscales") or node.attrs.get("ome", {}).get("multiscales")
    if multiscales:
        return _read_multiscale(path, node, multiscales[0], lazy)
    arrays = sorted(node.array_keys())
    if len(arrays) != 1:
        raise SegRefineError(
            f"cannot read {path.name}: a zarr group without OME-Zarr 'multiscales' metadata "
            f"must hold exactly one array, found {len(arrays)}; point to the array itself"
        )
    return ImageData(_load(node[arrays[0]], lazy), path)


def _load(array: Any, lazy: bool | None) -> Any:
    if lazy is None:
        lazy = array.nbytes > LAZY_BYTES
    if not lazy:
        check_pixels(array.shape, array.dtype.itemsize, "the zarr array")
        return array[...]
    import dask.array as da

    return da.from_zarr(array)


def _axis_labels(multiscale: dict[str, Any], ndim: int) -> tuple[list[str], list[str]]:
    """Axis names (channels named ``c``) and units; before 0.3 the axes were t, c, z, y, x."""
    axes = multiscale.get("axes") or list("tczyx"[-ndim:])
    axes = [axis if isinstance(axis, dict) else {"name": axis} for axis in axes]
    names = ["c" if axis.get("type") == "channel" else axis["name"] for axis in axes]
    return names, [axis.get("unit", "") for axis in axes]


def _level_scale(multiscale: dict[str, Any], ndim: int) -> list[float] | None:
    scale = None
    for transforms in (
        multiscale["datasets"][0].get("coordinateTransformations", []),
        multiscale.get("coordinateTransformations", []),
    ):
        for transform in transforms:
            if transform.get("type") == "scale":
                factors = np.asarray(transform["scale"], dtype=float)
                scale = factors if scale is None else scale * factors
    return None if scale is None or scale.size != ndim else scale.tolist()


def _read_multiscale(
    path: Path, group: Any, multiscale: dict[str, Any], lazy: bool | None
) -> ImageData:
    array = group[multiscale["datasets"][0]["path"]]
    names, units = _axis_labels(multiscale, array.ndim)
    scale = _level_scale(multiscale, array.ndim)
    # Leading singleton axes (T=1, C=1, Z=1 of 5-D images) are dropped: a 2-D image stays 2-D.
    keep = [i for i, name in enumerate(names) if array.shape[i] > 1 or name in ("y", "x")]
    index = tuple(slice(None) if i in keep else 0 for i in range(array.ndim))
    kept_names = [names[i] for i in keep]
    channel_axis = kept_names.index("c") if "c" in kept_names else None
    if scale is not None:
        scale = tuple(
            scale[i] * _MICROMETRES_PER_UNIT.get(units[i], 1.0) for i in keep if names[i] != "c"
        )
    return ImageData(_load(array, lazy)[index], path, scale, None, channel_axis)


def _compressor() -> Any:
    from numcodecs import Blosc

    return Blosc(cname="zstd", clevel=5, shuffle=Blosc.BITSHUFFLE)


def _chunks(shape: Sequence[int]) -> tuple[int, ...]:
    """`CHUNK` pixels along the last two axes (Y, X), one slice along the others."""
    first_plane_axis = len(shape) - 2
    return tuple(
        min(CHUNK, size) if axis >= first_plane_axis else 1 for axis, size in enumerate(shape)
    )


def write_zarr(target: Path, array: np.ndarray) -> None:
    """Write ``array`` as a plain chunked zarr array (no scale, no metadata)."""
    zarr = _import_zarr()
    stored = zarr.create_array(
        store=str(target),
        shape=array.shape,
        dtype=array.dtype,
        chunks=_chunks(array.shape),
        compressors=_compressor(),
        zarr_format=2,
    )
    stored[...] = array


def _axes_metadata(names: Sequence[str], with_unit: bool) -> list[dict[str, str]]:
    axes = []
    for name in names:
        axis = {"name": name, "type": _AXIS_TYPES.get(name, "space")}
        if with_unit and axis["type"] == "space":
            axis["unit"] = "micrometer"
        axes.append(axis)
    return axes


def write_ome_zarr(
    target: Path,
    array: np.ndarray,
    *,
    scale: Sequence[float] | None = None,
    channel_axis: int | None = None,
    labels: bool = False,
    name: str = "image",
) -> None:
    """Write an OME-Zarr 0.4 multiscale image: up to `MAX_LEVELS` levels, nearest 2x.

    Only Y and X shrink between levels. A channel axis is moved first (OME-Zarr orders
    axes c, z, y, x). ``labels`` marks the image as a label image (``image-label``).

    Raises:
        SegRefineError: the array is not 2-D or 3-D (Z, Y, X) apart from channels.
    """
    if channel_axis is not None:
        array = np.moveaxis(array, channel_axis, 0)
        channel_axis = 0
    names = axis_names(array.ndim, channel_axis)
    if "t" in names:
        raise SegRefineError(
            f"OME-Zarr output takes a 2-D (Y, X) or 3-D (Z, Y, X) array plus an optional "
            f"channel axis, got shape {array.shape}; write it as .zarr or .tif instead"
        )
    sizes = iter(scale if scale is not None else ())
    base_scale = [1.0 if name == "c" else float(next(sizes, 1.0)) for name in names]

    zarr = _import_zarr()
    group = zarr.open_group(str(target), mode="w", zarr_format=2)
    datasets = []
    level = array
    for index in range(MAX_LEVELS):
        stored = group.create_array(
            str(index),
            shape=level.shape,
            dtype=level.dtype,
            chunks=_chunks(level.shape),
            compressors=_compressor(),
        )
        stored[...] = level
        factor = 2.0**index
        level_scale = [s * factor if n in ("y", "x") else s for n, s in zip(names, base_scale)]
        datasets.append(
            {
                "path": str(index),
                "coordinateTransformations": [{"type": "scale", "scale": level_scale}],
            }
        )
        level = level[..., ::2, ::2]
        if min(level.shape[-2:]) < MIN_LEVEL_SIDE:
            break
    group.attrs["multiscales"] = [
        {
            "version": OME_VERSION,
            "name": name,
            "axes": _axes_metadata(names, with_unit=scale is not None),
            "datasets": datasets,
            "type": "nearest",
        }
    ]
    if labels:
        group.attrs["image-label"] = {"version": OME_VERSION}
