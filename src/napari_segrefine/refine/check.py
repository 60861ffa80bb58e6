"""Does refinement help where the user already knows the answer?

Before a refined mask replaces the current one, `check_refinement` compares both with
the user's corrections on the corrected (``valid``) pixels: IoU of the mask before
refinement and of the refined mask, overall and per patch. When refinement lowers the
IoU there, `RefineCheck.apply` is False: callers keep the current mask unless the user
asks for the refined one anyway, and show `RefineCheck.message` either way.
`refine_checked` is `refine` with this check built in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SegRefineError
from .patches import as_binary_mask, check_patch_size, patch_pixel_counts, patch_sums
from .pipeline import refine

PATCH_SHARE = 0.5  # a patch counts as corrected when this share of its pixels is


@dataclass(frozen=True)
class RefineCheck:
    """Refinement against the corrections, on the corrected pixels.

    Attributes:
        pixels: corrected pixels compared (0: nothing to check against).
        patches: patches with at least half of their pixels corrected.
        iou_before: IoU of the mask before refinement (None when unchecked).
        iou_after: IoU of the refined mask (None when unchecked).
        patches_worse: corrected patches whose IoU refinement lowers.
        apply: False when refinement lowers the IoU on the corrected pixels.
        message: one line for the user.
    """

    pixels: int
    patches: int
    iou_before: float | None
    iou_after: float | None
    patches_worse: int
    apply: bool
    message: str

    @property
    def checked(self) -> bool:
        return self.pixels > 0


@dataclass(frozen=True)
class CheckedRefinement:
    """`refine_checked`'s result: the mask to use, the refined one, and the check."""

    mask: np.ndarray
    refined: np.ndarray
    check: RefineCheck
    applied: bool


def check_refinement(
    before: np.ndarray,
    after: np.ndarray,
    corrected: np.ndarray,
    valid: np.ndarray | None,
    patch_size: int = 64,
) -> RefineCheck:
    """Compare the masks before and after refinement with the corrections.

    Args:
        before: the mask before refinement, (H, W) or a stack (N, H, W).
        after: the refined mask, same shape.
        corrected: the user's mask (right on the ``valid`` pixels), same shape.
        valid: the corrected or confirmed pixels; None or empty: nothing to check.
        patch_size: side of the patches counted in ``patches_worse``.

    Returns:
        The `RefineCheck`.
    """
    shape = np.shape(before)
    if len(shape) not in (2, 3) or 0 in shape:
        raise SegRefineError(f"before must be a 2-D mask or a stack of them, got shape {shape}")
    patch_size = check_patch_size(patch_size)
    truth = as_binary_mask(corrected, shape, "corrected")
    seen = np.zeros(shape, bool) if valid is None else as_binary_mask(valid, shape, "valid")
    counts = [
        _patch_counts(as_binary_mask(mask, shape, name), truth, seen, patch_size)
        for name, mask in (("before", before), ("after", after))
    ]
    pixels = int(np.count_nonzero(seen))
    if pixels == 0:
        message = "refine not checked: no corrected pixels yet; correct a few patches to check it"
        return RefineCheck(0, 0, None, None, 0, True, message)
    iou_before, iou_after = (_iou(inter.sum(), union.sum()) for inter, union, _ in counts)
    share = counts[0][2]
    corrected_patches = share >= PATCH_SHARE
    worse = _iou(*counts[1][:2]) < _iou(*counts[0][:2]) - 1e-9
    patches_worse = int(np.count_nonzero(worse & corrected_patches))
    apply = iou_after >= iou_before
    verdict = (
        "refine applied" if apply else "refine NOT applied: it lowers IoU on your corrections"
    )
    message = (
        f"{verdict} ({pixels} corrected pixels, IoU {iou_before:.3f} -> {iou_after:.3f}; "
        f"{patches_worse} of {int(corrected_patches.sum())} corrected patches worse)"
    )
    return RefineCheck(
        pixels, int(corrected_patches.sum()), iou_before, iou_after, patches_worse, apply, message
    )


def refine_checked(
    prob: np.ndarray,
    corrected: np.ndarray,
    valid: np.ndarray | None,
    *,
    force: bool = False,
    **options: Any,
) -> CheckedRefinement:
    """`refine`, checked against the corrections: the refined mask only when it helps.

    Args:
        prob: (H, W) probabilities in [0, 1].
        corrected: the user's (H, W) mask, right on the ``valid`` pixels.
        valid: the corrected pixels (None: unchecked, the refined mask is used).
        force: use the refined mask even when the check advises against it.
        **options: `refine`'s keyword arguments (``patch_size``, ``prn``, ``threshold`` ...).

    Returns:
        `CheckedRefinement`; its ``mask`` is the refined mask when ``applied``, else
        ``prob > threshold``.
    """
    refined = refine(prob, **options)
    before = (np.asarray(prob) > options.get("threshold", 0.5)).astype(np.uint8)
    check = check_refinement(before, refined, corrected, valid, options.get("patch_size", 64))
    applied = check.apply or force
    return CheckedRefinement(refined if applied else before, refined, check, applied)


def _patch_counts(mask, truth, seen, patch_size) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersection, union and corrected share per patch (slices of a stack summed apart)."""
    planes = [(mask, truth, seen)] if mask.ndim == 2 else zip(mask, truth, seen)
    parts = []
    for m, t, s in planes:
        inter = patch_sums((m & t & s).astype(np.int64), patch_size)
        union = patch_sums(((m | t) & s).astype(np.int64), patch_size)
        share = patch_sums(s.astype(np.int64), patch_size) / patch_pixel_counts(
            s.shape, patch_size
        )
        parts.append((inter, union, share))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def _iou(intersection, union):
    """IoU (1 where both masks are empty on the compared pixels); arrays elementwise."""
    intersection, union = np.asarray(intersection, float), np.asarray(union, float)
    result = np.where(union > 0, intersection / np.maximum(union, 1), 1.0)
    return float(result) if result.ndim == 0 else result
