"""Images in, labels and probability maps out: TIFF (OME, GeoTIFF), PNG/JPEG/BMP, .npy,
zarr and OME-Zarr. Qt-free.

``read_image`` keeps what is needed to write results back alike (pixel size, GeoTIFF
tags); ``write_labels`` and ``write_probability`` write atomically, so an error never
leaves a half-written output.
"""

from __future__ import annotations

from .formats import READ_SUFFIXES, WRITE_SUFFIXES, stem
from .image import ImageData
from .read import list_images, read_image
from .write import write_labels, write_probability

__all__ = [
    "READ_SUFFIXES",
    "WRITE_SUFFIXES",
    "ImageData",
    "list_images",
    "read_image",
    "stem",
    "write_labels",
    "write_probability",
]
