"""PNG, JPEG and BMP in, with their colour spaces converted to what the models read.

==================  ===========================================================
stored as           read as
==================  ===========================================================
L, 1, I;16, F       one plane: uint8, bool, uint16 (16-bit PNG), float32
RGB, RGBA           H x W x 3 / 4 uint8 (predict drops alpha with a warning)
16-bit RGB(A) PNG   H x W x 3 / 4 uint16 (Pillow would cut it to 8 bits)
P (palette)         the palette indices, H x W uint8 (label masks are stored so)
LA, PA              the grey level / palette index; the alpha plane is dropped
CMYK                RGB (as Pillow converts it); never 4 channels taken for RGBA
I (32-bit int)      uint16 when the values fit, else int32
YCbCr, LAB, HSV     RGB
==================  ===========================================================
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from ..limits import check_pixels
from .image import ImageData

_TO_RGB = ("CMYK", "YCbCr", "LAB", "HSV", "RGBX")
_WIDE_COLOUR = ("RGB;16B", "RGBA;16B", "RGB;16", "RGBA;16")


def _raw_mode(picture: Image.Image) -> str:
    tiles = getattr(picture, "tile", None) or []
    args = tiles[0].args if tiles else None
    first = args[0] if isinstance(args, tuple) and args else args
    return first if isinstance(first, str) else ""


def _wide_colour(path: Path) -> np.ndarray | None:
    """A 16-bit colour PNG at full depth (OpenCV reads it; Pillow cannot), RGB order."""
    try:
        import cv2
    except ImportError:
        warnings.warn(
            f"{path.name}: 16-bit colour PNG read at 8 bits (install opencv-python-headless "
            "to keep 16 bits)",
            stacklevel=4,
        )
        return None
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None or array.ndim != 3:
        return None
    order = [2, 1, 0, 3][: array.shape[2]]  # BGR(A) -> RGB(A)
    return np.ascontiguousarray(array[..., order])


def _converted(picture: Image.Image) -> np.ndarray:
    mode = picture.mode
    if mode in _TO_RGB:
        return np.asarray(picture.convert("RGB"))
    if mode in ("LA", "PA", "La"):
        return np.asarray(picture.getchannel(0))
    array = np.asarray(picture)
    if mode == "I" and array.size and array.min() >= 0 and array.max() < 2**16:
        return array.astype(np.uint16)
    return array


def read_raster(path: Path) -> ImageData:
    """Read a PNG, JPEG or BMP as the module table says, refusing absurd sizes first."""
    with Image.open(path) as picture:
        width, height = picture.size
        check_pixels((height, width, len(picture.getbands())), 2, path.name)
        array = _wide_colour(path) if _raw_mode(picture) in _WIDE_COLOUR else None
        if array is None:
            array = _converted(picture)
    return ImageData(array, path, channel_axis=2 if array.ndim == 3 else None)
