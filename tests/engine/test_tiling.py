from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from napari_segrefine.engine import sliding_window, tile_grid
from napari_segrefine.engine.tiling import (
    TileMemo,
    Window,
    blend_weights,
    iter_sliding_window,
    tile_starts,
    tiles_reach,
)
from napari_segrefine.errors import Cancelled, SegRefineError
from napari_segrefine.generators import Progress


def affine(batch: np.ndarray) -> np.ndarray:
    return batch * 2 + 1


def sigmoid_and_sum(batch: np.ndarray) -> np.ndarray:
    """Pointwise, and K differs from C: sigmoid of each channel, plus their sum."""
    sig = 1 / (1 + np.exp(-batch))
    return np.concatenate([sig, batch.sum(axis=1, keepdims=True)], axis=1)


def random_image(shape: tuple[int, int], channels: int = 2, seed: int = 0) -> np.ndarray:
    """Values over many orders of magnitude, both signs: any rounding slip shows."""
    rng = np.random.default_rng(seed)
    magnitude = 10.0 ** rng.uniform(-20, 20, (channels, *shape))
    return (magnitude * rng.choice([-1, 1], (channels, *shape))).astype(np.float32)


SIZES = [(1, 1), (3, 5), (16, 16), (17, 33), (40, 5), (63, 47), (100, 37)]
TILES = [16, (8, 24), 64]


@pytest.mark.parametrize("blend", ["gaussian", "constant"])
@pytest.mark.parametrize("overlap", [0, 0.25, 0.5, 0.9])
@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("size", SIZES)
def test_pointwise_fn_comes_back_exactly(size, tile, overlap, blend):
    x = random_image(size, seed=size[0] * 1000 + size[1])
    for fn in (affine, sigmoid_and_sum):
        with np.errstate(over="ignore"):
            expected = fn(x[None])[0]
            result = sliding_window(fn, x, tile, overlap, blend, batch_size=3)
        assert result.dtype == np.float32
        assert result.shape == expected.shape
        assert np.array_equal(result, expected)


def test_integer_input_is_cast_to_float32_tiles():
    x = np.arange(2 * 20 * 30, dtype=np.uint16).reshape(2, 20, 30)
    seen = []

    def fn(batch):
        seen.append(batch.dtype)
        return batch

    assert np.array_equal(sliding_window(fn, x, 8), x.astype(np.float32))
    assert set(seen) == {np.dtype(np.float32)}


