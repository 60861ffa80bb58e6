"""The tiling `predict` uses unless told otherwise, and what a head learned on.

Images up to `WHOLE_IMAGE_LIMIT` pixels a side run as one tile (padded to a multiple of
32), larger ones as `DEFAULT_TILE` px tiles overlapping by `DEFAULT_OVERLAP`. A head
(`AdaptedModel`) learns its network's outputs on this tiling (`train.head_pixels`), so
another tiling gives it values it did not learn (`tiling_unlike_training`).
"""

from __future__ import annotations

from torch import nn

from ..models.adapted import AdaptedModel
from .preprocess import PAD_MULTIPLE
from .tiling import tile_grid

WHOLE_IMAGE_LIMIT = 1024  # images up to this many pixels per side run as one tile
DEFAULT_TILE = 512
DEFAULT_OVERLAP = 0.25


def fits_one_tile(spatial: tuple[int, ...]) -> bool:
    """Whether `predict` runs an image of this (H, W) as one tile by default."""
    return max(spatial) <= WHOLE_IMAGE_LIMIT


def default_tile_shape(spatial: tuple[int, ...]) -> tuple[int, int]:
    """The tile (h, w) `predict` cuts an image of this (H, W) into by default."""
    return padded_shape(spatial) if fits_one_tile(spatial) else (DEFAULT_TILE, DEFAULT_TILE)


def padded_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` with each side rounded up to the multiple of 32 `predict` pads to."""
    return tuple(-(-side // PAD_MULTIPLE) * PAD_MULTIPLE for side in shape)


def tiling_unlike_training(model: nn.Module, tile: tuple, overlap: float, spatial) -> str | None:
    """What is wrong with running ``model`` on this tiling of an (H, W) image, in words.

    A head (`AdaptedModel`) learned its network's outputs on `predict`'s default tiling
    (`train.head`); another tiling gives it values it did not learn. Tilings are
    compared as really used (a tile larger than the image is cut to it).

    Returns:
        The problem (the caller adds what to do), or None: no head, or the tiling it
        learned.
    """
    default = default_tile_shape(spatial)
    if not isinstance(model, AdaptedModel) or real_tiling(tile, overlap, spatial) == real_tiling(
        default, DEFAULT_OVERLAP, spatial
    ):
        return None
    return (
        f"this head learned its network's outputs on tiles of {default[0]} x "
        f"{default[1]} overlapping by {DEFAULT_OVERLAP}; tiles of {tile[0]} x {tile[1]} "
        f"overlapping by {overlap} give it values it did not learn"
    )


def real_tiling(tile: tuple, overlap: float, spatial) -> tuple:
    """The tile shape and corners a tiling of an image of this (H, W) really uses."""
    padded = padded_shape(spatial)
    shape = (min(tile[0], padded[0]), min(tile[1], padded[1]))
    return shape, tile_grid(padded, shape, overlap)
