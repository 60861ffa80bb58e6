"""Sliding-window inference: overlapping tiles, batched, blended back on the CPU.

Tiles run row of tiles by row of tiles. Their weighted sums go into a float64 band one
tile high; rows that no later tile reaches are divided by their weight sums (separable,
kept per axis) and written to the float32 output. Memory holds the float32 output, the
band and ``batch_size`` tiles of activations, no float64 copy of the image. Every pixel
ends up as ``sum(w * v) / sum(w)`` with strictly positive weights and float64 sums, so
a pointwise ``fn`` comes back exactly: ``fn(x)`` after the cast to float32.

A `Window` computes one region of a larger image's grid (the tiles touching it, summed
in the same order), so chunks computed apart equal the whole image's result there.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Window:
    """One part of a larger image's tiling, for work split over chunks (see `distributed`).

    The tile grid is the one of the whole ``image_shape``; only the tiles touching
    ``region`` run, and only ``region``'s output is blended, so the result equals the
    same pixels of the whole image's `sliding_window` (same tiles, same sums).

    Attributes:
        image_shape: (H, W) of the whole image the grid is laid over.
        region: ``(y0, y1, x0, x1)`` of the whole image to compute.
        origin: ``(y, x)`` in the whole image of ``x[:, 0, 0]``; ``x`` must hold every
            tile that touches ``region`` (`tiles_reach` says which rows and columns).
    """

    image_shape: tuple[int, int]
    region: tuple[int, int, int, int]
    origin: tuple[int, int] = (0, 0)


def tiles_reach(
    window: Window, tile_size: int | Sequence[int], overlap: float
) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)``: the rows and columns that the tiles touching the region cover.

    This is the region plus its halo: at most one tile minus one pixel on each side.
    """
    tile_shape = _tile_within(as_tile_shape(tile_size), window.image_shape)
    starts = _touching(window, _axis_starts(window.image_shape, tile_shape, overlap), tile_shape)
    return (
        starts[0][0],
        starts[0][-1] + tile_shape[0],
        starts[1][0],
        starts[1][-1] + tile_shape[1],
    )


def touching_tiles(
    window: Window, tile_size: int | Sequence[int], overlap: float
) -> list[tuple[int, int]]:
    """Top-left corners ``(y, x)`` of the tiles of the whole image's grid that touch
    ``window.region``: the tiles `sliding_window` runs for this window."""
    tile_shape = _tile_within(as_tile_shape(tile_size), window.image_shape)
    rows, cols = _touching(
        window, _axis_starts(window.image_shape, tile_shape, overlap), tile_shape
    )
    return [(y, x) for y in rows for x in cols]


def _tile_within(tile_shape: tuple[int, int], shape: tuple[int, int]) -> tuple[int, int]:
    return min(tile_shape[0], shape[0]), min(tile_shape[1], shape[1])


def _touching(
    window: Window, starts: tuple[list[int], list[int]], tile_shape: tuple[int, int]
) -> tuple[list[int], list[int]]:
    """The row and column starts of the tiles that overlap ``window.region``."""
    y0, y1, x0, x1 = window.region
    if not (0 <= y0 < y1 <= window.image_shape[0] and 0 <= x0 < x1 <= window.image_shape[1]):
        raise SegRefineError(
            f"window region {window.region} is empty or outside the image {window.image_shape}"
        )
    rows = [s for s in starts[0] if s < y1 and s + tile_shape[0] > y0]
    cols = [s for s in starts[1] if s < x1 and s + tile_shape[1] > x0]
    return rows, cols


