"""The FINAL11 group of real_data.py: never tuned on, reported once at the end of its round.

Like FINAL7 to FINAL10, files of pinned commits of public GitHub repositories, read with
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

# The head of pull request #22 (refs/pull/22/head); master holds no data.
DEEPGLOBE = (
    "zlckanata/DeepGlobe-Road-Extraction-Challenge",
    "9262c4c887a7f314de5532883572d96c627c9f84",
)
CWFID = ("cwfid/dataset", "36290d0912a032f0bd1a5678ed55457ddafde217")
FUSEG = ("uwm-bigdata/wound-segmentation", "42a272dfe0679f20675e826385925cb7562934b6")


def _rgb(path: Path) -> np.ndarray:
    """The image at ``path`` as RGB uint8."""
    return np.asarray(Image.open(path).convert("RGB"))


def deepglobe_roads(cache: Path) -> list[Pair]:
    """Satellite photographs, the roads, 4 RGB images of 1024 x 1024.

    Repository: github.com/zlckanata/DeepGlobe-Road-Extraction-Challenge (MIT licence file,
    2018, for the code; the D-LinkNet authors' code for the challenge they won), commit
    9262c4c887a7f314de5532883572d96c627c9f84, the head of pull request #22 (a third
    party's, 2019-12-07; master holds only empty placeholder files under ``dataset/``;
    the images came in d90747e and 78d3a44, 2019-11-11, "Making train images = 4"); files
    ``dataset/train/{104,113,343,388}_sat.jpg`` (JPEG) and ``..._mask.png`` (RGB, 0/255),
    all four training pairs the pull request holds (its ``valid`` and ``test`` images have
    no masks). Origin: the DeepGlobe 2018 road extraction challenge's training set
    (Demir et al., CVPR workshops 2018; as recalled, not re-read here): DigitalGlobe
    satellite RGB at 50 cm per pixel over Thailand, Indonesia and India, 1024 x 1024
    tiles, the file names its ``<id>_sat.jpg`` / ``<id>_mask.png`` scheme; the road masks
    were drawn by the challenge's annotators (how exactly is not stated in the
    repository). Licence: the code's MIT does not cover the data; the DeepGlobe data were
    released for the challenge under its own terms (research use, as recalled, not
    re-read); a third party's copy. For benchmarking only; nothing is stored in this
    repository.
    Mask: band 0 of the mask > 127 (0.7-1.9 % of an image). Overlay checked on all four
    (113 at full size): bands of about constant width that follow the roads they mark,
    a few pixels wider than the paving; several dirt tracks and field paths in 104, 343
    and 388 are not marked (a partial ground truth).
    """
    names = ("104", "113", "343", "388")
    images = [f"dataset/train/{name}_sat.jpg" for name in names]
    masks = [f"dataset/train/{name}_mask.png" for name in names]
    return fetched_pairs(
        DEEPGLOBE, images, masks, cache, lambda i, m: (_rgb(i), _rgb(m)[..., 0] > 127)
    )


def _crop_plants(image: Path, annotation: Path) -> Pair:
    """The field image and the annotation's crop pixels (pure green: 0, 255, 0)."""
    colours = _rgb(annotation)
    crop = (colours[..., 0] < 128) & (colours[..., 1] > 127) & (colours[..., 2] < 128)
    return _rgb(image), crop


def carrot_crops(cache: Path) -> list[Pair]:
    """Field photographs of a carrot row among weeds, the crop plants, 5 RGB images of
    966 x 1296.

    Repository: github.com/cwfid/dataset (the data set's own, by its first author; no
    licence file), commit 36290d0912a032f0bd1a5678ed55457ddafde217 (master, 2015-04-20;
    images, annotations and masks came in da6723c, 739ec70 and f355f1d, 2014-09-08);
    files ``images/{001,013,025,037,049}_image.png`` and
    ``annotations/..._annotation.png`` (RGB: crop 0/255/0, weed 255/0/0, the rest
    black), every twelfth of the 60 images in name order. Origin: the Crop/Weed Field
    Image Dataset (Haug and Ostermann, CVPR workshops / ECCV 2014 workshops, LNCS 8928):
    top-down photographs of an organic carrot field taken from a field robot (as
    recalled; the stored images show the vegetation bright green on grey soil), each
    plant outlined by hand as crop or weed (``..._annotation.yaml`` holds the polygons);
    the annotation image colours the vegetation pixels (the ``masks`` folder) inside each
    polygon by its type. Licence: the README's "All data is subject to copyright and may
    only be used for non-commercial research", with a citation of the paper. For
    benchmarking only; nothing is stored in this repository.
    Mask: the crop pixels of the annotation (2.2-2.8 % of an image: young carrot plants
    with thin leaflets); weeds, of the same green, are background. Overlay checked on
    all five (001's carrot at full size): the outlines follow the leaflets; the larger
    weeds, some with feathery leaves too, are unmarked.
    """
    names = ("001", "013", "025", "037", "049")
    images = [f"images/{name}_image.png" for name in names]
    annotations = [f"annotations/{name}_annotation.png" for name in names]
    return fetched_pairs(CWFID, images, annotations, cache, _crop_plants)


def foot_ulcers(cache: Path) -> list[Pair]:
    """Clinical photographs of diabetic foot ulcers, the wound, 5 RGB images of 512 x 512.

    Repository: github.com/uwm-bigdata/wound-segmentation (the data set authors'; no
    licence file), commit 42a272dfe0679f20675e826385925cb7562934b6 (master, 2026-03-30;
    the validation folder came in b9aa5f2, 2021-03-09); files
    ``data/Foot Ulcer Segmentation Challenge/validation/images/{0365,0947,0874,0382,0326}.png``
    and ``.../validation/labels/...`` (RGB, 0/255), the five of the 200 validation images
    with the largest wound share (most are under 1 %). Origin: the Foot Ulcer
    Segmentation Challenge (FUSeg, MICCAI 2021; Wang et al., Scientific Reports 2020):
    photographs of foot ulcers taken during visits to the AZH Wound and Vascular Center
    (Milwaukee), de-identified, zero-padded to 512 x 512; per the README the data were
    "fully annotated by wound professionals". Licence: none stated; the README says the
    data are shared publicly with the clinic's permission and asks for a citation of the
    paper. For benchmarking only; nothing is stored in this repository.
    Mask: label > 127 (6-8 % of an image). Overlay checked on all five: one wound each,
    a smooth outline around the wound bed (a black eschar on 0365's heel); gloves,
    skin, floor and the padding are background.
    """
    folder = "data/Foot Ulcer Segmentation Challenge/validation"
    names = ("0365", "0947", "0874", "0382", "0326")
    images = [f"{folder}/images/{name}.png" for name in names]
    masks = [f"{folder}/labels/{name}.png" for name in names]
    return fetched_pairs(FUSEG, images, masks, cache, lambda i, m: (_rgb(i), grey_file(m) > 127))
