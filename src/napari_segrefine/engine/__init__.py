"""Inference: device choice, preprocessing, sliding-window tiling, `predict`, boundary maps."""

from .boundary import boundary_map
from .device import resolve_device
from .predict import Prediction, Progress, iter_predict, predict, threshold_mask
from .preprocess import Layout, to_channels_first
from .tiling import iter_sliding_window, sliding_window, tile_grid

__all__ = [
    "Layout",
    "Prediction",
    "Progress",
    "boundary_map",
    "iter_predict",
    "predict",
    "resolve_device",
    "sliding_window",
    "iter_sliding_window",
    "threshold_mask",
    "tile_grid",
    "to_channels_first",
]
