"""The FINAL12 group of real_data.py: never tuned on, reported once at the end of its round.

Like FINAL7 to FINAL11, files of pinned commits of public GitHub repositories, read with
`real_fetch.git_files` (a local mirror of the repository when there is one, else
raw.githubusercontent.com). Each docstring gives the repository, commit, files, origin,
licence and how the mask is defined. Only Otsu and overlay checks have been run on these
sets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from real_fetch import Pair, fetched_pairs, grey_file

SOLAR = (
    "JackTSully/unet_solar_panel_detection",
    "0e0468e611742a45ffec1aefaf99d47f22c5a739",
)
PFC_NEURONS = (
    "Erendiravp/pfc-pn-microscopy-dataset",
    "d8982397676b57507c0198987c6cae65de995958",
)
USGRA = ("tmkand/usgra-seg", "66dc77df2a64c7d372d1e783648644561bc693c5")


def _rgb(path: Path) -> np.ndarray:
    """The image at ``path`` as RGB uint8."""
    return np.asarray(Image.open(path).convert("RGB"))


def rooftop_solar(cache: Path) -> list[Pair]:
    """Satellite photographs of a Bangkok district, the rooftop solar panels, 5 RGB tiles of
    512 x 512.

    Repository: github.com/JackTSully/unet_solar_panel_detection (a student project's; no
    licence file), commit 0e0468e611742a45ffec1aefaf99d47f22c5a739 (main, 2024-08-31; the
    tiles came in 2fa6e10, 2024-08-01, "Added ImageTiling"); files
    ``ImageTiling/image_and_mask_tiles/VatSaiKhlongSaphanSung_7/
    VatSaiKhlongSaphanSung_7_tile_{8192_0,4608_3584,3584_2560,6656_0,2560_2048}.png`` and
    ``..._mask.png`` (0/1), the five of the folder's ten pairs with the largest panel share
    (two of the others hold no panel). Origin: per the README and ``ImageTiling.ipynb``,
    one GeoTIFF of the authors' "VatSaiKhlongSaphanSung" set (Kaggle, johnsullivan66: a
    district of Bangkok, Thailand), cut into 512 px tiles, its mask rasterised from a
    shapefile of solar panel polygons the authors digitised; the imagery is Google's
    satellite imagery (a "Google" watermark shows in the tiles; not stated otherwise). The
    five tiles are parts of one scene: not independent. Licence: none stated for the code
    or the data; the imagery's terms are Google's. For benchmarking only; nothing is stored
    in this repository.
    Mask: value > 0 (0.5-3.4 % of a tile). Overlay checked on all five: the polygons are
    drawn around the panel arrays on the roofs, within a pixel or two; whether every panel
    in a tile is outlined cannot be judged by eye at this resolution.
    """
    folder = "ImageTiling/image_and_mask_tiles/VatSaiKhlongSaphanSung_7"
    names = ("8192_0", "4608_3584", "3584_2560", "6656_0", "2560_2048")
    images = [f"{folder}/VatSaiKhlongSaphanSung_7_tile_{name}.png" for name in names]
    masks = [f"{folder}/VatSaiKhlongSaphanSung_7_tile_{name}_mask.png" for name in names]
    return fetched_pairs(SOLAR, images, masks, cache, lambda i, m: (_rgb(i), grey_file(m) > 0))


def pfc_neurons(cache: Path) -> list[Pair]:
    """Bright-field photomicrographs of live cultured rat prefrontal pyramidal neurons, the
    neuron, 5 RGB images of 960 x 1280.

    Repository: github.com/Erendiravp/pfc-pn-microscopy-dataset (the data set's own; CC0
    1.0 licence file), commit d8982397676b57507c0198987c6cae65de995958 (main, 2026-01-15,
    "Add PFC-PN dataset (images + masks)"); files ``raw/images_jpg/Img ({1,23,45,67,89}).jpg``
    and ``raw/masks_gt_png/...png`` (1-bit), every twenty-second of the 109 images in
    number order. Origin: per the README, live rat prefrontal pyramidal neurons (PFC-PN)
    photographed on an inverted microscope at 40x; ``masks_gt_png`` holds "expert-annotated
    binary masks" used as ground truth (``derived/masks_dilated_r5_png`` holds dilated
    copies for training, not used). The manuscript the README mentions is not named.
    Licence: CC0 1.0 (the repository's LICENSE). For benchmarking only; nothing is stored
    in this repository.
    Mask: the mask file's True pixels (5-13 % of an image; one connected neuron each).
    Overlay checked on all five: the outline follows the soma and the neurites, a few
    pixels outside the bright halo of the phase rim; debris and out-of-focus cells are
    background.
    """
    numbers = (1, 23, 45, 67, 89)
    images = [f"raw/images_jpg/Img ({n}).jpg" for n in numbers]
    masks = [f"raw/masks_gt_png/Img ({n}).png" for n in numbers]
    return fetched_pairs(
        PFC_NEURONS, images, masks, cache, lambda i, m: (_rgb(i), np.asarray(Image.open(m)) > 0)
    )


def ultrasound_nerves(cache: Path) -> list[Pair]:
    """Ultrasound images for regional anaesthesia, the peripheral nerves, 5 grey images of
    512 x 512, 632 x 761 and 512 x 534.

    Repository: github.com/tmkand/usgra-seg (the data set author's; the dataset under
    CC BY 4.0, ``dataset/LICENSE``; the code MIT), commit
    66dc77df2a64c7d372d1e783648644561bc693c5 (main, 2025-08-26); files
    ``dataset/test/images/{0024,0095,0235,0144,0009}.png`` and ``dataset/test/masks/...``
    (palette PNG: 0 background, 1 nerve, 2 blood vessel), the five of the 40 test pairs
    with the largest nerve share. Origin: per the README, images acquired from volunteers
    in early 2025 in a German anaesthesiology department by a single examiner with a
    Mindray TE7 and an L14-6Ns linear probe (brachial plexus, elbow, femoral and popliteal
    sciatic regions), the masks drawn by the same examiner with LabelMe. Which label value
    is the nerve is not stated: by appearance (overlay), 1 marks the honeycomb-textured
    nerves and 2 the anechoic vessels. Licence: CC BY 4.0 (attribution). For benchmarking
    only; nothing is stored in this repository.
    Mask: label == 1, the nerves (4.9-8.3 % of an image); vessels are background. The
    images are returned as one grey band (some files are stored as RGB).
    """
    names = ("0024", "0095", "0235", "0144", "0009")
    images = [f"dataset/test/images/{name}.png" for name in names]
    masks = [f"dataset/test/masks/{name}.png" for name in names]
    return fetched_pairs(
        USGRA, images, masks, cache, lambda i, m: (grey_file(i), np.asarray(Image.open(m)) == 1)
    )