class TileMemo:
    """The outputs of tiles already run, to give them again: a tile function wrapped by
    `wrap` runs only the tiles of a batch it has not met (keyed by a digest of their
    bytes). Beyond ``limit`` tiles the least recently used are forgotten (None: none)."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.outputs: OrderedDict[bytes, np.ndarray] = OrderedDict()

    def wrap(self, fn: TileFn) -> TileFn:
        def run(batch: np.ndarray) -> np.ndarray:
            keys = [hashlib.blake2b(tile.tobytes(), digest_size=16).digest() for tile in batch]
            found = {key: self.outputs[key] for key in keys if key in self.outputs}
            missing = [i for i, key in enumerate(keys) if key not in found]
            if missing:
                found.update(zip([keys[i] for i in missing], fn(batch[missing])))
            for key in keys:
                self._keep(key, found[key])
            return np.stack([found[key] for key in keys])

        return run

    def _keep(self, key: bytes, output: np.ndarray) -> None:
        self.outputs[key] = output
        self.outputs.move_to_end(key)
        if self.limit is not None and len(self.outputs) > self.limit:
            self.outputs.popitem(last=False)


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
    window: Window | None = None,
) -> Generator[Progress, None, np.ndarray]:
    """`sliding_window` as a generator: yields a `Progress` (tiles done) after each batch.

    Returns:
        The blended (K, H, W) float32 result (as the generator's return value); with a
        ``window``, the (K, h, w) of its region.
    """
    if x.ndim != 3 or x.size == 0:
        raise SegRefineError(f"sliding_window expects a non-empty (C, H, W) array, got {x.shape}")
    if batch_size < 1:
        raise SegRefineError(f"batch_size must be at least 1, got {batch_size}")
    window = window or Window(x.shape[1:], (0, x.shape[1], 0, x.shape[2]))
    tile_shape = _tile_within(as_tile_shape(tile_size), window.image_shape)
    all_starts = _axis_starts(window.image_shape, tile_shape, overlap, align)
    starts = _touching(window, all_starts, tile_shape)
    _check_reach(x, window, starts, tile_shape)
    y0, y1, x0, x1 = window.region
    stitcher = _Stitcher(
        (y1 - y0, x1 - x0),
        ([s - y0 for s in starts[0]], [s - x0 for s in starts[1]]),
        axis_weights(tile_shape, blend),
    )
    corners = [(y, x) for y in starts[0] for x in starts[1]]
    for start in range(0, len(corners), batch_size):
        if stop is not None and stop.is_set():
            raise Cancelled("stopped between tiles")
        batch_corners = corners[start : start + batch_size]
        _run_batch(fn, x, batch_corners, tile_shape, stitcher, window)
        done = start + len(batch_corners)
        yield Progress(done, len(corners), f"tile {done}/{len(corners)}")
    return stitcher.result()


def _check_reach(
    x: np.ndarray, window: Window, starts: tuple[list[int], list[int]], tile_shape: tuple
) -> None:
    oy, ox = window.origin
    needed = (starts[0][-1] + tile_shape[0] - oy, starts[1][-1] + tile_shape[1] - ox)
    if starts[0][0] < oy or starts[1][0] < ox or needed[0] > x.shape[1] or needed[1] > x.shape[2]:
        raise SegRefineError(
            f"the window's input (origin {window.origin}, {x.shape[1]} x {x.shape[2]}) does "
            "not hold every tile touching its region; read it with tiles_reach()"
        )


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
    window: Window | None = None,
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
        window: compute only one region of a larger image's tiling (see `Window`);
            ``x`` then holds the tiles touching that region.

    Returns:
        float32 (K, H, W), equal to ``fn(x)`` for a pointwise ``fn``; with a
        ``window``, the (K, h, w) of its region.
    """
    windows = iter_sliding_window(
        fn,
        x,
        tile_size,
        overlap,
        blend,
        batch_size=batch_size,
        align=align,
        stop=stop,
        window=window,
    )
    return drain_to_callback(windows, progress)


def _run_batch(
    fn: TileFn,
    x: np.ndarray,
    corners: list[tuple[int, int]],
    tile_shape: tuple[int, int],
    stitcher: _Stitcher,
    window: Window,
) -> None:
    """Cut one batch of tiles straight into a float32 array, run ``fn``, stitch.

    ``corners`` are in the whole image; ``x`` starts at ``window.origin``.
    """
    th, tw = tile_shape
    (oy, ox), (ry, rx) = window.origin, window.region[::2]
    batch = np.empty((len(corners), x.shape[0], th, tw), np.float32)
    for slot, (y0, x0) in zip(batch, corners):
        slot[...] = x[:, y0 - oy : y0 - oy + th, x0 - ox : x0 - ox + tw]
    out = np.asarray(fn(batch))
    _check_output(out, len(corners), tile_shape)
    for (y0, x0), tile_out in zip(corners, out):
        stitcher.add((y0 - ry, x0 - rx), tile_out)


def _check_output(out: np.ndarray, batch: int, tile_shape: tuple[int, int]) -> None:
    if out.ndim != 4 or out.shape[0] != batch or out.shape[2:] != tile_shape:
        raise SegRefineError(
            f"the tile function returned shape {out.shape} for {batch} tile(s) of "
            f"{tile_shape}; it must return (B, K, {tile_shape[0]}, {tile_shape[1]})"
        )


class _Stitcher:
    """Weighted sums of the tiles (float64, in a band one tile high) into a float32 output.

    Tiles sit on a grid of row starts x column starts and their weights are an outer
    product, so the sum of weights is the outer product of two 1D sums. Tiles come in
    rows of tiles with ascending starts: when a tile starts lower than the band's top,
    the rows above it are final and leave the band for the output. Starts are relative
    to the area kept (``shape``) and may lie before it; what falls outside is cut off.
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
        self.top = starts[0][0]  # the image row of the band's first row
        self.band: np.ndarray | None = None
        self.out: np.ndarray | None = None

    def add(self, corner: tuple[int, int], tile: np.ndarray) -> None:
        if self.band is None:
            self.band = np.zeros((tile.shape[0], tile.shape[1], self.shape[1]), np.float64)
            self.out = np.empty((tile.shape[0], *self.shape), np.float32)
        if corner[0] > self.top:
            self._advance(corner[0])
        cols, tile_cols = _clip(corner[1], tile.shape[2], self.shape[1])
        self.band[:, :, cols] += tile[:, :, tile_cols] * self.tile_weights[:, tile_cols]

    def _advance(self, top: int) -> None:
        """Move the band's top down to ``top``, writing the rows it leaves."""
        height = self.band.shape[1]
        shift = min(top - self.top, height)
        self._flush(shift)
        self.band[:, : height - shift] = self.band[:, shift:].copy()
        self.band[:, height - shift :] = 0
        self.top = top

    def _flush(self, rows: int) -> None:
        """Divide the band's first ``rows`` rows by their weights into the output."""
        first, last = max(self.top, 0), min(self.top + rows, self.shape[0])
        if first >= last:
            return
        row_sum, col_sum = self.weight_sums
        values = self.band[:, first - self.top : last - self.top] / row_sum[first:last, None]
        values /= col_sum
        self.out[:, first:last] = values

    def result(self) -> np.ndarray:
        assert self.band is not None, "no tile was added"
        self._flush(self.band.shape[1])
        return self.out


def _clip(start: int, size: int, length: int) -> tuple[slice, slice]:
    """Where a tile of ``size`` at ``start`` lands in ``[0, length)``, and which part of it."""
    first, last = max(start, 0), min(start + size, length)
    return slice(first, last), slice(first - start, last - start)


def _axis_weight_sum(length: int, starts: list[int], weights: np.ndarray) -> np.ndarray:
    total = np.zeros(length, np.float64)
    for start in starts:
        kept, part = _clip(start, len(weights), length)
        total[kept] += weights[part]
    return total
