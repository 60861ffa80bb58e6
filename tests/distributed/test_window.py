"""`sliding_window` over one window of a larger image's grid equals that part of the whole."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine.engine.tiling import Window, sliding_window, tiles_reach
from napari_segrefine.errors import SegRefineError


def _context_dependent(batch: np.ndarray) -> np.ndarray:
    """Not pointwise: each tile's output depends on the whole tile."""
    return batch[:, :1] * batch.mean(axis=(1, 2, 3), keepdims=True) + batch[:, 1:2]


@pytest.mark.parametrize(
    "region", [(0, 100, 0, 257), (37, 200, 10, 130), (250, 300, 200, 257), (0, 300, 0, 257)]
)
@pytest.mark.parametrize("blend", ["gaussian", "constant"])
def test_window_equals_the_whole_image_there(region, blend):
    x = np.random.default_rng(0).random((2, 300, 257)).astype(np.float32)
    whole = sliding_window(_context_dependent, x, 64, 0.3, blend)
    y0, y1, x0, x1 = tiles_reach(Window((300, 257), region), 64, 0.3)
    window = Window((300, 257), region, (y0, x0))
    part = sliding_window(_context_dependent, x[:, y0:y1, x0:x1], 64, 0.3, blend, window=window)
    np.testing.assert_array_equal(part, whole[:, region[0] : region[1], region[2] : region[3]])


def test_reach_is_at_most_a_tile_beyond_the_region():
    reach = tiles_reach(Window((1000, 1000), (400, 600, 400, 600)), 128, 0.25)
    assert 400 - 127 <= reach[0] <= 400 and 600 <= reach[1] <= 600 + 127
    assert 400 - 127 <= reach[2] <= 400 and 600 <= reach[3] <= 600 + 127


def test_window_input_must_hold_the_tiles():
    x = np.zeros((1, 50, 50), np.float32)
    window = Window((300, 300), (100, 150, 100, 150), (100, 100))
    with pytest.raises(SegRefineError, match="tiles_reach"):
        sliding_window(lambda b: b, x, 64, 0.25, window=window)


def test_window_region_must_lie_in_the_image():
    with pytest.raises(SegRefineError, match="outside the image"):
        tiles_reach(Window((100, 100), (50, 120, 0, 10)), 32, 0.25)
