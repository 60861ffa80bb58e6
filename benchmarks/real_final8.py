"""The FINAL8 group of real_data.py: never tuned on, reported once at the end of its round.

Like FINAL7, files of pinned commits of public GitHub repositories, read with
`real_fetch.git_files` (a local mirror of the repository when there is one, else
raw.githubusercontent.com). Each docstring gives the repository, commit, files, origin,
licence and how the mask is defined. Only Otsu and overlay checks have been run on these
sets.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import tifffile
from PIL import Image
from real_fetch import Pair, fetched_pairs, grey_file, polygon_mask, read_pairs
from scipy.io import loadmat

UNET = ("zhixuhao/unet", "b45af4d458437d8281cc218a07fd4380818ece4a")
CRACKFOREST = ("cuilimeng/CrackForest-dataset", "ed57c2d96754e6c7d105805cd29aeeb3a799f267")
LUNGS = ("imlab-uiip/lung-segmentation-2d", "128794bdd025b2a580b9888c66d594faacd88d44")
ARTEFACTS = ("thisismexp/artefact_insertion", "e5cf2301622f0e28561b6637d6828adcd162f19a")
GBM = ("pengyzhang/cell_seg_matlab", "9bec602ff4a189dd45b4b75e8cf8ef4ae0b49b8d")
HAM10000 = ("0024311", "0027001", "0027287", "0027533", "0027800")


def _crack_pair(image: Path, truth: Path) -> Pair:
    """The RGB photograph and its crack mask (``Segmentation`` > 1 of the ``.mat`` file)."""
    segmentation = loadmat(truth)["groundTruth"][0, 0]["Segmentation"]
    return np.asarray(Image.open(image).convert("RGB")), segmentation > 1


def _glioma_pair(image_path: Path, xml: Path) -> Pair:
    """The RGB tile and the union of the nucleus outlines drawn on it."""
    image = tifffile.imread(image_path)
    return image, _shapes_mask(image.shape[:2], xml)


def _shapes_mask(shape: tuple[int, int], xml: Path) -> np.ndarray:
    """Union of the filled polygons (every ``Shape``'s ``Points``) of a drawing's XML."""
    mask = np.zeros(shape, dtype=bool)
    for points in ElementTree.parse(xml).getroot().iter("Points"):
        xs = [float(point.get("X")) for point in points]
        ys = [float(point.get("Y")) for point in points]
        mask |= polygon_mask(shape, ys, xs)
    return mask


def em_membranes(cache: Path) -> list[Pair]:
    """Electron micrographs of fly nerve cord, cell membranes, 5 images of 512 x 512 grey.

    Repository: github.com/zhixuhao/unet (MIT), commit
    b45af4d458437d8281cc218a07fd4380818ece4a (master, 2019-02-21; the files came in
    909ae9b, 2018-06-09); files ``data/membrane/train/image/{0,6,12,18,24}.png`` and
    ``data/membrane/train/label/{..}.png`` (0/255), every sixth slice of the 30. Origin:
    by the README, the ISBI 2012 challenge on EM segmentation (Arganda-Carreras et al.,
    Front. Neuroanat. 2015; Cardona et al., PLoS Biol. 2010): the 30 training slices of a
    serial-section TEM stack of the Drosophila first-instar larva ventral nerve cord
    (4 x 4 x 50 nm voxels); the labels (white cell interiors, black membranes) were
    traced by hand by an expert neuroanatomist. Licence: the challenge's terms (as
    recalled, not re-read here) allow use for generating or testing non-commercial
    segmentation software, citing Cardona et al. 2010; the repository's PNGs are a third
    party's copy of the challenge's ``train-*.tif`` stacks (it commits the stacks too,
    but they exceed the local mirror's 4 MiB file limit, so the two were not compared).
    For benchmarking only; nothing is stored in this repository.
    Mask: label < 128, the membranes (18-25 % of an image). The chosen slices are
    300 nm apart: the five images are of one tissue block, not independent.
    """
    names = ("0", "6", "12", "18", "24")
    images = [f"data/membrane/train/image/{name}.png" for name in names]
    labels = [f"data/membrane/train/label/{name}.png" for name in names]
    return fetched_pairs(
        UNET, images, labels, cache, lambda i, m: (grey_file(i), grey_file(m) < 128)
    )


def pavement_cracks(cache: Path) -> list[Pair]:
    """Photographs of urban road surfaces, cracks, 5 images of 320 x 480 RGB (CrackForest).

    Repository: github.com/cuilimeng/CrackForest-dataset (the data set's own repository,
    by its author Limeng Cui; no licence file), commit
    ed57c2d96754e6c7d105805cd29aeeb3a799f267 (master, 2017-05-10; the files came in
    c0530d8, 2015-09-29, "CrackForest Dataset"); files ``image/{020,040,060,080,100}.jpg``
    and ``groundTruth/{..}.mat`` (MATLAB structs in the BSDS layout: ``Segmentation``, a
    region map, 1 for the background and 2 for the cracks), every twentieth of the 118
    annotated images. Origin: the CFD data set (Shi et al.,
    IEEE T-ITS 2016; Cui et al., ICDS 2015), photographs of Beijing road surfaces taken
    with a phone, with shadows, oil spots and lane markings; the cracks were labelled by
    hand. Licence: the README makes the data set available for non-commercial research
    purposes only. For benchmarking only; nothing is stored in this repository.
    Mask: Segmentation > 1 (0.8-1.8 % of an image: thin cracks, a few pixels wide). Regions
    3 and 4 of some maps are a few pixels each: crack fragments off the main line, or
    background enclosed by a crack (5 pixels in 040, 9 in 100; counted as crack).
    """
    names = ("020", "040", "060", "080", "100")
    images = [f"image/{name}.jpg" for name in names]
    truths = [f"groundTruth/{name}.mat" for name in names]
    return fetched_pairs(CRACKFOREST, images, truths, cache, _crack_pair)


def chest_xray_lungs(cache: Path) -> list[Pair]:
    """Chest radiographs, lung fields, 4 images of 512 x 512 grey.

    Repository: github.com/imlab-uiip/lung-segmentation-2d (MIT, 2020), commit
    128794bdd025b2a580b9888c66d594faacd88d44 (master, 2020-06-02; the files came in
    5dab1ae, 2017-06-07, "Added demo script"); files ``Demo/Data/{1,2,3,4}.jpg`` and
    ``Demo/Data/{1,2,3,4}-mask.png`` (0/255), all the demo holds. Origin: not stated for
    the demo; the repository trains and scores on JSRT (Shiraishi et al., AJR 2000) with
    the SCR lung masks (van Ginneken et al., Med. Image Anal. 2006) and on the Montgomery
    County set (Jaeger et al., QIMS 2014), both with hand-drawn lung fields (SCR: by
    trained observers; Montgomery: under a radiologist's supervision); its demo script
    outlines these masks as "GT" against its model's predictions. Which set the four
    come from is not stated: frontal views, resized to 512 x 512, with black boxes over
    parts of the corners (burnt-in text blanked, presumably). Licence: the repository's
    MIT; the source data's terms depend on the set (JSRT and SCR: research use, obtained
    from their sites; Montgomery: public); this is a third party's copy. For
    benchmarking only; nothing is stored in this repository.
    Mask: mask > 127, both lungs (18-36 % of an image); the heart and the area below the
    diaphragm are background.
    """
    names = ("1", "2", "3", "4")
    images = [f"Demo/Data/{name}.jpg" for name in names]
    masks = [f"Demo/Data/{name}-mask.png" for name in names]
    return fetched_pairs(
        LUNGS, images, masks, cache, lambda i, m: (grey_file(i), grey_file(m) > 127)
    )


def skin_lesions(cache: Path) -> list[Pair]:
    """Dermoscopic photographs of pigmented skin lesions, 5 images of 450 x 600 RGB.

    Repository: github.com/thisismexp/artefact_insertion (CC BY-NC 4.0; Katsch, Rinner
    and Tschandl, Dermatol. Pract. Concept. 2022), commit
    e5cf2301622f0e28561b6637d6828adcd162f19a (master, 2024-02-06; the files came in
    da395fd, 2022-01-10); files ``data/test_images/ISIC_<n>.jpg`` and
    ``data/test_masks/ISIC_<n>.png`` (0/255) for the five ``HAM10000`` numbers, all the
    folder holds (the repository's demo inserts artefacts into them). Origin: by the
    folders' LICENSE.md, the HAM10000 data set (Tschandl, Rosendahl and Kittler, Sci.
    Data 2018; Medical University of Vienna), images and lesion masks from Harvard
    Dataverse; how the masks were made is stated neither there nor in the repository
    (the data set's masks were published by its authors after the 2018 paper).
    Licence: CC BY-NC-SA 4.0 (HAM10000, as the folders' LICENSE.md says). For
    benchmarking only; nothing is stored in this repository.
    Mask: mask > 127, the lesion (14-58 % of an image).
    """
    images = [f"data/test_images/ISIC_{n}.jpg" for n in HAM10000]
    masks = [f"data/test_masks/ISIC_{n}.png" for n in HAM10000]
    return fetched_pairs(
        ARTEFACTS, images, masks, cache, lambda i, m: read_pairs([i], [m], 127)[0]
    )


def glioma_nuclei(cache: Path) -> list[Pair]:
    """H&E sections of glioblastoma, cell nuclei, 5 images of 512 x 512 RGB (GBM40).

    Repository: github.com/pengyzhang/cell_seg_matlab (no licence file; code of Zhang
    et al., ISBI 2017, and Kong et al., ISBI 2016, Emory University), commit
    9bec602ff4a189dd45b4b75e8cf8ef4ae0b49b8d (master, 2017-12-11; the files came in
    6f47942, the first commit); files ``data/GBM40/raw_image/{01,09,17,25,33}.tif`` and
    ``data/GBM40/contour_annotation_xml/{..}_data.xml`` (a drawing program's export:
    one freehand ``SmoothPolygon`` per nucleus, 5-46 vertices, in image pixels; 82-166
    nuclei per tile),
    every eighth of the 40 tiles. Origin: the README's "GBM40" data set, 512 x 512
    patches of glioblastoma H&E slides from the Emory hospital archive, "human
    annotation" of the nuclei (by whom not stated). Licence: none stated for the data
    or the code. For benchmarking only; nothing is stored in this repository.
    Mask: the union of the filled outlines (20-28 % of an image). The vertices are joined
    by straight lines here, where the drawing program drew smooth curves through them:
    outlines may differ from the drawn ones by about a pixel.
    """
    names = ("01", "09", "17", "25", "33")
    images = [f"data/GBM40/raw_image/{name}.tif" for name in names]
    outlines = [f"data/GBM40/contour_annotation_xml/{name}_data.xml" for name in names]
    return fetched_pairs(GBM, images, outlines, cache, _glioma_pair)
