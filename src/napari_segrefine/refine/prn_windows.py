"""Running a PRN model on probability maps of any size, in windows aligned to the patches.

PRN's local decoder works on a grid of ``patch_size`` tiles of its input. To keep that
grid on the image's own patch grid, the map is padded (mirrored) to a multiple of the
patch size, and windows start at multiples of the patch size. Overlapping windows are
blended with weights that ramp linearly across the overlap, so seams do not show.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

import numpy as np
import torch
from torch import nn

from ..engine.device import resolve_device
from ..errors import Cancelled, SegRefineError

PRN_MULTIPLE = 8  # PRN's encoder downsamples by 8; windows and patches must divide by it

ProgressCallback = Callable[[int, int], None]


class StopFlag(Protocol):
    """Anything with ``is_set()``, e.g. a `threading.Event`."""

    def is_set(self) -> bool: ...


def prn_probabilities(
    prn: nn.Module,
    prob: np.ndarray,
    *,
    patch_size: int,
    device: str | torch.device = "auto",
    window: int = 512,
    overlap: float = 0.25,
    progress: ProgressCallback | None = None,
    stop: StopFlag | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """PRN's global and local foreground probabilities for a whole map.

    Args:
        prn: a PRN model; ``prn(x, patch_size=P)`` returns ``(global_logits,
            local_logits_or_None)`` for a B x 1 x H x W probability batch.
        prob: (H, W) probabilities in [0, 1].
        patch_size: PRN's local patch size in pixels, a multiple of 8.
        device: ``auto``, ``cpu``, ``cuda`` ...; the model is moved there.
        window: largest window side in pixels, rounded down to a multiple of
            ``patch_size`` (at least one patch).
        overlap: fraction of the window shared with the next one, in [0, 1);
            rounded to whole patches.
        progress: called with (windows done, windows in all) after each window.
        stop: checked before each window; when set, `Cancelled` is raised.

    Returns:
        ``(global_prob, local_prob)`` as float32 (H, W); ``local_prob`` is None for
        models without a local decoder (PRN P0).
    """
    _check_prn_settings(patch_size, window, overlap)
    side = max(patch_size, window // patch_size * patch_size)
    padded = _pad_to_multiple(prob, patch_size)
    layout = WindowLayout(padded.shape, side, _overlap_pixels(overlap, side, patch_size))
    torch_device = resolve_device(device)
    global_sum = np.zeros(padded.shape, dtype=np.float32)
    local_sum: np.ndarray | None = None
    weight_sum = np.zeros(padded.shape, dtype=np.float32)
    with _inference(prn, torch_device):
        for index, (rows, cols) in enumerate(layout.windows()):
            if stop is not None and stop.is_set():
                raise Cancelled("refinement was stopped")
            tile = torch.from_numpy(np.ascontiguousarray(padded[rows, cols], dtype=np.float32))
            global_prob, local_prob = _run_window(prn, tile.to(torch_device), patch_size)
            global_sum[rows, cols] += layout.weights * global_prob
            if local_prob is not None:
                if local_sum is None:
                    local_sum = np.zeros(padded.shape, dtype=np.float32)
                local_sum[rows, cols] += layout.weights * local_prob
            weight_sum[rows, cols] += layout.weights
            if progress is not None:
                progress(index + 1, layout.count)
    height, width = prob.shape
    crop = (slice(0, height), slice(0, width))
    local = None if local_sum is None else local_sum[crop] / weight_sum[crop]
    return global_sum[crop] / weight_sum[crop], local


class WindowLayout:
    """Windows of one size tiling a padded map, origins on multiples of the patch grid."""

    def __init__(self, shape: tuple[int, int], side: int, overlap: int) -> None:
        self.size = (min(side, shape[0]), min(side, shape[1]))
        self.origins = tuple(
            _origins(length, size, size - min(overlap, size))
            for length, size in zip(shape, self.size)
        )
        ramps = [_ramp(size, overlap) for size in self.size]
        self.weights = np.outer(*ramps).astype(np.float32)

    @property
    def count(self) -> int:
        return len(self.origins[0]) * len(self.origins[1])

    def windows(self) -> Iterator[tuple[slice, slice]]:
        """Row and column slices of each window, row-major."""
        for top in self.origins[0]:
            for left in self.origins[1]:
                yield slice(top, top + self.size[0]), slice(left, left + self.size[1])


def _origins(length: int, size: int, stride: int) -> list[int]:
    last = length - size
    return sorted({*range(0, last, max(stride, 1)), last})


def _ramp(size: int, overlap: int) -> np.ndarray:
    """1 in the middle, falling linearly to ``1 / (overlap + 1)`` at both ends."""
    distance_to_edge = np.minimum(np.arange(size) + 1, size - np.arange(size))
    return np.minimum(distance_to_edge / (overlap + 1), 1.0)


def _overlap_pixels(overlap: float, side: int, unit: int) -> int:
    """``overlap`` of the window in whole patches, leaving a stride of at least one patch."""
    return min(round(overlap * side / unit) * unit, side - unit)


def _pad_to_multiple(prob: np.ndarray, unit: int) -> np.ndarray:
    pad = [(0, math.ceil(length / unit) * unit - length) for length in prob.shape]
    return np.pad(prob, pad, mode="symmetric")


def _run_window(
    prn: nn.Module, tile: torch.Tensor, patch_size: int
) -> tuple[np.ndarray, np.ndarray | None]:
    outputs = prn(tile[None, None], patch_size=patch_size)
    if not (isinstance(outputs, (tuple, list)) and len(outputs) == 2):
        raise SegRefineError(
            f"{type(prn).__name__} is not a PRN model: it must return (global_logits, "
            "local_logits); build one with create_model('prn_p64')"
        )
    global_logits, local_logits = outputs
    global_prob = torch.sigmoid(global_logits[0, 0]).float().cpu().numpy()
    if local_logits is None:
        return global_prob, None
    return global_prob, torch.sigmoid(local_logits[0, 0]).float().cpu().numpy()


@contextmanager
def _inference(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Eval mode, no autograd, on ``device``; restores train mode afterwards."""
    was_training = model.training
    model.to(device).eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def _check_prn_settings(patch_size: int, window: int, overlap: float) -> None:
    if patch_size % PRN_MULTIPLE:
        raise SegRefineError(
            f"PRN needs a patch_size that is a multiple of {PRN_MULTIPLE}, got {patch_size}; "
            "try 32, 64 or 128"
        )
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise SegRefineError(f"window must be a positive number of pixels, got {window!r}")
    if not 0.0 <= overlap < 1.0:
        raise SegRefineError(f"overlap must be a fraction in [0, 1), got {overlap!r}")
