"""Read images of any supported format, and expand folders into image lists."""

from __future__ import annotations

import math
import stat
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import SegRefineError
from ..limits import check_pixels
from .formats import FORMAT_NAMES, READ_SUFFIXES, is_readable_name, read_format
from .image import ImageData
from .raster import read_raster
from .tiff import read_tiff
from .zarr_io import LAZY_BYTES, read_zarr

PathLike = str | Path


def read_image(path: PathLike, *, lazy: bool | None = None) -> ImageData:
    """Read an image with its pixel size, GeoTIFF tags and channel axis when present.

    Formats: TIFF (.tif, .tiff, OME-TIFF, GeoTIFF; first series), PNG, JPEG, BMP
    (colour spaces as `read_raster` converts them; palette PNGs, the usual format of
    label masks, give their palette indices), .npy, and zarr directories (a plain
    array, or the full-resolution level of an OME-Zarr image, with singleton T/C/Z
    axes dropped).

    Args:
        path: the file, or the ``.zarr`` directory.
        lazy: for zarr and .npy: keep the pixels on disk (zarr as a ``dask.array.Array``,
            .npy as a read-only memory map) when True, load them when False, and decide
            by size when None (on disk above 256 MiB). TIFFs stay on disk (a
            `TiffRegions`) only when True.

    Raises:
        SegRefineError: missing file, unsupported extension, not a regular file (a
            FIFO or device would block or never end), unreadable or damaged file, an
            image without pixels, or one claiming more pixels than `limits` allow.
    """
    path = Path(path)
    if not path.exists():
        raise SegRefineError(f"no such file: {path}")
    fmt = read_format(path)
    _check_regular(path, fmt)
    try:
        image = _read(fmt, path, lazy)
    except SegRefineError:
        raise
    except MemoryError:
        raise SegRefineError(
            f"{path.name} is too large to load into memory; convert it to zarr and read it lazily"
        ) from None
    except Exception as exc:  # readers raise many types (IndexError, zlib.error ...) on bad files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SegRefineError(
            f"cannot read {path.name}: expected {FORMAT_NAMES[fmt]} but the file is damaged "
            f"or of another kind ({reason})"
        ) from exc
    if math.prod(image.shape) == 0:
        raise SegRefineError(
            f"{path.name} holds an empty image (shape {image.shape}); check the file"
        )
    return image


def _check_regular(path: Path, fmt: str) -> None:
    """Refuse FIFOs, devices and sockets (and folders where a file is expected)."""
    mode = path.stat().st_mode
    if stat.S_ISREG(mode) or (fmt == "zarr" and stat.S_ISDIR(mode)):
        return
    kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, device or socket)"
    raise SegRefineError(
        f"cannot read {path}: it is {kind}; give {FORMAT_NAMES[fmt]} file (reading a pipe "
        "or device could block forever)"
    )


def _read(fmt: str, path: Path, lazy: bool | None) -> ImageData:
    if fmt == "tiff":
        return read_tiff(path, lazy=bool(lazy))
    if fmt == "zarr":
        return read_zarr(path, lazy)
    if fmt == "npy":
        return _read_npy(path, lazy)
    return read_raster(path)


def _npy_claim(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype an .npy header claims, checked against the file's size."""
    with open(path, "rb") as file:
        major, _ = np.lib.format.read_magic(file)
        read_header = (
            np.lib.format.read_array_header_1_0
            if major == 1
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(file)
        data_bytes = path.stat().st_size - file.tell()
    claimed = math.prod(shape) * dtype.itemsize
    if dtype.hasobject or claimed > data_bytes:
        raise SegRefineError(
            f"cannot read {path.name}: its header claims {shape} {dtype} "
            f"({claimed} bytes) but the file holds {data_bytes}; it is truncated or damaged"
        )
    return shape, dtype


def _read_npy(path: Path, lazy: bool | None) -> ImageData:
    shape, dtype = _npy_claim(path)
    if lazy is None:
        lazy = path.stat().st_size > LAZY_BYTES
    if not lazy:
        check_pixels(shape, dtype.itemsize, path.name)
    array = np.load(path, mmap_mode="r" if lazy else None, allow_pickle=False)
    return ImageData(array, path)


def _images_in(folder: Path) -> list[Path]:
    entries = sorted(folder.iterdir(), key=lambda entry: entry.name)
    return [
        entry
        for entry in entries
        if not entry.name.startswith(".")
        and is_readable_name(entry)
        and (entry.is_file() or entry.name.lower().endswith(".zarr"))
    ]


def list_images(folder_or_files: PathLike | Iterable[PathLike]) -> list[Path]:
    """Expand folders into their images; check named files.

    A folder gives its supported images (not its subfolders, except ``.zarr``
    directories), sorted by name, hidden files skipped. Named files are kept in the
    order given.

    Raises:
        SegRefineError: a path that does not exist, a named file of an unsupported
            type, or no image at all.
    """
    single = isinstance(folder_or_files, str | Path)
    sources = [Path(folder_or_files)] if single else [Path(p) for p in folder_or_files]
    images: list[Path] = []
    for source in sources:
        if not source.exists():
            raise SegRefineError(f"no such file or folder: {source}")
        if source.is_dir() and not is_readable_name(source):
            images.extend(_images_in(source))
        else:
            read_format(source)
            images.append(source)
    if not images:
        where = str(sources[0]) if len(sources) == 1 else f"the {len(sources)} paths given"
        raise SegRefineError(f"no images found in {where} (looked for {', '.join(READ_SUFFIXES)})")
    return images
