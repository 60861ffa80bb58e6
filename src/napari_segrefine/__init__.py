"""napari-segrefine: correct segmentations by hand and teach the model from the corrections.

The public API is importable from here; heavy modules load on first use so that
``import napari_segrefine`` (and napari's plugin discovery) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "SegRefineError": "napari_segrefine.errors",
    "list_models": "napari_segrefine.models",
    "create_model": "napari_segrefine.models",
    "load_checkpoint": "napari_segrefine.models",
    "save_checkpoint": "napari_segrefine.models",
    "predict": "napari_segrefine.engine",
    "Prediction": "napari_segrefine.engine",
    "refine": "napari_segrefine.refine",
    "patch_optimal_thresholds": "napari_segrefine.refine",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'napari_segrefine' has no attribute {name!r}")
