"""The FINAL10 group of real_data.py: never tuned on, reported once at the end of its round.

Like FINAL7 to FINAL9, files of pinned commits of public GitHub repositories, read with
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

CVPPP = (
    "joydeba/semantic_instance_segmentation_with_discriminative_loss",
    "6919dfd0523d06ae236d53a29e38378cc1151cdb",
)
WBC = ("zxaoyou/segmentation_WBC", "fa9c01622f52bccb9aeb8a6f2628f564e377767d")
CARIES = ("Zzz512/MLUA", "17b73ac8a1f97cc556ff604ed686810537778580")


def _rgb_pair(image: Path, mask: Path, level: int) -> Pair:
    """The RGB image (alpha dropped) and its mask's pixels above ``level``."""
    return np.asarray(Image.open(image).convert("RGB")), grey_file(mask) > level


def plant_rosettes(cache: Path) -> list[Pair]:
    """Top-view photographs of Arabidopsis plants, the plant, 5 RGB images of 530 x 500.

    Repository: github.com/joydeba/semantic_instance_segmentation_with_discriminative_loss
    (no licence file; a student project's instance-segmentation code), commit
    6919dfd0523d06ae236d53a29e38378cc1151cdb (master, 2020-12-06; the files came in
    b1490fb, "Data", the same day); files ``training/A1/plant{001,035,062,092,126}_rgb.png``
    (RGBA, alpha 255) and ``..._fg.png`` (a 0/1 palette image of the plant), every
    twenty-fifth of the 128 plants of the folder in name order. Origin: the A1 part of the
    CVPPP leaf segmentation challenge's training set (Minervini, Fischbach, Scharr and
    Tsaftaris, Pattern Recognition Letters 2016; Scharr et al., Machine Vision and
    Applications 2016; as recalled, not re-read here): Arabidopsis rosettes grown in trays
    and photographed from above (Ara2013-Canon), each leaf delineated by annotators, the
    plant mask the union of the leaves. The file names, sizes and ``A1.csv`` (leaf counts)
    match the challenge's layout. Licence: none in the repository; the CVPPP data are
    distributed by their authors for research with a citation (terms as recalled, not
    re-read). For benchmarking only; nothing is stored in this repository.
    Mask: ``_fg`` > 0 (7-20 % of an image: one rosette in its pot on an orange tray).
    Overlay checked on all five: the outlines follow the leaf edges and the thin stalks;
    a neighbouring plant's leaf reaching into 126's frame is background.
    """
    names = ("001", "035", "062", "092", "126")
    images = [f"training/A1/plant{name}_rgb.png" for name in names]
    masks = [f"training/A1/plant{name}_fg.png" for name in names]
    return fetched_pairs(CVPPP, images, masks, cache, lambda i, m: _rgb_pair(i, m, 0))


def blood_smear_cells(cache: Path) -> list[Pair]:
    """Stained blood smears, the white blood cell, 5 RGB images of 300 x 300.

    Repository: github.com/zxaoyou/segmentation_WBC (GPL-3.0; data read only, no code
    copied; the data set's own repository, by the first author of its paper), commit
    fa9c01622f52bccb9aeb8a6f2628f564e377767d (master, 2019-03-27; the files came in
    ba70849, 2018-01-24, "Add files via upload"); files ``Dataset 2/{001,025,050,075,100}.bmp``
    (the image) and ``.png`` (the ground truth: nucleus 255, cytoplasm 128, the rest 0),
    every twenty-fifth of its 100 images. Origin: the README's Dataset 2 of Zheng, Wang,
    Wang and Liu, "Fast and robust segmentation of white blood cell images by
    self-supervised learning", Micron 2018: 300 x 300 crops of peripheral blood smear
    photographs from the CellaVision blog, one white blood cell each, among red blood
    cells; per the README the ground truth was "manually sketched by domain experts".
    Licence: the repository's GPL-3.0 covers its contents as uploaded; the README asks
    that the CellaVision blog be acknowledged and the paper cited; the images' own
    terms are not stated. For benchmarking only; nothing is stored in this repository.
    Mask: ground truth > 64, the whole cell (nucleus and cytoplasm; 17-35 % of an image;
    a few pixels of 050 hold a stray value 9, background). Overlay checked on all five:
    the outline follows the cell's edge, the purple nucleus and the paler cytoplasm
    around it; touching red blood cells are background.
    """
    names = ("001", "025", "050", "075", "100")
    images = [f"Dataset 2/{name}.bmp" for name in names]
    masks = [f"Dataset 2/{name}.png" for name in names]
    return fetched_pairs(WBC, images, masks, cache, lambda i, m: _rgb_pair(i, m, 64))


def dental_caries(cache: Path) -> list[Pair]:
    """Panoramic dental radiographs cut to the teeth, caries, 5 grey images of 768 x 1536.

    Repository: github.com/Zzz512/MLUA (no licence file; code and test samples of Wang
    et al., "Multi-level uncertainty aware learning for semi-supervised dental panoramic
    caries segmentation", Neurocomputing 2023), commit
    17b73ac8a1f97cc556ff604ed686810537778580 (main, 2024-03-13); files
    ``dataset/test/images_cut/{856,710,822,979,954}.png`` (RGB with equal bands, read as
    grey) and ``dataset/test/labels_cut/...`` (0/255), the five of the 100 test samples
    with the largest caries share. Origin: per the README, test samples of the authors'
    DC1000 data set, panoramic radiographs with caries segmentation masks, ``_cut`` being
    the radiograph cropped at the border of the teeth; who drew the masks is not stated
    in the repository (the paper, as recalled and not re-read, has them drawn by
    dentists). Licence: none stated; the README asks for a citation of the paper. For
    benchmarking only; nothing is stored in this repository.
    Mask: label > 127 (0.8-1.3 % of an image: small lesions, many per image). Overlay
    checked on all five (whole images, and a close look at 856's largest lesion): the
    outlines sit on darker spots in the crowns of the teeth, coarse polygons that take in
    some sound enamel; whether every carious spot is marked cannot be judged by eye.
    """
    names = ("856", "710", "822", "979", "954")
    images = [f"dataset/test/images_cut/{name}.png" for name in names]
    masks = [f"dataset/test/labels_cut/{name}.png" for name in names]
    return fetched_pairs(
        CARIES, images, masks, cache, lambda i, m: (grey_file(i), grey_file(m) > 127)
    )
