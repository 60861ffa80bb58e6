"""Out of memory during `predict`: smaller batches, then smaller tiles, then the CPU.

A prediction that runs out of memory (``torch.OutOfMemoryError``, on a GPU or the CPU)
is not a crash: the slice starts again with the next smaller `RunPlan`, with a warning
saying so, until a plan fits or none is left (then one clear `SegRefineError`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..errors import SegRefineError
from .preprocess import PAD_MULTIPLE

MIN_TILE = 128  # tiles are not halved below this side


@dataclass(frozen=True)
class RunPlan:
    """Where and in what pieces the tiles of one slice run."""

    device: torch.device
    tile: tuple[int, int]
    batch: int

    def describe(self) -> str:
        return f"{self.batch} tile(s) of {self.tile[0]} x {self.tile[1]} on {self.device}"


def smaller(plan: RunPlan) -> RunPlan:
    """The next plan after ``plan`` ran out of memory.

    Batch 1 first, then tiles of half the side (down to `MIN_TILE`), then the CPU.

    Raises:
        SegRefineError: ``plan`` was already the smallest: batch 1, smallest tiles, CPU.
    """
    if plan.device.type == "cuda":
        torch.cuda.empty_cache()
    if plan.batch > 1:
        return replace(plan, batch=1)
    if max(plan.tile) > MIN_TILE:
        return replace(plan, tile=tuple(_half(side) for side in plan.tile))
    if plan.device.type != "cpu":
        return replace(plan, device=torch.device("cpu"))
    raise SegRefineError(
        f"out of memory even with {plan.describe()}; close other programs or free memory, "
        "then try again"
    )


def _half(side: int) -> int:
    """Half of ``side``, rounded up to the padding multiple, at least `MIN_TILE`."""
    half = -(-side // 2 // PAD_MULTIPLE) * PAD_MULTIPLE
    return max(MIN_TILE, min(side, half))
