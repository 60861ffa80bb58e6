"""Segment images and folders too large for one machine on a Dask cluster.

`predict_to_zarr` cuts each image into output chunks, computes each chunk on a Dask
worker from the tiles of the whole image's grid that touch it (so the result equals
`predict` with the same tiling), and writes it into an OME-Zarr pyramid as it goes.
Runs resume: finished chunks are recorded and skipped by the next run.
`refine_to_zarr` does the same for `refine` of a probability map (with PRN or without),
e.g. of the probabilities a distributed predict saved.

Needs ``dask[distributed]`` and ``zarr`` (``pip install 'napari-segrefine[dask]'``).
"""

from .plan import Plan, make_plan
from .refine_run import iter_refine_to_zarr, refine_to_zarr
from .run import RunSummary, iter_predict_to_zarr, predict_to_zarr

__all__ = [
    "Plan",
    "RunSummary",
    "iter_predict_to_zarr",
    "iter_refine_to_zarr",
    "make_plan",
    "predict_to_zarr",
    "refine_to_zarr",
]
