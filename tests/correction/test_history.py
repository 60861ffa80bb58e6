"""The undo history: stacks that move steps across, bounded by memory."""

from __future__ import annotations

import numpy as np

from napari_segrefine.correction import Change, History


def _change(label: str, size: int = 4) -> Change:
    box = np.zeros((size, size), np.uint8)
    return Change((slice(0, size), slice(0, size)), box, box + 1, box, box + 1, label)


def test_undo_then_redo_moves_one_step_each_way_and_a_new_step_drops_redo():
    history = History()
    history.push(_change("a"))
    history.push(_change("b"))

    assert history.take_undo().label == "b"
    assert history.counts == (1, 1)
    assert history.take_redo().label == "b"
    history.take_undo()
    history.push(_change("c"))
    assert history.counts == (2, 0) and history.labels == ["a", "c"]
    assert History().take_undo() is None and History().take_redo() is None


def test_the_oldest_steps_are_forgotten_beyond_the_memory_budget():
    history = History(budget=3 * _change("x").nbytes)
    for label in "abcde":
        history.push(_change(label))

    assert history.labels == ["c", "d", "e"]
    big = History(budget=1)
    big.push(_change("huge", 64))
    assert big.labels == ["huge"]  # the latest step is always kept
