"""Inference: device choice, preprocessing, sliding-window tiling, `predict`, boundary maps."""

from ..generators import Progress
from .boundary import boundary_map
from .coverage import coverage_advice
from .device import resolve_device
from .predict import iter_predict, predict
from .prediction import FirstPart, Prediction, threshold_mask
from .preprocess import Layout, to_channels_first
from .tiling import iter_sliding_window, sliding_window, tile_grid

__all__ = [
    "FirstPart",
    "Layout",
    "Prediction",
    "Progress",
    "boundary_map",
    "coverage_advice",
    "iter_predict",
    "predict",
    "resolve_device",
    "sliding_window",
    "iter_sliding_window",
    "threshold_mask",
    "tile_grid",
    "to_channels_first",
]
