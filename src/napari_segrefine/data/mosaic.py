"""Arbitrarily large sample images, generated region by region on demand.

Roads are one continuous scene: the road network is global geometry and every texture is a
function of global pixel coordinates, so any region (and any chunk) is rendered on its own
and roads, fields and trees run on across chunk borders. Polyps and salient objects are a
documented simplification: the mosaic is a grid of independent ``chunk x chunk`` samples,
one per chunk seed, so their content stops at chunk borders.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from ..errors import SegRefineError
from .roads import RoadScene
from .samples import GENERATORS, check_domain, check_seed, check_size

_CACHE_CHUNKS = 16


class LazyMosaic:
    """A huge synthetic image and label that exist only as far as they are read.

    The mosaic itself behaves as its image (shape ``(H, W, 3)``, uint8); ``.image`` and
    ``.label`` are separate array-likes; ``.to_dask()`` gives dask arrays.

    Args:
        domain: ``roads``, ``polyps`` or ``salient``.
        shape: ``(height, width)`` in pixels (or one int for a square).
        chunk: chunk size of the dask arrays, and tile size for polyps and salient.
        seed: non-negative integer; with ``domain`` and ``shape`` it fixes every pixel.

    Example:
        >>> mosaic = LazyMosaic("roads", (8192, 8192))
        >>> crop = mosaic.label[4000:4256, 1000:1256]  # renders only this region
    """

    def __init__(
        self,
        domain: str,
        shape: int | tuple[int, int] = (8192, 8192),
        chunk: int = 512,
        seed: int = 0,
    ) -> None:
        self.domain = check_domain(domain)
        self.height, self.width = check_size(shape, "shape")
        self.chunk = check_size(chunk, "chunk")[0]
        self.seed = check_seed(seed)
        roads = domain == "roads"
        self._scene = RoadScene(self.seed, (self.height, self.width)) if roads else None
        self._tiles: OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._tiles_lock = threading.Lock()  # dask reads chunks from several threads
        self.image = MosaicView(self, "image")
        self.label = MosaicView(self, "label")

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.image.shape

    @property
    def dtype(self) -> np.dtype:
        return self.image.dtype

    @property
    def ndim(self) -> int:
        return 3

    def __getitem__(self, key: Any) -> np.ndarray:
        return self.image[key]

    def __repr__(self) -> str:
        return (
            f"LazyMosaic({self.domain!r}, shape=({self.height}, {self.width}), "
            f"chunk={self.chunk}, seed={self.seed})"
        )

    def region(self, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray]:
        """Image and label of ``[y0, y1) x [x0, x1)`` (clipped to the mosaic)."""
        y0, y1 = max(0, y0), min(self.height, y1)
        x0, x1 = max(0, x0), min(self.width, x1)
        if y1 <= y0 or x1 <= x0:
            return np.zeros((0, 0, 3), np.uint8), np.zeros((0, 0), np.uint8)
        if self._scene is not None:
            return self._scene.render(y0, y1, x0, x1)
        return self._tiled_region(y0, y1, x0, x1)

    def chunk_seed(self, row: int, col: int) -> int:
        """Seed of the tile in chunk row ``row`` and column ``col`` (polyps, salient)."""
        state = np.random.SeedSequence([self.seed, row, col]).generate_state(1)[0]
        return int(state >> np.uint32(1))

    def _tiled_region(self, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray]:
        image = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
        label = np.empty((y1 - y0, x1 - x0), np.uint8)
        c = self.chunk
        for row in range(y0 // c, (y1 - 1) // c + 1):
            for col in range(x0 // c, (x1 - 1) // c + 1):
                tile_image, tile_label = self._tile(row, col)
                ty0, ty1 = max(y0, row * c), min(y1, (row + 1) * c)
                tx0, tx1 = max(x0, col * c), min(x1, (col + 1) * c)
                src = (slice(ty0 - row * c, ty1 - row * c), slice(tx0 - col * c, tx1 - col * c))
                dst = (slice(ty0 - y0, ty1 - y0), slice(tx0 - x0, tx1 - x0))
                image[dst] = tile_image[src]
                label[dst] = tile_label[src]
        return image, label

    def _tile(self, row: int, col: int) -> tuple[np.ndarray, np.ndarray]:
        with self._tiles_lock:
            if (row, col) in self._tiles:
                self._tiles.move_to_end((row, col))
                return self._tiles[(row, col)]
        tile = GENERATORS[self.domain]((self.chunk, self.chunk), self.chunk_seed(row, col))
        with self._tiles_lock:
            self._tiles[(row, col)] = tile
            if len(self._tiles) > _CACHE_CHUNKS:
                self._tiles.popitem(last=False)
        return tile

    def to_dask(self) -> tuple[Any, Any]:
        """``(image, label)`` as dask arrays chunked ``chunk x chunk``.

        Both come from one dask array of RGB + label, so computing them together renders
        every chunk once. Needs ``dask`` (``pip install napari-segrefine[dask]``).
        """
        try:
            import dask.array as da
        except ImportError as error:  # pragma: no cover - dask is in the dask extra
            raise SegRefineError(
                "LazyMosaic.to_dask needs dask: pip install 'napari-segrefine[dask]'"
            ) from error
        name = f"segrefine-mosaic-{self.domain}-{self.seed}-{self.height}x{self.width}"
        stacked = da.from_array(
            MosaicView(self, "stacked"),
            chunks=(self.chunk, self.chunk, 4),
            name=f"{name}-{self.chunk}",
            meta=np.empty((0, 0, 0), np.uint8),
        )
        return stacked[..., :3], stacked[..., 3]


class MosaicView:
    """Read-only array-like over a `LazyMosaic`: its image, label, or both stacked.

    Indexing with integers and slices (steps allowed) renders the bounding region of the
    selection; a large step therefore still renders everything in between.
    """

    _CHANNELS = {"image": 3, "label": 0, "stacked": 4}

    def __init__(self, mosaic: LazyMosaic, kind: str) -> None:
        self._mosaic = mosaic
        self._kind = kind
        channels = self._CHANNELS[kind]
        self.shape = (mosaic.height, mosaic.width) + ((channels,) if channels else ())
        self.dtype = np.dtype(np.uint8)
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<{self._kind} of {self._mosaic!r}>"

    def __getitem__(self, key: Any) -> np.ndarray:
        key = _normalize(key, self.ndim)
        rows, cols = _axis_indices(key[0], self.shape[0]), _axis_indices(key[1], self.shape[1])
        finish = tuple(0 if isinstance(k, (int, np.integer)) else slice(None) for k in key[:2])
        finish += key[2:]
        if len(rows) == 0 or len(cols) == 0:
            return np.zeros((len(rows), len(cols), *self.shape[2:]), np.uint8)[finish]
        y0, y1 = int(rows.min()), int(rows.max()) + 1
        x0, x1 = int(cols.min()), int(cols.max()) + 1
        image, label = self._mosaic.region(y0, y1, x0, x1)
        if self._kind == "stacked":
            block = np.concatenate([image, label[..., None]], axis=2)
        else:
            block = image if self._kind == "image" else label
        return block[np.ix_(rows - y0, cols - x0)][finish]


def _normalize(key: Any, ndim: int) -> tuple:
    key = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in key):
        at = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:at] + (slice(None),) * (ndim - len(key) + 1) + key[at + 1 :]
    if len(key) > ndim:
        raise IndexError(f"too many indices for a {ndim}-dimensional mosaic: {len(key)}")
    for k in key:
        if not isinstance(k, (slice, int, np.integer)):
            raise IndexError(f"mosaic index must be ints and slices, got {type(k).__name__}")
    return key + (slice(None),) * (ndim - len(key))


def _axis_indices(k: int | slice, n: int) -> np.ndarray:
    if isinstance(k, slice):
        return np.arange(*k.indices(n))
    if not -n <= k < n:
        raise IndexError(f"index {k} is out of bounds for an axis of size {n}")
    return np.array([k % n])
