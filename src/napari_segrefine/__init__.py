"""napari-segrefine: correct segmentations by hand and teach the model from the corrections.

The public API is importable from here; heavy modules load on first use so that
``import napari_segrefine`` (and napari's plugin discovery) stays fast.

``napari_segrefine.refine`` is the function `refine.pipeline.refine`, also after its
subpackage ``napari_segrefine.refine`` was imported (the import system would otherwise
bind the subpackage under that name); import the subpackage's other names by its full
name: ``from napari_segrefine.refine import patch_optimal_thresholds``.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time `__getattr__` loads them
    from .engine import Prediction as Prediction
    from .engine import iter_predict as iter_predict
    from .engine import predict as predict
    from .errors import SegRefineError as SegRefineError
    from .generators import Progress as Progress
    from .models import create_model as create_model
    from .models import list_models as list_models
    from .models import load_checkpoint as load_checkpoint
    from .models import save_checkpoint as save_checkpoint
    from .refine.pipeline import iter_refine as iter_refine
    from .refine.pipeline import refine as refine
    from .refine.thresholds import patch_optimal_thresholds as patch_optimal_thresholds

__version__ = "0.1.0"

_EXPORTS = {
    "SegRefineError": "napari_segrefine.errors",
    "Progress": "napari_segrefine.generators",
    "list_models": "napari_segrefine.models",
    "create_model": "napari_segrefine.models",
    "load_checkpoint": "napari_segrefine.models",
    "save_checkpoint": "napari_segrefine.models",
    "predict": "napari_segrefine.engine",
    "iter_predict": "napari_segrefine.engine",
    "Prediction": "napari_segrefine.engine",
    "refine": "napari_segrefine.refine.pipeline",
    "iter_refine": "napari_segrefine.refine.pipeline",
    "patch_optimal_thresholds": "napari_segrefine.refine.thresholds",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'napari_segrefine' has no attribute {name!r}")


class _Package(types.ModuleType):
    """This package's module type: its ``refine`` attribute is always the function."""

    @property
    def refine(self) -> Any:
        return __getattr__("refine")

    @refine.setter
    def refine(self, subpackage: types.ModuleType) -> None:
        pass  # the import system binds the subpackage here once; the function stays


sys.modules[__name__].__class__ = _Package
