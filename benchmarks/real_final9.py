"""The FINAL9 group of real_data.py: never tuned on, reported once at the end of its round.

Like FINAL7 and FINAL8, files of pinned commits of public GitHub repositories, read with
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
from scipy.ndimage import binary_fill_holes

MAGNETIC_TILES = (
    "abin24/Magnetic-tile-defect-datasets.",
    "cc4eb530b57b9cb7225bf76023873043ffd50655",
)
HC18 = ("rileyaquilano/Ultrasound_Final", "97880301776e972b44d34a94087ea11ec6f0bc66")
MICCAI = ("pengyzhang/cell_seg_matlab", "9a3cf3bed6841c12b1ba2c6129a1b60763e71076")
TILES = (
    "MT_Break/Imgs/exp1_num_304290",
    "MT_Fray/Imgs/exp1_num_20362",
    "MT_Fray/Imgs/exp1_num_258511",
    "MT_Uneven/Imgs/exp1_num_270128",
    "MT_Uneven/Imgs/exp1_num_313478",
)


def _head_pair(image: Path, annotation: Path) -> Pair:
    """The grey ultrasound frame and the inside of the ellipse drawn on it, outline included."""
    return grey_file(image), binary_fill_holes(grey_file(annotation) > 127)


def _nuclei_pair(image: Path, labels: Path) -> Pair:
    """The RGB tile and its nucleus pixels (label > 0 of the ASCII label file)."""
    values = np.array(labels.read_text().split(), dtype=np.int64)
    width, height = values[:2]
    return np.asarray(Image.open(image).convert("RGB")), values[2:].reshape(height, width) > 0


def magnetic_tile_defects(cache: Path) -> list[Pair]:
    """Photographs of magnetic tiles, surface defects, 5 grey images of 261-359 x 208-502.

    Repository: github.com/abin24/Magnetic-tile-defect-datasets. (the data set's own
    repository, by its first author Yibin Huang; no licence file; the name ends with a
    dot), commit cc4eb530b57b9cb7225bf76023873043ffd50655 (master, 2020-05-09; the files
    came in d78df10, 2018-02-24, "first commit"); files ``<name>.jpg`` (the image) and
    ``<name>.png`` (its mask, 0/255 with JPEG-like noise) for the five names in ``TILES``:
    one break, two frays and two uneven surfaces, each the ``exp1`` (first lighting) shot
    of a different tile, among the shots with a defect of more than 3 % of the image and
    both sides over 200 px. Origin: the data set of the README's paper, "Saliency of magnetic
    tile surface defects" (Huang, Qiu and Yuan, The Visual Computer 2020, as recalled;
    Institute of Automation, Chinese Academy of Sciences): regions of interest of
    photographs of magnetic tiles (motor parts) under six lightings (``exp1`` to
    ``exp6``); the README says their pixel-level ground truth "were labeled" (by whom
    not stated; by hand, by all signs: smooth free outlines).
    Licence: none stated; the README welcomes use with a citation of the paper. For
    benchmarking only; nothing is stored in this repository.
    Mask: mask > 127 (23-34 % of an image). Overlay checked on all five: the outlines
    follow a wedge of broken surface along one edge (the break), two dark worn patches
    (the frays) and two bands whose grinding streaks differ from the rest (the uneven
    surfaces, the subtlest: their edges are a change of texture, not of brightness).
    """
    images = [f"{name}.jpg" for name in TILES]
    masks = [f"{name}.png" for name in TILES]
    return fetched_pairs(
        MAGNETIC_TILES, images, masks, cache, lambda i, m: (grey_file(i), grey_file(m) > 127)
    )


def fetal_head_ultrasound(cache: Path) -> list[Pair]:
    """Prenatal ultrasound frames, the fetal head, 5 images of 540 x 800 grey (HC18).

    Repository: github.com/rileyaquilano/Ultrasound_Final (no licence file; a student
    project's notebooks), commit 97880301776e972b44d34a94087ea11ec6f0bc66 (main,
    2021-12-20; the files came in b9edfeb, "Weber's Code", the same day); files
    ``training_set/{000,200,400,600,800}_HC.png`` and ``..._HC_Annotation.png`` (a white
    ellipse outline, about 2 px wide, on black), every two hundredth of the 806 numbers.
    Origin: the HC18 grand challenge's training set (van den Heuvel et al., PLoS ONE
    2018; Radboud University Medical Center, hc18.grand-challenge.org), standard-plane
    2D ultrasound frames of the fetal head from 551 pregnant women in all trimesters;
    the head circumference was annotated by an experienced sonographer fitting an
    ellipse to the skull. Licence: HC18 is published on Zenodo under CC BY 4.0 (as
    recalled, not re-read here); this repository's copy is a third party's (the file
    names and sizes match the challenge's). For benchmarking only; nothing is stored in
    this repository.
    Mask: the annotation > 127 with its inside filled, the head to the ellipse's outer
    edge (8-42 % of an image; 000 is an early pregnancy's small head, 8 %). Overlay
    checked on all five: the ellipse lies on the bright skull; the frames carry the
    scanner's fan-shaped field of view, a grey-scale bar and a black box in a corner.
    """
    names = ("000", "200", "400", "600", "800")
    images = [f"training_set/{name}_HC.png" for name in names]
    outlines = [f"training_set/{name}_HC_Annotation.png" for name in names]
    return fetched_pairs(HC18, images, outlines, cache, _head_pair)


def miccai_nuclei(cache: Path) -> list[Pair]:
    """H&E tissue sections, cell nuclei, 5 RGB tiles of 439-808 x 439-1032.

    Repository: github.com/pengyzhang/cell_seg_matlab (no licence file; code of Zhang
    et al., ISBI 2017, and Kong et al., ISBI 2016), commit
    9a3cf3bed6841c12b1ba2c6129a1b60763e71076 ("commit 1", 2017-12-11, the second commit,
    the one that adds the data; the master head 9bec602 no longer holds these files);
    files ``data/MICCAI_competition_dataset/image{01,03,07,10,13}.png`` (RGBA, alpha 255)
    and ``..._mask.txt`` (ASCII label images: width and height, then one nucleus number
    per pixel, row by row, 0 for background). Images 04 and 05 are left out: the sizes in
    their mask files are swapped (04's mask has 05's size and the other way round).
    Origin: by its ``README_training.txt``, the training set of "the digital pathology
    segmentation challenge": 15 tiles cut from whole-slide images at full resolution
    (01-07 scanned at 20x, 08-15 at 40x), with "manual segmentation results" of the
    nuclei; by all signs the MICCAI 2015 nucleus segmentation challenge (Stony Brook),
    whose tiles came from TCGA brain-tumour slides (as recalled, not re-read here; 01
    looks like fibrous stroma). These are other images than
    FINAL8's glioma_nuclei (GBM40, Emory 512 x 512 tiles, from the same repository's
    later commit). Licence: none stated for the tiles (TCGA's slide images are public).
    For benchmarking only; nothing is stored in this repository.
    Mask: label > 0 (12-19 % of an image). Overlay checked on the central 180 px of
    all five: the outlines sit on the nuclei; not every nucleus is outlined (some dark,
    elongated ones in 01's stroma are left out or outlined in part, faint ones in 13).
    """
    names = ("01", "03", "07", "10", "13")
    folder = "data/MICCAI_competition_dataset"
    images = [f"{folder}/image{name}.png" for name in names]
    labels = [f"{folder}/image{name}_mask.txt" for name in names]
    return fetched_pairs(MICCAI, images, labels, cache, _nuclei_pair)
