"""Sliding-window inference: overlapping tiles, batched, blended back on the CPU.

The output is stitched into one float64 accumulator of the image's size (the weighted
sums; the sum of the weights is separable and kept per axis), so memory holds the
output plus ``batch_size`` tiles of activations, never the whole image's. Every pixel
ends up as ``sum(w * v) / sum(w)`` with strictly positive weights and float64 sums, so
a pointwise ``fn`` comes back exactly: ``fn(x)`` after the cast to float32.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Generator, Sequence

import numpy as np

from ..errors import Cancelled, SegRefineError
from ..generators import Progress, ProgressCallback, drain_to_callback

BLENDS = ("gaussian", "constant")
TileFn = Callable[[np.ndarray], np.ndarray]


_SIGMA_FRACTION = 1 / 8  # Gaussian sigma as a fraction of the tile side
_MIN_WEIGHT = 1e-6  # floor of the per-axis weight, so tile borders never weigh zero


def as_tile_shape(tile_size: int | Sequence[int]) -> tuple[int, int]:
    """``tile_size`` as ``(height, width)``; a `SegRefineError` if not positive ints."""
    sides = (tile_size, tile_size) if isinstance(tile_size, (int, np.integer)) else tile_size
    sides = tuple(sides)
    if len(sides) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in sides):
        raise SegRefineError(
            f"tile_size must be a positive int or (height, width), got {tile_size!r}"
        )
    return int(sides[0]), int(sides[1])


def tile_starts(length: int, tile: int, overlap: float, align: int = 1) -> list[int]:
    """Start offsets of tiles of side ``tile`` covering ``length`` pixels.

    Tiles are spread evenly from 0 to ``length - tile`` with neighbours overlapping by
    at least ``overlap`` of a tile; a tile longer than the axis is cut to the axis.
    With ``align`` > 1 every start is a multiple of ``align`` (``length`` and ``tile``
    must then be multiples of it), e.g. to keep PRN's patch grid.
    """
    tile = min(tile, length)
    if length % align or tile % align:
        raise SegRefineError(
            f"tiles of {tile} pixels on an axis of {length} cannot start on multiples of "
            f"{align}; pad the axis and size the tile to multiples of {align}"
        )
    units, tile_units = length // align, tile // align
    if tile_units == units:
        return [0]
    stride = max(1, tile_units - round(tile_units * overlap))
    count = math.ceil((units - tile_units) / stride) + 1
    starts = np.round(np.linspace(0, units - tile_units, count)).astype(int) * align
    return starts.tolist()


def tile_grid(
    shape: tuple[int, int], tile_size: int | Sequence[int], overlap: float = 0.25
) -> list[tuple[int, int]]:
    """Top-left corners ``(y, x)`` of the tiles covering an image of ``shape`` (H, W)."""
    ys, xs = _axis_starts(shape, as_tile_shape(tile_size), overlap)
    return [(y, x) for y in ys for x in xs]


def _axis_starts(
    shape: tuple[int, int], tile_shape: tuple[int, int], overlap: float, align: int = 1
) -> tuple[list[int], list[int]]:
    _check_overlap(overlap)
    return (
        tile_starts(shape[0], tile_shape[0], overlap, align),
        tile_starts(shape[1], tile_shape[1], overlap, align),
    )


def blend_weights(tile_shape: tuple[int, int], blend: str = "gaussian") -> np.ndarray:
    """Per-pixel float64 weights of one tile: strictly positive, largest at the centre."""
    rows, cols = axis_weights(tile_shape, blend)
    return np.outer(rows, cols)


def axis_weights(
    tile_shape: tuple[int, int], blend: str = "gaussian"
) -> tuple[np.ndarray, np.ndarray]:
    """The row and column factors of `blend_weights` (tile weights are separable)."""
    if blend not in BLENDS:
        raise SegRefineError(f"unknown blend {blend!r}; use one of {', '.join(BLENDS)}")
    if blend == "constant":
        return np.ones(tile_shape[0]), np.ones(tile_shape[1])
    return _gaussian_1d(tile_shape[0]), _gaussian_1d(tile_shape[1])


def _gaussian_1d(side: int) -> np.ndarray:
    centre = (side - 1) / 2
    sigma = side * _SIGMA_FRACTION
    offsets = (np.arange(side) - centre) / sigma
    return np.maximum(np.exp(-0.5 * offsets**2), _MIN_WEIGHT)


def _check_overlap(overlap: float) -> None:
    if not 0 <= overlap < 1:
        raise SegRefineError(f"overlap must be in [0, 1), got {overlap!r}; 0.25 is a good start")


def iter_sliding_window(
    fn: TileFn,
    x: np.ndarray,
    tile_size: int | Sequence[int],
    overlap: float = 0.25,
    blend: str = "gaussian",
    *,
    batch_size: int = 1,
    align: int = 1,
    stop: threading.Event | None = None,
) -> Generator[Progress, None, np.ndarray]:
    """`sliding_window` as a generator: yields a `Progress` (tiles done) after each batch.

    Returns:
        The blended (K, H, W) float32 result (as the generator's return value).
    """
    if x.ndim != 3 or x.size == 0:
        raise SegRefineError(f"sliding_window expects a non-empty (C, H, W) array, got {x.shape}")
    if batch_size < 1:
        raise SegRefineError(f"batch_size must be at least 1, got {batch_size}")
    height, width = x.shape[1:]
    th, tw = as_tile_shape(tile_size)
    tile_shape = (min(th, height), min(tw, width))
    starts = _axis_starts((height, width), tile_shape, overlap, align)
    corners = [(y, x) for y in starts[0] for x in starts[1]]
    stitcher = _Stitcher((height, width), starts, axis_weights(tile_shape, blend))
    for start in range(0, len(corners), batch_size):
        if stop is not None and stop.is_set():
            raise Cancelled("stopped between tiles")
        batch_corners = corners[start : start + batch_size]
        _run_batch(fn, x, batch_corners, tile_shape, stitcher)
        done = start + len(batch_corners)
        yield Progress(done, len(corners), f"tile {done}/{len(corners)}")
    return stitcher.result()


def sliding_window(
    fn: TileFn,
    x: np.ndarray,
    tile_size: int | Sequence[int],
    overlap: float = 0.25,
    blend: str = "gaussian",
    *,
    batch_size: int = 1,
    align: int = 1,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> np.ndarray:
    """Apply ``fn`` tile by tile over ``x`` and blend the tiles back together.

    Args:
        fn: takes a float32 batch (B, C, th, tw) and returns (B, K, th, tw).
        x: the image, (C, H, W), any real dtype (tiles are cast to float32).
        tile_size: tile side, or (height, width); cut to the image where it is larger.
        overlap: fraction of a tile shared with each neighbour, in [0, 1).
        blend: ``gaussian`` (centre of a tile weighs most) or ``constant``.
        batch_size: tiles per ``fn`` call.
        align: tile starts are multiples of it (see `tile_starts`).
        progress: called as ``progress(tiles done, total)`` after each batch.
        stop: when set, `Cancelled` is raised before the next batch.

    Returns:
        float32 (K, H, W), equal to ``fn(x)`` for a pointwise ``fn``.
    """
    windows = iter_sliding_window(
        fn, x, tile_size, overlap, blend, batch_size=batch_size, align=align, stop=stop
    )
    return drain_to_callback(windows, progress)


def _run_batch(
    fn: TileFn,
    x: np.ndarray,
    corners: list[tuple[int, int]],
    tile_shape: tuple[int, int],
    stitcher: _Stitcher,
) -> None:
    """Cut one batch of tiles straight into a float32 array, run ``fn``, stitch."""
    th, tw = tile_shape
    batch = np.empty((len(corners), x.shape[0], th, tw), np.float32)
    for slot, (y0, x0) in zip(batch, corners):
        slot[...] = x[:, y0 : y0 + th, x0 : x0 + tw]
    out = np.asarray(fn(batch))
    _check_output(out, len(corners), tile_shape)
    for corner, tile_out in zip(corners, out):
        stitcher.add(corner, tile_out)


def _check_output(out: np.ndarray, batch: int, tile_shape: tuple[int, int]) -> None:
    if out.ndim != 4 or out.shape[0] != batch or out.shape[2:] != tile_shape:
        raise SegRefineError(
            f"the tile function returned shape {out.shape} for {batch} tile(s) of "
            f"{tile_shape}; it must return (B, K, {tile_shape[0]}, {tile_shape[1]})"
        )


class _Stitcher:
    """Weighted sums of the tiles (float64, on the CPU) and their weights.

    Tiles sit on a grid of row starts x column starts and their weights are an outer
    product, so the sum of weights is the outer product of two 1D sums: only the
    weighted values need an image-sized accumulator.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        starts: tuple[list[int], list[int]],
        weights: tuple[np.ndarray, np.ndarray],
    ) -> None:
        self.shape = shape
        self.tile_weights = np.outer(*weights)
        self.weight_sums = [
            _axis_weight_sum(length, axis_starts, axis_weight)
            for length, axis_starts, axis_weight in zip(shape, starts, weights)
        ]
        self.value_sum: np.ndarray | None = None

    def add(self, corner: tuple[int, int], tile: np.ndarray) -> None:
        if self.value_sum is None:
            self.value_sum = np.zeros((tile.shape[0], *self.shape), np.float64)
        rows = slice(corner[0], corner[0] + tile.shape[1])
        cols = slice(corner[1], corner[1] + tile.shape[2])
        self.value_sum[:, rows, cols] += tile * self.tile_weights

    def result(self) -> np.ndarray:
        assert self.value_sum is not None, "no tile was added"
        row_sum, col_sum = self.weight_sums
        self.value_sum /= row_sum[:, None]
        self.value_sum /= col_sum
        return self.value_sum.astype(np.float32)


def _axis_weight_sum(length: int, starts: list[int], weights: np.ndarray) -> np.ndarray:
    total = np.zeros(length, np.float64)
    for start in starts:
        total[start : start + len(weights)] += weights
    return total
