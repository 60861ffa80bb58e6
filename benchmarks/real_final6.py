"""The FINAL6 group of real_data.py: never tuned on, reported once at the end of its round.

Loaders in the style of real_data.py: each docstring gives the package, version, files,
origin, licence and how the mask is defined. Both sets come from scellseg's sdist, the
source of four earlier sets (FINAL2, FINAL3): two of its folders that no method has been
run on (only Otsu and overlay checks; the round that added FINAL3 looked at them and left
them out: rendered like ``macrophage_cells``, and two of the package's sets per group were
enough).
"""

from __future__ import annotations

from pathlib import Path

from real_fetch import Pair
from real_final2 import scellseg_pairs


def neurocyte_cells(cache: Path) -> list[Pair]:
    """Fluorescent cultured cells with long processes, 5 images of 383 x 512 RGB, cell masks.

    Package: scellseg 0.1.8 sdist (BSD-3-Clause, Zhejiang University; no wheel); files
    ``scellseg-0.1.8/scellseg/assets/contrast_data/neurocyte/{010,044,069,079,080}_img.png``
    and ``..._masks.png`` (uint16 instance labels, 16-72 cells each). Origin: as for
    ``macrophage_cells``, by inspection images of the Cellpose data set (Stringer et al.,
    Nature Methods 2021) with its hand-drawn outlines; the folder is named ``neurocyte``,
    the package says nothing more, nor under which licence (Cellpose's data set is released
    for non-commercial research). Red: nuclei; green: cytoplasm; blue: empty. Flat cells
    with thin processes, sparse to crowded (foreground 0.39, 0.31, 0.07, 0.20, 0.14).
    Overlay checked on all five (outline on the contrast-stretched image; 069 at 3x): the
    outlines follow the cell edges and the thin processes; faint green fragments are not
    outlined, and a cell's faintest halo falls a few pixels outside its outline.
    Mask: label > 0 (7-39 % of an image).
    """
    return scellseg_pairs(cache, "neurocyte", ("010", "044", "069", "079", "080"))


def kc167_cells(cache: Path) -> list[Pair]:
    """Fluorescent Kc167 cells, rounded and crowded, 5 images (400 or 450 px square RGB).

    Package: scellseg 0.1.8 sdist (BSD-3-Clause); files ``scellseg-0.1.8/scellseg/assets/
    contrast_data/Kc167/{095,096,097,102,103}_img.png`` and ``..._masks.png`` (uint16
    instance labels, 58-156 cells each; 095-097 are 400 x 400, 102 and 103 are 450 x 450).
    Origin: as for ``neurocyte_cells``, by inspection Cellpose data set images with its
    hand-drawn outlines; the folder's name says Kc167 (a Drosophila cell line); licence
    not stated in the package. Red: nuclei; green: cytoplasm; blue: empty. Round cells,
    packed in clumps (foreground 0.26, 0.55, 0.40, 0.65, 0.61). Overlay checked on all
    five (102 at 3x): each outline hugs the cell's green rim; in clumps the outlines meet,
    leaving thin gaps that the union mask keeps as background; a few red nuclei without
    green around them are outlined too.
    Mask: label > 0 (26-65 % of an image).
    """
    return scellseg_pairs(cache, "Kc167", ("095", "096", "097", "102", "103"))
