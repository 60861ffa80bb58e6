"""Refinement: patch-optimal thresholds (PRN pseudo-labels) and the PRN refinement pipeline.

``napari_segrefine.refine`` is both this package and, as the public API promises, the
function ``refine(prob, ...)``: importing the subpackage sets the attribute on the
parent package, so the module itself is made callable and forwards to `refine`.
"""

import sys
import types

from .pipeline import combine_prn_outputs, refine, refine_stats
from .thresholds import DEFAULT_THRESHOLDS, make_pseudo_labels, patch_optimal_thresholds

__all__ = [
    "DEFAULT_THRESHOLDS",
    "combine_prn_outputs",
    "make_pseudo_labels",
    "patch_optimal_thresholds",
    "refine",
    "refine_stats",
]


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return refine(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
