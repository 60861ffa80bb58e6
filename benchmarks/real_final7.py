"""The FINAL7 group of real_data.py: never tuned on, reported once at the end of its round.

The first sets taken from public GitHub repositories rather than PyPI distributions: the
files of one pinned commit each, read with `real_fetch.git_files` (a local mirror of the
repository when there is one, else raw.githubusercontent.com). Each docstring gives the
repository, commit, files, origin, licence and how the mask is defined. Only Otsu and
overlay checks have been run on these sets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from real_fetch import Pair, git_files, read_pairs

RETINA_UNET = ("orobix/retina-unet", "9e95ddca0d5c2f9613a29c12cd0f548857a57a03")
ROADS = (
    "mhamas/road-extraction-from-aerial-images",
    "2be77592e1e32c6ac2d803f37007183740d2928e",
)
INPAINTING = (
    "nickyisadog/latent-diffusion-inpainting",
    "4fa007bafab0ecedfb247f370953d428a06432d5",
)
KVASIR = (
    "cju0qkwl35piu0993l0dewei2",
    "cju0qoxqj9q6s0835b43399p4",
    "cju0qx73cjw570799j4n5cjze",
    "cju0roawvklrq0799vmjorwfv",
    "cju0rx1idathl0835detmsp84",
)


def _pairs(
    source: tuple[str, str], images: list[str], masks: list[str], level: int, cache: Path
) -> list[Pair]:
    """(RGB image, mask > ``level``) pairs from matching files of one repository commit."""
    paths = git_files(*source, [*images, *masks], cache)
    return read_pairs(paths[: len(images)], paths[len(images) :], level)


def drive_vessels(cache: Path) -> list[Pair]:
    """Colour fundus photographs, retinal vessels, 5 images of 584 x 565 RGB (DRIVE).

    Repository: github.com/orobix/retina-unet (MIT per its Readme, no licence file),
    commit 9e95ddca0d5c2f9613a29c12cd0f548857a57a03 (the head of the repository's pull
    request #54, 2018, "randompick DRIVE" / "average algorithm implemented": the master
    branch holds no data); files ``DRIVE/test/images/{01,05,09,13,17}_test.tif`` and
    ``DRIVE/test/1st_manual/{..}_manual1.gif`` (0/255). Origin: the DRIVE data set's test
    images (Staal et al., IEEE TMI 2004; Utrecht, drive.grand-challenge.org), 45-degree
    fundus photographs from a Dutch diabetic-retinopathy screening; ``1st_manual`` is the
    first observer's hand segmentation of the vessels, the data set's reference.
    Licence: DRIVE's terms allow free use for research and education but forbid copying
    and redistribution and ask users to get it from the organisers' site; this pull
    request's copy is a third party's redistribution (not compared with the official
    files; 01's mask is pixel-identical to the copy in pull request #91).
    For benchmarking only; nothing is stored in this repository.
    Mask: manual > 0 (8-10 % of an image; the dark area outside the circular field of
    view is background). Overlay checked on all five (01 whole, the others on their
    central 300 px): the outlines follow the vessels down to the thinnest ones, the optic
    disc's included; the faintest capillary ends are left out.
    """
    names = ("01", "05", "09", "13", "17")
    return _pairs(
        RETINA_UNET,
        [f"DRIVE/test/images/{name}_test.tif" for name in names],
        [f"DRIVE/test/1st_manual/{name}_manual1.gif" for name in names],
        0,
        cache,
    )


def satellite_roads(cache: Path) -> list[Pair]:
    """Aerial photographs of a city (North-American by its look), roads, 5 images of 400 x 400.

    Repository: github.com/mhamas/road-extraction-from-aerial-images (no licence file),
    commit 2be77592e1e32c6ac2d803f37007183740d2928e (2016-06-02, "Raw data - both train
    and test", on the master branch's history; later commits removed the data); files
    ``data/training/images/satImage_{010,030,050,070,090}.png`` and
    ``data/training/groundtruth/...`` (the same names; grey, 0-237 with compression
    noise). Origin: by the authors' affiliation (ETH Zurich, 2016) and the file names
    and sizes (100 training images of 400 x 400, 50 test images), a course data set also
    used by the EPFL machine-learning course's road-segmentation project
    (epfml/ML_course), whose README says the images were "acquired from GoogleMaps" and
    that ground truth labels each pixel road or background; neither says how the ground
    truth was made (its straight, even-width bands, car parks' aisles included, look
    drawn, not a model's output). Licence: none stated for the data; the imagery is
    Google's. For benchmarking only; nothing is stored in this repository.
    Mask: ground truth > 127 (8-24 % of an image). Overlay checked on all five: the bands
    follow the streets and alleys; sidewalks and the trees over a street are sometimes in,
    sometimes out; the car park of 030 is labelled by its aisles.
    """
    names = ("010", "030", "050", "070", "090")
    return _pairs(
        ROADS,
        [f"data/training/images/satImage_{name}.png" for name in names],
        [f"data/training/groundtruth/satImage_{name}.png" for name in names],
        127,
        cache,
    )


def kvasir_polyps(cache: Path) -> list[Pair]:
    """Colonoscopy frames, polyp masks, 5 images of about 530 x 620 RGB (Kvasir-SEG).

    Repository: github.com/nickyisadog/latent-diffusion-inpainting (no licence file at
    the top; its ``ldm/`` code is MIT), commit 4fa007bafab0ecedfb247f370953d428a06432d5
    (master, 2024-06-28; the files came in 87cc58f, "add example training data"); files
    ``Kvasir-SEG/images/<name>.jpg`` and ``Kvasir-SEG/masks/<name>.jpg`` for the five
    names in ``KVASIR`` (all the repository holds; masks are white on black JPEGs).
    Origin: Kvasir-SEG (Jha et al., MMM 2020; Simula, datasets.simula.no/kvasir-seg),
    polyp frames from colonoscopies at Vestre Viken Health Trust, Norway, whose masks
    were drawn by hand with a medical doctor and verified by an expert
    gastroenterologist. Licence: Kvasir-SEG may be used without permission for academic
    and research purposes (commercial use needs permission); this repository's copy is a
    third party's. For benchmarking only; nothing is stored in this repository.
    Mask: grey > 127 (7-32 % of an image: 0.28, 0.27, 0.32, 0.11, 0.07). The second
    frame, 1070 x 1348 where the others are about 528 x 620, is halved (2 x 2 box means;
    the mask's means > 0.5): at full size its polyp fills 99.5 % of the benchmark's
    512 px crop around it, at half size 37 %. Overlay checked
    on all five: each outline follows the polyp's rim; cju0roawvklrq0799vmjorwfv has two
    polyps, both outlined; the burnt-in text, the black corners and the black box in
    cju0rx1idathl0835detmsp84's lower left (where Kvasir shows the scope's position)
    are background.
    """
    pairs = _pairs(
        INPAINTING,
        [f"Kvasir-SEG/images/{name}.jpg" for name in KVASIR],
        [f"Kvasir-SEG/masks/{name}.jpg" for name in KVASIR],
        127,
        cache,
    )
    return [_halved(pair) if pair[1].shape[0] > 1000 else pair for pair in pairs]


def _halved(pair: Pair) -> Pair:
    """The pair at half size: 2 x 2 box means of the image, and of the mask then > 0.5."""
    image, mask = pair
    size = (mask.shape[1] // 2, mask.shape[0] // 2)
    small = Image.fromarray(image).resize(size, Image.Resampling.BOX)
    small_mask = Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.BOX)
    return np.asarray(small), np.asarray(small_mask) > 127
