"""Running a PRN model on probability maps of any size, in windows aligned to the patches.

PRN's local decoder works on a grid of ``patch_size`` tiles of its input. To keep that
grid on the image's own patch grid, the map is padded (mirrored) to a multiple of the
patch size, and the windows of `engine.tiling` start at multiples of the patch size
(``align``); overlapping windows are blended as `predict` blends its tiles.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Generator

import numpy as np
import torch
from torch import nn

from ..engine.device import autocast_dtype, autocasting, evaluating, resolve_device
from ..engine.tiling import TileFn, iter_sliding_window
from ..engine.tuning import inference_copy
from ..errors import SegRefineError
from ..generators import Progress, map_events

PRN_MULTIPLE = 8  # PRN's encoder downsamples by 8; windows and patches must divide by it

PRNProbabilities = tuple[np.ndarray, np.ndarray | None]


def iter_prn_probabilities(
    prn: nn.Module,
    prob: np.ndarray,
    *,
    patch_size: int,
    device: str | torch.device = "auto",
    window: int = 512,
    overlap: float = 0.25,
    stop: threading.Event | None = None,
    precision: str = "auto",
    batch_size: int | None = None,
) -> Generator[Progress, None, PRNProbabilities]:
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
        stop: checked before each window; when set, `Cancelled` is raised.
        precision: autocast as in `predict` (``auto``: bf16 on CUDA, fp32 elsewhere).
        batch_size: windows per model call; None: 1 on the CPU, 4 on a GPU.

    Windows run through the engine's tuned model copy (`engine.tuning`): BatchNorm
    folded, channels_last.

    Yields:
        A `Progress` after each window.

    Returns:
        ``(global_prob, local_prob)`` as float32 (H, W); ``local_prob`` is None for
        models without a local decoder (PRN P0).
    """
    _check_prn_settings(patch_size, window, overlap)
    side = max(patch_size, window // patch_size * patch_size)
    padded = _pad_to_multiple(prob, patch_size)[None]
    torch_device = resolve_device(device)
    dtype = autocast_dtype(torch_device, precision)
    batch = batch_size or (1 if torch_device.type == "cpu" else 4)
    with evaluating(prn, torch_device):
        windows = iter_sliding_window(
            _tile_function(prn, torch_device, patch_size, dtype),
            padded,
            side,
            overlap,
            batch_size=batch,
            align=patch_size,
            stop=stop,
        )
        blended = yield from map_events(windows, _window_event)
    height, width = prob.shape
    blended = blended[:, :height, :width]
    return blended[0], (blended[1] if len(blended) == 2 else None)


def _window_event(tiles: Progress) -> Progress:
    return Progress(tiles.done, tiles.total, f"PRN window {tiles.done}/{tiles.total}")


def _tile_function(
    prn: nn.Module, device: torch.device, patch_size: int, dtype: torch.dtype | None
) -> TileFn:
    """numpy windows (B, 1, h, w) in; global (and local) probabilities (B, 1|2, h, w) out."""
    runner = inference_copy(prn, device, 1, 2 * patch_size, patch_size=patch_size)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), autocasting(device, dtype):
            tensor = runner.prepare(torch.from_numpy(batch).to(device))
            outputs = runner.module(tensor, patch_size=patch_size)
        if not (isinstance(outputs, (tuple, list)) and len(outputs) == 2):
            raise SegRefineError(
                f"{type(prn).__name__} is not a PRN model: it must return (global_logits, "
                "local_logits); build one with create_model('prn_p64')"
            )
        logits = [out for out in outputs if out is not None]
        return torch.sigmoid(torch.cat(logits, dim=1).float()).contiguous().cpu().numpy()

    return run


def _pad_to_multiple(prob: np.ndarray, unit: int) -> np.ndarray:
    pad = [(0, math.ceil(length / unit) * unit - length) for length in prob.shape]
    return np.pad(prob, pad, mode="symmetric")


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
