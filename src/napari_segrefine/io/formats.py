"""File formats by extension, and the stem that matches predictions to ground truth."""

from __future__ import annotations

from pathlib import Path

from ..errors import SegRefineError

# Longest first, so that ``a.ome.tif`` is recognised before ``.tif``.
_FORMAT_OF_SUFFIX = {
    ".ome.tiff": "tiff",
    ".ome.tif": "tiff",
    ".ome.zarr": "ome-zarr",
    ".tiff": "tiff",
    ".tif": "tiff",
    ".zarr": "zarr",
    ".png": "raster",
    ".jpeg": "raster",
    ".jpg": "raster",
    ".bmp": "raster",
    ".npy": "npy",
}

READ_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".npy", ".zarr", ".ome.zarr")
WRITE_SUFFIXES = (".tif", ".tiff", ".png", ".npy", ".zarr", ".ome.zarr")

FORMAT_NAMES = {
    "tiff": "a TIFF image",
    "raster": "a PNG, JPEG or BMP image",
    "npy": "a NumPy .npy array",
    "zarr": "a zarr array or OME-Zarr group",
    "ome-zarr": "an OME-Zarr group",
}


def _known_suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((suffix for suffix in _FORMAT_OF_SUFFIX if name.endswith(suffix)), None)


def stem(path: str | Path) -> str:
    """The file name without its image extension (``a.ome.tif`` -> ``a``, ``b.zarr`` -> ``b``).

    Only a known image extension is removed (with an ``.ome`` before it), so dots that
    belong to the name stay: ``scan.2024.tif`` -> ``scan.2024``. Unknown extensions lose
    their last suffix only.
    """
    path = Path(path)
    suffix = _known_suffix(path)
    return path.name[: -len(suffix)] if suffix else path.stem


def read_format(path: Path) -> str:
    """The reader for ``path``: ``tiff``, ``raster``, ``npy`` or ``zarr``.

    Raises:
        SegRefineError: the extension is not one we read.
    """
    suffix = _known_suffix(path)
    if suffix is None:
        raise SegRefineError(
            f"cannot read {path.name}: unsupported file type {path.suffix or '(none)'!r}; "
            f"supported: {', '.join(READ_SUFFIXES)}"
        )
    fmt = _FORMAT_OF_SUFFIX[suffix]
    return "zarr" if fmt == "ome-zarr" else fmt


def write_format(path: Path) -> str:
    """The writer for ``path``: ``tiff``, ``png``, ``npy``, ``zarr`` or ``ome-zarr``.

    Raises:
        SegRefineError: the extension is not one we write.
    """
    suffix = _known_suffix(path)
    if suffix is None or (_FORMAT_OF_SUFFIX[suffix] == "raster" and suffix != ".png"):
        raise SegRefineError(
            f"cannot write {path.name}: unsupported output type {path.suffix or '(none)'!r}; "
            f"choose one of {', '.join(WRITE_SUFFIXES)}"
        )
    fmt = _FORMAT_OF_SUFFIX[suffix]
    return "png" if fmt == "raster" else fmt


def is_readable_name(path: Path) -> bool:
    """Whether ``path`` has an extension `read_image` understands."""
    return _known_suffix(path) is not None
