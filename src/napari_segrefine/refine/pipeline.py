"""`refine`: a better mask from a probability map, with PatchRefineNet or without it."""

from __future__ import annotations

import threading
from collections.abc import Generator

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from ..errors import SegRefineError
from ..generators import Progress, ProgressCallback, drain_to_callback
from .fallback import adaptive_threshold_mask
from .patches import (
    as_binary_mask,
    as_probability_map,
    check_patch_size,
    patch_pixel_counts,
    patch_sums,
)
from .prn_windows import iter_prn_probabilities

DILATION = np.ones((3, 3), dtype=bool)


def refine(
    prob: np.ndarray,
    *,
    patch_size: int = 64,
    prn: nn.Module | None = None,
    threshold: float = 0.5,
    device: str | torch.device = "auto",
    window: int = 512,
    overlap: float = 0.25,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> np.ndarray:
    """Refine the mask of a probability map: `iter_refine`, drained.

    Takes `iter_refine`'s arguments, and ``progress``: called as
    ``progress(windows done, windows in all)`` after each window (the fallback
    reports ``(1, 1)``).
    """
    events = iter_refine(
        prob,
        patch_size=patch_size,
        prn=prn,
        threshold=threshold,
        device=device,
        window=window,
        overlap=overlap,
        stop=stop,
    )
    return drain_to_callback(events, progress)


def iter_refine(
    prob: np.ndarray,
    *,
    patch_size: int = 64,
    prn: nn.Module | None = None,
    threshold: float = 0.5,
    device: str | torch.device = "auto",
    window: int = 512,
    overlap: float = 0.25,
    stop: threading.Event | None = None,
) -> Generator[Progress, None, np.ndarray]:
    """Refine the mask of a probability map, yielding a `Progress` after each window.

    With a PRN model (``create_model("prn_p64")`` or a loaded checkpoint), PRN runs at
    ``patch_size`` on maps of any size: the map is mirror-padded to whole patches and,
    when larger than ``window``, processed in overlapping windows whose origins lie on
    the patch grid (see `prn_windows`). The model's ``combine`` rule makes one mask of
    its two outputs (see `combine_prn_outputs`); upstream's, the default: with ``g``
    and ``l`` the global and local outputs above ``threshold``, ``g OR
    dilate3x3(g AND l)``; PRN P0 (no local decoder) gives ``g``.

    Without a PRN model (``prn=None``), per-patch threshold adaptation: patches whose
    probabilities are clearly bimodal get Otsu's threshold clipped to
    ``threshold +/- 0.2``, the others keep ``threshold``, and the thresholds are
    interpolated smoothly between patch centres (see `fallback`).

    Args:
        prob: (H, W) foreground probabilities in [0, 1].
        patch_size: patch side in pixels (a multiple of 8 with PRN).
        prn: a PRN model, or None for the fallback.
        threshold: cut-off for PRN's outputs (upstream: 0.5) and the fallback's base
            threshold; in (0, 1).
        device: where PRN runs (``auto``: CUDA, then MPS, then CPU); the model is
            moved there. Unused by the fallback.
        window: largest PRN window side in pixels.
        overlap: fraction of a window shared with its neighbour, in [0, 1).
        stop: a `threading.Event` checked between windows; when set, `Cancelled` is
            raised.

    Returns:
        uint8 (H, W) mask of 0 and 1 (as the generator's return value).
    """
    prob = as_probability_map(prob)
    patch_size = check_patch_size(patch_size)
    if not 0.0 < threshold < 1.0:
        raise SegRefineError(f"threshold must lie strictly between 0 and 1, got {threshold!r}")
    if prn is None:
        mask = adaptive_threshold_mask(prob, patch_size, threshold)
        yield Progress(1, 1, "adaptive thresholds")
        return mask
    global_prob, local_prob = yield from iter_prn_probabilities(
        prn,
        prob,
        patch_size=patch_size,
        device=device,
        window=window,
        overlap=overlap,
        stop=stop,
    )
    return prn_final_mask(prn, global_prob, local_prob, threshold)


def prn_combine_rule(prn: nn.Module) -> str:
    """The model's ``combine`` rule (a key of `models.prn.COMBINE_RULES`); ``union``
    for models without one (upstream's)."""
    return str(getattr(prn, "combine", "union"))


def prn_final_mask(
    prn: nn.Module, global_prob: np.ndarray, local_prob: np.ndarray | None, threshold: float = 0.5
) -> np.ndarray:
    """``prn``'s outputs made one mask by its own rule (`combine_prn_outputs`)."""
    return combine_prn_outputs(global_prob, local_prob, threshold, prn_combine_rule(prn))


def combine_prn_outputs(
    global_prob: np.ndarray,
    local_prob: np.ndarray | None,
    threshold: float = 0.5,
    rule: str = "union",
) -> np.ndarray:
    """One mask of PRN's outputs above ``threshold`` by ``rule``.

    ``union`` (upstream): ``g OR dilate3x3(g AND l)``; ``global``: ``g``; ``local``:
    ``l``. Without a local map, ``g`` whatever the rule.
    """
    global_mask = global_prob > threshold
    if local_prob is None or rule == "global":
        return global_mask.astype(np.uint8)
    if rule == "local":
        return (local_prob > threshold).astype(np.uint8)
    agreed = global_mask & (local_prob > threshold)
    return (global_mask | ndimage.binary_dilation(agreed, structure=DILATION)).astype(np.uint8)


def refine_stats(before: np.ndarray, after: np.ndarray, patch_size: int) -> np.ndarray:
    """Fraction of pixels whose label changed, per patch (edge patches are partial).

    Args:
        before: (H, W) mask before refinement; nonzero (floats: above 0.5) is foreground.
        after: (H, W) mask after refinement, same convention.
        patch_size: patch side in pixels.

    Returns:
        float32 array of shape ``(ceil(H / P), ceil(W / P))`` with values in [0, 1].
    """
    before_mask = as_binary_mask(before, np.shape(before), "before")
    if before_mask.ndim != 2 or before_mask.size == 0:
        raise SegRefineError(
            f"before must be a non-empty 2-D (H, W) mask, got shape {before_mask.shape}"
        )
    after_mask = as_binary_mask(after, before_mask.shape, "after")
    patch_size = check_patch_size(patch_size)
    changed = patch_sums((before_mask != after_mask).astype(np.int64), patch_size)
    return (changed / patch_pixel_counts(before_mask.shape, patch_size)).astype(np.float32)
