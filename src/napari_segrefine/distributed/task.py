"""What one Dask task does: segment one output chunk and write it.

The chunk runs through the engine's own tile call and sliding window (`tile_function`,
`sliding_window` with a `Window` of the whole image's grid), with the whole image's
normalization divisor, so its pixels equal those `predict` gives for the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.predict import model_in_channels, tile_function
from ..engine.prediction import threshold_mask
from ..engine.preprocess import match_channels
from ..engine.tiling import sliding_window
from ..models.config import model_config
from ..models.normalization import normalize, scale_divisor
from .model_cache import worker_model
from .output import OutputTarget, unwritable
from .plan import Plan
from .sources import ImageSource, Region


@dataclass(frozen=True)
class ChunkJob:
    """One chunk of one image: everything a worker needs besides the source and model.

    Attributes:
        index: (row, col) of the chunk.
        region: its (y0, y1, x0, x1) in the image.
        plan: the image's cut.
        model: digest of the model (see `model_cache`).
        target: the image's output.
        divisor: the whole image's normalization divisor.
        threshold: binary masks are ``probability > threshold``.
        batch_size: tiles per model call; None: 4 on a GPU, 1 on the CPU.
        precision: as for `predict`.
    """

    index: tuple[int, int]
    region: Region
    plan: Plan
    model: str
    target: OutputTarget
    divisor: float
    threshold: float = 0.5
    batch_size: int | None = None
    precision: str = "auto"


def run_chunk(source: ImageSource, job: ChunkJob) -> int:
    """Segment, write and record one chunk; returns the number of tiles it ran."""
    model, device = worker_model(job.model)
    window, reach = job.plan.window(job.region)
    raw = source.read_padded(reach, job.plan.padded)
    fitted = match_channels(raw, model_in_channels(model))
    x = normalize(fitted, model_config(model).normalization, job.divisor)
    batch = job.batch_size or (1 if device.type == "cpu" else 4)
    probs = sliding_window(
        tile_function(model, device, job.precision),
        x,
        job.plan.tile,
        job.plan.overlap,
        batch_size=batch,
        window=window,
    )
    mask = _mask(probs, job.threshold)
    try:
        job.target.write(job.region, mask, probs[0] if len(probs) == 1 else probs)
        job.target.mark_done(job.index)
    except OSError as error:
        raise unwritable(job.target.path, error) from None
    return job.plan.tiles_in(job.region)


def _mask(probs: np.ndarray, threshold: float) -> np.ndarray:
    """Binary: ``prob > threshold``; multi-class: the argmax, as `predict` makes them."""
    if len(probs) == 1:
        return threshold_mask(probs[0], threshold)
    return probs.argmax(axis=0).astype(np.uint8 if len(probs) <= 256 else np.int32)


def region_peak(source: ImageSource, region: Region) -> float:
    """The largest pixel value of ``region`` (for the whole image's divisor)."""
    y0, y1, x0, x1 = region
    return float(np.max(source.read((y0, y1), (x0, x1))))


def image_divisor(peak: float | None, dtype: np.dtype, norm) -> float:
    """`scale_divisor` of an image whose largest value is ``peak``.

    `scale_divisor` depends on the pixels only through their dtype and maximum, so a
    one-pixel stand-in of that value gives the whole image's divisor.
    """
    stand_in = np.zeros(1, dtype) if peak is None else np.asarray([peak]).astype(dtype)
    return scale_divisor(stand_in, norm)


def needs_peak(dtype: np.dtype, norm) -> bool:
    """Whether the divisor depends on the pixels (else a stand-in of zeros will do)."""
    if norm.scale == "image_max":
        return True
    return norm.scale == "dtype_max" and np.dtype(dtype) not in (np.bool_, np.uint8)
