"""How one image is cut: the tiling `predict` would use, output chunks, pyramid levels.

Each chunk is computed from every tile of the whole image's grid that touches it, so
its pixels are the same sums `predict` makes; the tiles it reads beyond its borders
are its halo (up to one tile on each side, the tiles that reach into the chunk
across the overlap). Tiles crossing a chunk border are run by both chunks: the
larger the chunk, the smaller that share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..engine.preprocess import PAD_MULTIPLE
from ..engine.tiling import Window, as_tile_shape, tile_grid, tiles_reach
from ..errors import SegRefineError
from .sources import Region

DEFAULT_TILE = 512
DEFAULT_CHUNK = 2048
MIN_LEVEL_SIDE = 16  # no pyramid level with a side shorter than this


def _round_up(side: int) -> int:
    """``side`` up to a multiple of 32, as `predict` pads images and tiles."""
    return -(-side // PAD_MULTIPLE) * PAD_MULTIPLE


@dataclass(frozen=True)
class Plan:
    """The cut of one (H, W) image.

    Attributes:
        shape: the image's (H, W).
        tile: tile (height, width), multiples of 32, as `predict` rounds them.
        overlap: tile overlap fraction.
        chunk: output chunk side (all levels line up: see `levels`).
        levels: pyramid levels, each half the one before (nearest), until the top
            fits in one chunk.
    """

    shape: tuple[int, int]
    tile: tuple[int, int]
    overlap: float
    chunk: int
    levels: int

    @property
    def padded(self) -> tuple[int, int]:
        """The image reflect-padded to multiples of 32: the grid the tiles lie on."""
        return _round_up(self.shape[0]), _round_up(self.shape[1])

    def regions(self) -> dict[tuple[int, int], Region]:
        """``{(row, col): (y0, y1, x0, x1)}`` of every output chunk, row by row."""
        (height, width), c = self.shape, self.chunk
        return {
            (row, col): (row * c, min(height, (row + 1) * c), col * c, min(width, (col + 1) * c))
            for row in range(math.ceil(height / c))
            for col in range(math.ceil(width / c))
        }

    def window(self, region: Region) -> tuple[Window, Region]:
        """The tiling `Window` of ``region`` and the padded-image rows/cols it reads."""
        reach = tiles_reach(Window(self.padded, region), self.tile, self.overlap)
        return Window(self.padded, region, (reach[0], reach[2])), reach

    def tiles_in(self, region: Region) -> int:
        """How many tiles of the grid touch ``region`` (what its task runs)."""
        y0, y1, x0, x1 = region
        (th, tw), grid = self.tile, tile_grid(self.padded, self.tile, self.overlap)
        return sum(1 for ty, tx in grid if ty < y1 and ty + th > y0 and tx < x1 and tx + tw > x0)

    def tiles_run(self) -> int:
        """Tiles all chunks run together (a tile across chunk borders runs in each)."""
        return sum(self.tiles_in(region) for region in self.regions().values())

    def level_shape(self, level: int) -> tuple[int, int]:
        return tuple(math.ceil(side / 2**level) for side in self.shape)


def make_plan(
    shape: tuple[int, int],
    tile_size: int | Sequence[int] = DEFAULT_TILE,
    overlap: float = 0.25,
    chunk: int = DEFAULT_CHUNK,
) -> Plan:
    """The `Plan` of an (H, W) image.

    Raises:
        SegRefineError: a chunk that is not a multiple of 32 or is smaller than the
            tile (the message says which chunk sizes fit).
    """
    tile = tuple(_round_up(side) for side in as_tile_shape(tile_size))
    tile_grid(shape, tile, overlap)  # checks the overlap
    largest = max(tile)
    if chunk % PAD_MULTIPLE or chunk < largest:
        raise SegRefineError(
            f"chunk {chunk} does not fit tile {tile[0]}x{tile[1]}: a chunk must be a "
            f"multiple of {PAD_MULTIPLE} and at least as large as the tile (each chunk "
            f"runs every tile touching it); use e.g. a chunk of {4 * largest}"
        )
    return Plan(tuple(shape), tile, float(overlap), int(chunk), _levels(shape, chunk))


def _levels(shape: tuple[int, int], chunk: int) -> int:
    """Halve until the top level fits one chunk, while chunks stay aligned and sides long."""
    levels = 1
    while (
        max(shape) > chunk * 2 ** (levels - 1)
        and chunk % 2**levels == 0
        and min(shape) // 2**levels >= MIN_LEVEL_SIDE
    ):
        levels += 1
    return levels


def make_refine_plan(
    shape: tuple[int, int], patch_size: int, window: int | None, overlap: float, chunk: int
) -> Plan:
    """The `Plan` of refining an (H, W) map: ``tile`` is PRN's window (None: no PRN).

    Raises:
        SegRefineError: a chunk that is not a whole number of patches, or (with PRN)
            smaller than the window.
    """
    side = patch_size if window is None else max(patch_size, window // patch_size * patch_size)
    if chunk < 1 or chunk % patch_size or (window is not None and chunk < side):
        fitting = patch_size * -(-max(DEFAULT_CHUNK, 4 * side) // patch_size)
        need = f" and at least PRN's window ({side})" if window is not None else ""
        raise SegRefineError(
            f"chunk {chunk} does not fit patch {patch_size}: a chunk must be a multiple of "
            f"the patch size{need}, so chunks split the map where refine's patches and "
            f"windows do; use e.g. a chunk of {fitting}"
        )
    return Plan(tuple(shape), (side, side), float(overlap), int(chunk), _levels(shape, chunk))
