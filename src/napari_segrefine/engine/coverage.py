"""Whether a binary mask found anything, and what to do when it did not.

A starting model that has never seen images like the user's often marks nothing (or
everything) as foreground: on 19 of the 24 real benchmark sets the shipped weights do
worse than a global threshold (`benchmarks/results/zero_shot_real_all.md`). Saying so at
once, with the way out, saves the user from hunting for a mask that is not there.
"""

from __future__ import annotations

import numpy as np

NEARLY_EMPTY = 0.001  # a foreground share below this (or above 1 minus it) found nothing


def coverage_advice(mask: np.ndarray, threshold: float | None = None) -> str | None:
    """One line for a binary ``mask`` (made at ``threshold``) that is (nearly) empty or
    full; None otherwise."""
    share = np.count_nonzero(mask) / max(1, np.size(mask))
    if NEARLY_EMPTY <= share <= 1 - NEARLY_EMPTY:
        return None
    what, slider = ("nothing", "lower") if share < NEARLY_EMPTY else ("everything", "raise")
    at = "" if threshold is None else f" at threshold {threshold:.2f}"
    return (
        f"the model marks {what} as foreground{at}: {slider} the threshold, or correct a "
        "patch holding both classes and update (Update now in the Correct dock, or "
        "`napari-segrefine train`): a head learns this image in seconds"
    )