@pytest.mark.parametrize("shape", [(7, 9), (32, 32), (33, 65)])
def test_gaussian_weights_are_positive_and_peak_in_the_centre(shape):
    weights = blend_weights(shape, "gaussian")
    assert weights.shape == shape
    assert (weights > 0).all()
    centre = np.unravel_index(weights.argmax(), shape)
    assert all(abs(c - (side - 1) / 2) <= 0.5 for c, side in zip(centre, shape))
    assert weights[0, 0] < weights[shape[0] // 2, shape[1] // 2]


def test_constant_weights_are_ones():
    assert np.array_equal(blend_weights((5, 6), "constant"), np.ones((5, 6)))


@pytest.mark.parametrize("overlap", [0, 0.25, 0.5, 0.9])
def test_tile_grid_covers_every_pixel_with_the_requested_overlap(overlap):
    shape, tile = (100, 70), 32
    corners = tile_grid(shape, tile, overlap)
    covered = np.zeros(shape, int)
    for y, x in corners:
        assert 0 <= y <= shape[0] - tile and 0 <= x <= shape[1] - tile
        covered[y : y + tile, x : x + tile] += 1
    assert (covered > 0).all()
    ys = sorted({y for y, _ in corners})
    assert max(np.diff(ys)) <= tile - round(tile * overlap)


def test_tile_larger_than_the_image_is_one_tile_of_the_image():
    shapes = []

    def fn(batch):
        shapes.append(batch.shape)
        return batch

    x = np.ones((1, 10, 13), np.float32)
    sliding_window(fn, x, 512)
    assert shapes == [(1, 1, 10, 13)]


def test_batches_and_progress():
    x = np.zeros((1, 50, 50), np.float32)
    total = len(tile_grid((50, 50), 16, 0.25))
    batch_sizes, events = [], []

    def fn(batch):
        batch_sizes.append(len(batch))
        return batch

    sliding_window(fn, x, 16, batch_size=4, progress=lambda d, t: events.append((d, t)))
    assert sum(batch_sizes) == total
    assert max(batch_sizes) == 4
    assert len(batch_sizes) == math.ceil(total / 4)
    assert [d for d, _ in events] == list(np.cumsum(batch_sizes))
    assert {t for _, t in events} == {total}


def test_generator_yields_progress_and_returns_the_result():
    x = np.full((1, 20, 20), 3.0, np.float32)
    windows = iter_sliding_window(affine, x, 8, 0.5)
    counts = []
    while True:
        try:
            counts.append(next(windows))
        except StopIteration as end:
            result = end.value
            break
    assert all(isinstance(event, Progress) for event in counts)
    assert counts[-1].done == counts[-1].total == len(tile_grid((20, 20), 8, 0.5))
    assert np.array_equal(result, np.full((1, 20, 20), 7.0, np.float32))


def test_stop_set_before_start_runs_nothing():
    stop = threading.Event()
    stop.set()
    calls = []
    with pytest.raises(Cancelled):
        sliding_window(lambda b: calls.append(b) or b, np.zeros((1, 40, 40)), 16, stop=stop)
    assert calls == []


def test_stop_between_batches():
    stop = threading.Event()
    calls = []

    def fn(batch):
        calls.append(len(batch))
        return batch

    with pytest.raises(Cancelled):
        sliding_window(fn, np.zeros((1, 64, 64)), 16, progress=lambda d, t: stop.set(), stop=stop)
    assert calls == [1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"overlap": 1.0}, "overlap"),
        ({"overlap": -0.1}, "overlap"),
        ({"blend": "median"}, "blend"),
        ({"tile_size": 0}, "tile_size"),
        ({"tile_size": (8, 8, 8)}, "tile_size"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = {"tile_size": 8, **kwargs}
    with pytest.raises(SegRefineError, match=message):
        sliding_window(affine, np.zeros((1, 20, 20)), **args)


def test_fn_returning_the_wrong_shape_is_reported():
    with pytest.raises(SegRefineError, match="tile function returned shape"):
        sliding_window(lambda b: b[:, :, ::2], np.zeros((1, 20, 20)), 8)


def test_image_must_be_channels_first_3d():
    with pytest.raises(SegRefineError, match=r"\(C, H, W\)"):
        sliding_window(affine, np.zeros((20, 20)), 8)


@pytest.mark.parametrize(
    ("length", "tile", "overlap"), [(96, 32, 0.5), (64, 64, 0.0), (40, 16, 0.9)]
)
def test_aligned_starts_lie_on_the_grid_and_cover_the_axis(length, tile, overlap):
    starts = tile_starts(length, tile, overlap, align=8)
    assert all(start % 8 == 0 for start in starts)
    assert starts[0] == 0 and starts[-1] == length - min(tile, length)
    assert all(b - a <= tile for a, b in zip(starts, starts[1:]))


def test_aligned_windows_need_whole_units():
    with pytest.raises(SegRefineError, match="multiples of 8"):
        tile_starts(100, 32, 0.25, align=8)


def _reference_blend(fn, x, tile, overlap, blend="gaussian"):
    """The textbook blend: float64 sums of weighted tiles over the whole image."""
    th, tw = (tile, tile) if isinstance(tile, int) else tile
    th, tw = min(th, x.shape[1]), min(tw, x.shape[2])
    weights = blend_weights((th, tw), blend)
    total, weight = None, np.zeros(x.shape[1:])
    for y, x0 in tile_grid(x.shape[1:], (th, tw), overlap):
        out = fn(x[None, :, y : y + th, x0 : x0 + tw].astype(np.float32))[0]
        if total is None:
            total = np.zeros((out.shape[0], *x.shape[1:]))
        total[:, y : y + th, x0 : x0 + tw] += out * weights
        weight[y : y + th, x0 : x0 + tw] += weights
    return (total / weight).astype(np.float32)


def tile_dependent(batch: np.ndarray) -> np.ndarray:
    """Not pointwise: each tile's values depend on the whole tile."""
    return np.tanh(batch) + batch.mean(axis=(2, 3), keepdims=True)


@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize(
    ("size", "tile", "overlap"), [((70, 45), 16, 0.25), ((33, 90), (8, 24), 0.5)]
)
def test_the_one_tile_high_band_equals_whole_image_sums(size, tile, overlap, batch_size):
    x = np.random.default_rng(3).normal(size=(2, *size)).astype(np.float32)
    got = sliding_window(tile_dependent, x, tile, overlap, batch_size=batch_size)
    np.testing.assert_allclose(got, _reference_blend(tile_dependent, x, tile, overlap), rtol=1e-6)


def test_a_window_of_the_band_equals_the_same_pixels_of_the_whole():
    x = np.random.default_rng(4).normal(size=(1, 90, 70)).astype(np.float32)
    whole = sliding_window(tile_dependent, x, 16, 0.25)
    window = Window((90, 70), (21, 60, 10, 41))
    y0, y1, x0, x1 = tiles_reach(window, 16, 0.25)
    window = Window((90, 70), window.region, (y0, x0))
    part = sliding_window(tile_dependent, x[:, y0:y1, x0:x1], 16, 0.25, window=window)
    assert np.array_equal(part, whole[:, 21:60, 10:41])


def test_a_tile_memo_runs_each_tile_once_and_forgets_the_least_recently_used():
    calls = []

    def double(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return batch * 2

    tiles = [np.full((1, 1, 2, 2), value, np.float32) for value in range(3)]
    run = TileMemo(limit=2).wrap(double)
    np.testing.assert_array_equal(run(np.concatenate(tiles[:2])), np.concatenate(tiles[:2]) * 2)
    np.testing.assert_array_equal(run(tiles[1]), tiles[1] * 2)  # remembered
    assert calls == [2]
    run(tiles[2])  # three tiles met: tile 0, the least recently used, is forgotten
    run(tiles[1])
    assert calls == [2, 1]
    np.testing.assert_array_equal(run(tiles[0]), tiles[0] * 2)
    assert calls == [2, 1, 1]
