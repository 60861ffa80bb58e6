"""What one Dask task of a distributed refine does: refine one output chunk and write it.

Without PRN, refine's threshold adaptation works patch by patch, and chunks are whole
patches, so each chunk is `refine` of its own pixels. With PRN, `refine` mirror-pads
the map to whole patches and runs PRN in overlapping windows on the patch grid,
blended; a chunk runs the windows of that same grid that touch it (each through
refine's own `iter_prn_probabilities`, as one window), blends them as the whole map
does (`sliding_window` with a `Window`), and combines the outputs with
`combine_prn_outputs` over the chunk plus one pixel (the 3 x 3 dilation's halo).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..engine.tiling import TileFn, Window, sliding_window, tile_starts
from ..generators import drain
from ..refine import prn_final_mask, refine
from ..refine.patches import as_probability_map
from ..refine.prn_windows import iter_prn_probabilities
from .model_cache import worker_model
from .output import OutputTarget, unwritable
from .plan import Plan
from .sources import ImageSource, Region

DILATION_HALO = 1  # combine_prn_outputs dilates by a 3 x 3 square


@dataclass(frozen=True)
class RefineJob:
    """One chunk of one map: everything a worker needs besides the source and model.

    Attributes:
        index: (row, col) of the chunk.
        region: its (y0, y1, x0, x1) in the map.
        plan: the map's cut (``plan.tile``: PRN's window).
        patch_size: refine's patch side.
        model: digest of the PRN model (see `model_cache`), or None for the fallback.
        target: the map's output.
        threshold: refine's threshold.
    """

    index: tuple[int, int]
    region: Region
    plan: Plan
    patch_size: int
    model: str | None
    target: OutputTarget
    threshold: float


def run_refine_chunk(source: ImageSource, job: RefineJob) -> int:
    """Refine, write and record one chunk; returns the PRN windows it ran (0 without PRN)."""
    if job.model is None:
        mask, windows = _fallback_mask(source, job), 0
    else:
        mask, windows = _prn_mask(source, job)
    try:
        job.target.write(job.region, mask, None)
        job.target.mark_done(job.index)
    except OSError as error:
        raise unwritable(job.target.path, error) from None
    return windows


def _fallback_mask(source: ImageSource, job: RefineJob) -> np.ndarray:
    y0, y1, x0, x1 = job.region
    prob = _probabilities(source, source.read((y0, y1), (x0, x1))[0], job.region)
    return refine(prob, patch_size=job.patch_size, prn=None, threshold=job.threshold)


def _prn_mask(source: ImageSource, job: RefineJob) -> tuple[np.ndarray, int]:
    """PRN's mask of the chunk, computed on the whole map's window grid."""
    prn, device = worker_model(job.model)
    padded = padded_shape(job.plan.shape, job.patch_size)
    halo = _with_halo(job.region, job.plan.shape)
    reach, count = windows_reach(halo, padded, job.plan, job.patch_size)
    x = source.read_padded(reach, padded, mode="symmetric")
    x = _probabilities(source, x[0], reach)[None]
    blended = sliding_window(
        _window_function(prn, device, job.patch_size),
        x,
        _window_shape(job.plan, padded),
        job.plan.overlap,
        align=job.patch_size,
        window=Window(padded, halo, (reach[0], reach[2])),
    )
    local = blended[1] if len(blended) == 2 else None
    mask = prn_final_mask(prn, blended[0], local, job.threshold)
    y0, y1, x0, x1 = job.region
    return mask[y0 - halo[0] : y1 - halo[0], x0 - halo[2] : x1 - halo[2]], count


def padded_shape(shape: tuple[int, int], patch_size: int) -> tuple[int, int]:
    """The map mirror-padded to whole patches, as `refine` pads it for PRN."""
    return tuple(-(-side // patch_size) * patch_size for side in shape)


def windows_reach(
    region: Region, padded: tuple[int, int], plan: Plan, patch_size: int
) -> tuple[Region, int]:
    """The padded map's rows and columns PRN's windows touching ``region`` cover, and
    how many windows those are."""
    shape = _window_shape(plan, padded)
    spans, count = [], 1
    for axis, (start, stop) in enumerate((region[:2], region[2:])):
        starts = tile_starts(padded[axis], shape[axis], plan.overlap, align=patch_size)
        touching = [s for s in starts if s < stop and s + shape[axis] > start]
        spans += [touching[0], touching[-1] + shape[axis]]
        count *= len(touching)
    return tuple(spans), count


def _window_shape(plan: Plan, padded: tuple[int, int]) -> tuple[int, int]:
    return min(plan.tile[0], padded[0]), min(plan.tile[1], padded[1])


def _with_halo(region: Region, shape: tuple[int, int]) -> Region:
    y0, y1, x0, x1 = region
    return (
        max(0, y0 - DILATION_HALO),
        min(shape[0], y1 + DILATION_HALO),
        max(0, x0 - DILATION_HALO),
        min(shape[1], x1 + DILATION_HALO),
    )


def _probabilities(source: ImageSource, pixels: np.ndarray, region: Region) -> np.ndarray:
    """``pixels`` checked as refine checks its map, named by where they lie."""
    y0, y1, x0, x1 = region
    return as_probability_map(pixels, f"{source.name} rows {y0}:{y1}, columns {x0}:{x1}")


def _window_function(prn: nn.Module, device: torch.device, patch_size: int) -> TileFn:
    """PRN windows (B, 1, h, w) in, refine's global (and local) probabilities out."""

    def run(batch: np.ndarray) -> np.ndarray:
        outputs = []
        for window in batch:
            global_prob, local_prob = drain(
                iter_prn_probabilities(
                    prn,
                    window[0],
                    patch_size=patch_size,
                    device=device,
                    window=max(window.shape[1:]),
                    overlap=0.0,
                )
            )
            maps = [global_prob] if local_prob is None else [global_prob, local_prob]
            outputs.append(np.stack(maps))
        return np.stack(outputs)

    return run
