"""TIFF in and out (tifffile): OME and ImageJ pixel sizes, GeoTIFF tags.

Pixel sizes are read, in order of preference, from OME-XML (``PhysicalSizeX/Y/Z``),
else from the resolution tags (with ImageJ's ``unit`` and ``spacing`` for stacks). The
resolution tifffile writes by default (1 pixel per unit, no unit) means "no scale".

Written masks carry the scale twice, as OME-XML and as resolution tags in pixels per
centimetre, so both OME readers and plain TIFF readers (Fiji, GIS) see it.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import tifffile

from ..errors import SegRefineError
from ..limits import check_pixels
from .image import ImageData, axis_names

# name: (tag code, TIFF data type as tifffile spells it)
GEO_TAGS = {
    "ModelPixelScaleTag": (33550, "d"),
    "ModelTiepointTag": (33922, "d"),
    "ModelTransformationTag": (34264, "d"),
    "GeoKeyDirectoryTag": (34735, "H"),
    "GeoDoubleParamsTag": (34736, "d"),
    "GeoAsciiParamsTag": (34737, "s"),
    "GDAL_METADATA": (42112, "s"),
    "GDAL_NODATA": (42113, "s"),
}
# What places a raster on the map. GDAL_NODATA and GDAL_METADATA describe the source's
# pixel values (nodata value, band statistics), which are wrong for a mask or a map of
# probabilities, so outputs leave them out.
PLACEMENT_TAGS = tuple(name for name in GEO_TAGS if not name.startswith("GDAL_"))

_MICROMETRES_PER_UNIT = {
    "nm": 1e-3,
    "um": 1.0,
    "µm": 1.0,
    "\\u00B5m": 1.0,
    "micron": 1.0,
    "mm": 1e3,
    "cm": 1e4,
    "m": 1e6,
}
_MICROMETRES_PER_RESUNIT = {2: 25400.0, 3: 1e4, 4: 1e3, 5: 1.0}  # inch, cm, mm, µm
_RESUNIT_NONE = 1


class TiffRegions:
    """The first series of a TIFF as an on-disk array: indexing reads only what it needs.

    Picklable (it holds the path, not an open file), so workers of a cluster open it on
    their side; each process keeps its file open after the first read.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path = Path(path)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(_opened(str(self.path))[key])

    def __repr__(self) -> str:
        return f"<TIFF {self.path.name} {self.shape} {self.dtype}>"


@functools.lru_cache(maxsize=8)
def _opened(path: str) -> Any:
    import zarr

    return zarr.open(tifffile.imread(path, aszarr=True, series=0, level=0), mode="r")


def read_tiff(path: Path, lazy: bool = False) -> ImageData:
    """Read the first series of a TIFF, OME-TIFF or GeoTIFF, with its scale and tags.

    ``lazy``: keep the pixels on disk as a `TiffRegions` (needs zarr).
    """
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        if lazy:
            array = TiffRegions(path, series.shape, series.dtype)
        else:
            check_pixels(series.shape, series.dtype.itemsize, path.name)
            array = series.asarray()
        axes = series.axes
        channel_axis = next((i for i, axis in enumerate(axes) if axis in "SC"), None)
        sizes = _ome_sizes(tif.ome_metadata) if tif.is_ome else {}
        if not sizes:
            sizes = _resolution_sizes(tif.pages.first.tags, tif.imagej_metadata or {})
        geo = _geo_tags(tif.pages.first.tags)
    scale = None
    if sizes:
        scale = tuple(sizes.get(axis, 1.0) for i, axis in enumerate(axes) if i != channel_axis)
    return ImageData(array, path, scale, geo, channel_axis)


def _ome_sizes(ome_xml: str) -> dict[str, float]:
    try:
        root = ElementTree.fromstring(ome_xml)
    except ElementTree.ParseError:
        return {}
    pixels = next((node for node in root.iter() if node.tag.endswith("Pixels")), None)
    if pixels is None:
        return {}
    sizes = {}
    for axis in "XYZ":
        value = pixels.get(f"PhysicalSize{axis}")
        if value is not None:
            unit = pixels.get(f"PhysicalSize{axis}Unit", "µm")
            sizes[axis] = float(value) * _MICROMETRES_PER_UNIT.get(unit, 1.0)
    return sizes


def _ratio(value: Any) -> float:
    numerator, denominator = value if isinstance(value, tuple) else (value, 1)
    return numerator / denominator if denominator else 0.0


