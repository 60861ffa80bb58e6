"""Refinement: patch-optimal thresholds (PRN pseudo-labels) and the PRN refinement pipeline.

``napari_segrefine.refine`` (the attribute of the package root) is the function
`refine`; this subpackage is imported by its full name, e.g.
``from napari_segrefine.refine import patch_optimal_thresholds``.
"""

from .check import CheckedRefinement, RefineCheck, check_refinement, refine_checked
from .pipeline import (
    combine_prn_outputs,
    iter_refine,
    prn_combine_rule,
    prn_final_mask,
    refine,
    refine_stats,
)
from .thresholds import DEFAULT_THRESHOLDS, make_pseudo_labels, patch_optimal_thresholds

__all__ = [
    "CheckedRefinement",
    "RefineCheck",
    "check_refinement",
    "refine_checked",
    "DEFAULT_THRESHOLDS",
    "combine_prn_outputs",
    "iter_refine",
    "make_pseudo_labels",
    "patch_optimal_thresholds",
    "prn_combine_rule",
    "prn_final_mask",
    "refine",
    "refine_stats",
]
