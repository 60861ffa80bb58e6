"""Refinement: patch-optimal thresholds (PRN pseudo-labels) and the PRN refinement pipeline."""

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
