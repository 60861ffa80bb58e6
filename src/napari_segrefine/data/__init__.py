"""Seeded synthetic sample sets with exact ground truth.

Three domains, each generated from a seed with numpy and scipy only: aerial ``roads``
(DeepGlobe-like), endoscopy ``polyps`` (Kvasir-SEG-like) and ``salient`` objects
(DUTS-like). Used by the tests, the demo, the benchmarks and the sample-data menu.

Example:
    >>> from napari_segrefine import data
    >>> sample = data.make_sample("roads", (256, 256), seed=3)
    >>> sample.image.shape, sample.label.max()
    ((256, 256, 3), 1)
"""

from __future__ import annotations

from .mosaic import LazyMosaic, MosaicView
from .samples import (
    DOMAINS,
    Sample,
    dataset_seed,
    make_dataset,
    make_sample,
    write_sample_folder,
)

__all__ = [
    "DOMAINS",
    "LazyMosaic",
    "MosaicView",
    "Sample",
    "dataset_seed",
    "make_dataset",
    "make_sample",
    "write_sample_folder",
]
