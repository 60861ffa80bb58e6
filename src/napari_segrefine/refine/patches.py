"""The non-overlapping patch grid shared by thresholds, refinement and statistics.

Patches are ``patch_size`` x ``patch_size`` squares laid row-major from the top-left
corner; the last row and column of patches are partial when the image size is not a
multiple of ``patch_size``. A grid has ``ceil(H / P) x ceil(W / P)`` patches.
"""

from __future__ import annotations

import numpy as np

from ..errors import SegRefineError
from ..limits import check_pixels

STRIP_PIXELS = 1 << 18  # rows are processed in strips of about this many pixels (cache-sized)


def check_patch_size(patch_size: int) -> int:
    """``patch_size`` as a positive int; a `SegRefineError` otherwise."""
    if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)):
        raise SegRefineError(f"patch_size must be an integer number of pixels, got {patch_size!r}")
    if patch_size < 1:
        raise SegRefineError(f"patch_size must be at least 1 pixel, got {patch_size}")
    check_pixels((patch_size, patch_size), 4, "one patch", work_bytes_per_value=12)
    return int(patch_size)


def as_probability_map(prob: np.ndarray, name: str = "prob") -> np.ndarray:
    """Check that ``prob`` is a non-empty 2-D map of finite values in [0, 1].

    Returns:
        The map as a floating array (float16 and non-float inputs become float32;
        float32 and float64 are kept, so thresholds compare at the map's precision).
    """
    array = np.asarray(prob)
    if array.ndim != 2 or array.size == 0:
        raise SegRefineError(
            f"{name} must be a non-empty 2-D (H, W) array, got shape {array.shape}; "
            "pass one image at a time"
        )
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float32)
    low, high = float(array.min()), float(array.max())
    if not (low >= 0.0 and high <= 1.0):  # also catches NaN
        raise SegRefineError(
            f"{name} must hold probabilities in [0, 1], found values in [{low}, {high}]; "
            "apply a sigmoid to logits or divide 8-bit maps by 255"
        )
    return array


def as_binary_mask(mask: np.ndarray, shape: tuple[int, ...], name: str = "target") -> np.ndarray:
    """A boolean mask of ``shape``: nonzero is foreground (floats: above 0.5)."""
    array = np.asarray(mask)
    if array.shape != shape:
        raise SegRefineError(
            f"{name} has shape {array.shape}, expected {shape} like the map it goes with; "
            "pass arrays of the same size"
        )
    if array.dtype.kind == "f":
        return array > 0.5
    return array != 0


def grid_shape(shape: tuple[int, int], patch_size: int) -> tuple[int, int]:
    """Patches per column and per row: ``(ceil(H / P), ceil(W / P))``."""
    return -(-shape[0] // patch_size), -(-shape[1] // patch_size)


def patch_pixel_counts(shape: tuple[int, int], patch_size: int) -> np.ndarray:
    """Pixels inside each patch (edge patches hold fewer), shape `grid_shape`."""
    return np.outer(_patch_lengths(shape[0], patch_size), _patch_lengths(shape[1], patch_size))


def _patch_lengths(length: int, patch_size: int) -> np.ndarray:
    edges = np.minimum(np.arange(0, length + patch_size, patch_size), length)
    return np.diff(edges)


def patch_sums(values: np.ndarray, patch_size: int) -> np.ndarray:
    """Sum of ``values`` (H, W) inside each patch, shape `grid_shape`."""
    starts_y = np.arange(0, values.shape[0], patch_size)
    starts_x = np.arange(0, values.shape[1], patch_size)
    return np.add.reduceat(np.add.reduceat(values, starts_y, axis=0), starts_x, axis=1)


def expand_grid(grid: np.ndarray, patch_size: int, shape: tuple[int, int]) -> np.ndarray:
    """Give every pixel of an (H, W) image the value of its patch in ``grid``."""
    full = np.repeat(np.repeat(grid, patch_size, axis=0), patch_size, axis=1)
    return full[: shape[0], : shape[1]]


def strip_rows(shape: tuple[int, int], patch_size: int) -> int:
    """Rows per strip: a multiple of ``patch_size`` near `STRIP_PIXELS` pixels."""
    patch_rows_per_strip = max(1, STRIP_PIXELS // (patch_size * max(shape[1], 1)))
    return patch_size * patch_rows_per_strip


def patch_histograms(codes: np.ndarray, n_codes: int, patch_size: int) -> np.ndarray:
    """Count each small integer code inside each patch.

    Works strip by strip (a loop over strips of patch rows, not over patches) so the
    per-pixel patch index never exists for the whole image at once.

    Args:
        codes: (H, W) integers in ``[0, n_codes)``.
        n_codes: number of distinct codes.
        patch_size: patch side in pixels.

    Returns:
        int64 counts of shape ``grid_shape + (n_codes,)``.
    """
    height, width = codes.shape
    n_rows, n_cols = grid_shape(codes.shape, patch_size)
    column_offsets = (np.arange(width) // patch_size) * n_codes
    rows_per_strip = strip_rows(codes.shape, patch_size)
    counts = np.empty((n_rows, n_cols * n_codes), dtype=np.int64)
    for top in range(0, height, rows_per_strip):
        strip = codes[top : top + rows_per_strip]
        row_offsets = (np.arange(strip.shape[0]) // patch_size) * (n_cols * n_codes)
        flat = row_offsets[:, None] + column_offsets[None, :] + strip
        patch_rows = -(-strip.shape[0] // patch_size)
        first = top // patch_size
        strip_counts = np.bincount(flat.ravel(), minlength=patch_rows * n_cols * n_codes)
        counts[first : first + patch_rows] = strip_counts.reshape(patch_rows, -1)
    return counts.reshape(n_rows, n_cols, n_codes)
