"""One undo history for the mask and the corrections record together."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .edits import Key

HISTORY_BYTES = 256 * 2**20  # oldest steps are forgotten beyond this


@dataclass(frozen=True)
class Change:
    """One undoable step: a box of the mask and of the valid mask, before and after."""

    key: Key
    mask_before: np.ndarray
    mask_after: np.ndarray
    valid_before: np.ndarray
    valid_after: np.ndarray
    label: str

    @property
    def nbytes(self) -> int:
        arrays = (self.mask_before, self.mask_after, self.valid_before, self.valid_after)
        return sum(a.nbytes for a in arrays)


class History:
    """Undo and redo stacks of `Change`s, bounded by their memory."""

    def __init__(self, budget: int = HISTORY_BYTES) -> None:
        self.budget = budget
        self._undo: deque[Change] = deque()
        self._redo: list[Change] = []

    def push(self, change: Change) -> None:
        """Record a step just made; the redo stack is dropped, as in every editor."""
        self._undo.append(change)
        self._redo.clear()
        while len(self._undo) > 1 and sum(c.nbytes for c in self._undo) > self.budget:
            self._undo.popleft()

    def take_undo(self) -> Change | None:
        """The step to undo (moved onto the redo stack), None when there is none."""
        return _move(self._undo, self._redo)

    def take_redo(self) -> Change | None:
        """The step to redo (moved back onto the undo stack), None when there is none."""
        return _move(self._redo, self._undo)

    @property
    def counts(self) -> tuple[int, int]:
        """(steps that can be undone, steps that can be redone)."""
        return len(self._undo), len(self._redo)

    @property
    def labels(self) -> list[str]:
        """What each undoable step was, oldest first."""
        return [change.label for change in self._undo]


def _move(source, target) -> Change | None:
    """Pop the last change of ``source`` onto ``target``."""
    if not source:
        return None
    change = source.pop()
    target.append(change)
    return change