def _resolution_sizes(tags: tifffile.TiffTags, imagej: dict[str, Any]) -> dict[str, float]:
    if "XResolution" not in tags or "YResolution" not in tags:
        return {}
    x_res, y_res = _ratio(tags["XResolution"].value), _ratio(tags["YResolution"].value)
    unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2
    if x_res <= 0 or y_res <= 0 or (unit == _RESUNIT_NONE and x_res == y_res == 1):
        return {}
    imagej_unit = _MICROMETRES_PER_UNIT.get(imagej.get("unit", ""), 1.0)
    per_unit = _MICROMETRES_PER_RESUNIT.get(unit, imagej_unit)
    sizes = {"X": per_unit / x_res, "Y": per_unit / y_res}
    if "spacing" in imagej:
        sizes["Z"] = float(imagej["spacing"]) * imagej_unit
    return sizes


def _geo_tags(tags: tifffile.TiffTags) -> dict[str, Any] | None:
    found = {name: tags[code].value for name, (code, _) in GEO_TAGS.items() if code in tags}
    return found or None


def _tag_payload(value: Any, dtype: str) -> tuple[int, Any] | None:
    """(count, value) as tifffile writes a tag of ``dtype``; None if ``value`` cannot be one.

    Text that is not 7-bit ASCII is kept as its UTF-8 bytes (what GDAL writes and reads).
    Numbers must be finite; GeoKey directory entries whole numbers in 0..65535.
    """
    if dtype == "s":
        if isinstance(value, str):
            value = value.encode("utf-8")
        return (0, value) if isinstance(value, bytes) else None
    try:
        values = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None
    if values.size == 0 or not np.isfinite(values).all():
        return None
    if dtype == "H":
        if not (np.all(values == np.round(values)) and values.min() >= 0 and values.max() < 2**16):
            return None
        return values.size, tuple(int(v) for v in values)
    return values.size, tuple(values.tolist())


def geo_extratags(geo: dict[str, Any]) -> list[tuple[int, str, int, Any, bool]]:
    """tifffile ``extratags`` that place an output where ``geo`` placed its source.

    A tag whose value does not fit its GeoTIFF type (text where numbers belong, NaN,
    out-of-range GeoKeys) is dropped with a warning; non-ASCII text is kept as UTF-8
    with a warning, since TIFF asks for 7-bit ASCII.

    Raises:
        SegRefineError: ``geo`` names a tag that is not a GeoTIFF tag.
    """
    unknown = sorted(set(geo) - set(GEO_TAGS))
    if unknown:
        raise SegRefineError(
            f"unknown GeoTIFF tag(s) {', '.join(unknown)}; expected names from "
            f"{', '.join(GEO_TAGS)} (as read_image returns them)"
        )
    extratags, dropped, non_ascii = [], [], []
    for name in PLACEMENT_TAGS:
        if name not in geo:
            continue
        code, dtype = GEO_TAGS[name]
        payload = _tag_payload(geo[name], dtype)
        if payload is None:
            dropped.append(name)
            continue
        if isinstance(payload[1], bytes) and not payload[1].isascii():
            non_ascii.append(name)
        extratags.append((code, dtype, *payload, True))
    if dropped:
        warnings.warn(
            f"GeoTIFF tag(s) {', '.join(dropped)} dropped from the output: their values do not "
            "fit the tag's type (e.g. text where numbers belong); the mask may not be placed "
            "on the map",
            stacklevel=5,
        )
    if non_ascii:
        warnings.warn(
            f"GeoTIFF tag(s) {', '.join(non_ascii)} hold non-ASCII text, kept as UTF-8",
            stacklevel=5,
        )
    return extratags


def _scale_options(
    ndim: int, scale: Sequence[float] | None, channel_axis: int | None
) -> dict[str, Any]:
    if scale is None:
        return {}
    names = axis_names(ndim, channel_axis)
    sizes = dict(zip([name for name in names if name != "c"], scale))
    metadata: dict[str, Any] = {"axes": "".join(names).upper()}
    metadata.update({f"PhysicalSize{a.upper()}": sizes[a] for a in "xyz" if a in sizes})
    return {
        "ome": True,
        "metadata": metadata,
        "resolution": (1e4 / sizes["x"], 1e4 / sizes["y"]),
        "resolutionunit": "CENTIMETER",
    }


def write_tiff(
    target: Path,
    array: np.ndarray,
    *,
    scale: Sequence[float] | None = None,
    geo: dict[str, Any] | None = None,
    channel_axis: int | None = None,
) -> None:
    """Write ``array`` zlib-compressed, with its scale (micrometres) and GeoTIFF placement."""
    tifffile.imwrite(
        target,
        array,
        compression="zlib",
        photometric="minisblack",
        extratags=geo_extratags(geo) if geo else (),
        **_scale_options(array.ndim, scale, channel_axis),
    )
