"""Procedural textures defined on global pixel coordinates.

Every function takes the row and column coordinates of a rectangular region (two 1-D
arrays) and returns values that depend only on the global coordinates and the salt, never
on the region's size or position. Rendering a region and cutting the same region out of a
larger rendering therefore give identical numbers, which is what lets a lazy mosaic be
generated chunk by chunk without seams.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_Y = np.uint64(0xC2B2AE3D27D4EB4F)
_MIX_A = np.uint64(0xBF58476D1CE4E5B9)
_MIX_B = np.uint64(0x94D049BB133111EB)


def hash_uniform(iy: np.ndarray, ix: np.ndarray, salt: int) -> np.ndarray:
    """Uniform values in [0, 1) from integer lattice coordinates (splitmix64 mixing).

    Args:
        iy: integer row coordinates (any shape, broadcast against ``ix``).
        ix: integer column coordinates.
        salt: selects an independent random field.

    Returns:
        float64 array of the broadcast shape.
    """
    y = np.asarray(iy, dtype=np.int64).view(np.uint64)
    x = np.asarray(ix, dtype=np.int64).view(np.uint64)
    with np.errstate(over="ignore"):  # wrap-around is the point of the mixing
        h = x * _GOLDEN ^ y * _MIX_Y ^ np.uint64(salt & 0xFFFFFFFFFFFFFFFF) * _MIX_A
        h = h ^ (h >> np.uint64(30))
        h = h * _MIX_A
        h = h ^ (h >> np.uint64(27))
        h = h * _MIX_B
        h = h ^ (h >> np.uint64(31))
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _quintic(t: np.ndarray) -> np.ndarray:
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def value_noise(rows: np.ndarray, cols: np.ndarray, period: float, salt: int) -> np.ndarray:
    """Smooth value noise in [0, 1] with features about ``period`` pixels wide.

    Args:
        rows: global row coordinates of the region (1-D).
        cols: global column coordinates of the region (1-D).
        period: lattice spacing in pixels.
        salt: selects an independent noise field.

    Returns:
        float64 array of shape ``(len(rows), len(cols))``.
    """
    fy = np.asarray(rows, dtype=np.float64) / period
    fx = np.asarray(cols, dtype=np.float64) / period
    iy = np.floor(fy).astype(np.int64)
    ix = np.floor(fx).astype(np.int64)
    wy = _quintic(fy - iy)[:, None]
    wx = _quintic(fx - ix)[None, :]
    y0, x0 = iy.min(initial=0), ix.min(initial=0)
    lattice = hash_uniform(
        np.arange(y0, iy.max(initial=0) + 2)[:, None],
        np.arange(x0, ix.max(initial=0) + 2)[None, :],
        salt,
    )
    r, c = (iy - y0)[:, None], (ix - x0)[None, :]
    top = lattice[r, c] * (1 - wx) + lattice[r, c + 1] * wx
    bottom = lattice[r + 1, c] * (1 - wx) + lattice[r + 1, c + 1] * wx
    return top * (1 - wy) + bottom * wy


def fbm(
    rows: np.ndarray,
    cols: np.ndarray,
    period: float,
    salt: int,
    octaves: int = 4,
    gain: float = 0.5,
) -> np.ndarray:
    """Fractal (multi-octave) value noise, normalized to [0, 1].

    Args:
        rows: global row coordinates (1-D).
        cols: global column coordinates (1-D).
        period: feature size of the coarsest octave in pixels.
        salt: selects an independent field.
        octaves: number of octaves, each half the period of the previous one.
        gain: amplitude ratio between successive octaves.

    Returns:
        float64 array of shape ``(len(rows), len(cols))``.
    """
    total = np.zeros((len(rows), len(cols)))
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        total += amplitude * value_noise(rows, cols, period / 2**octave, salt * 131 + octave)
        norm += amplitude
        amplitude *= gain
    return total / norm


def ridges(
    rows: np.ndarray, cols: np.ndarray, period: float, salt: int, sharpness: float = 8.0
) -> np.ndarray:
    """Thin branching line network (e.g. vessels), 1 on the lines and 0 away from them.

    Args:
        rows: global row coordinates (1-D).
        cols: global column coordinates (1-D).
        period: spacing of the lines in pixels.
        salt: selects an independent field.
        sharpness: larger values give thinner lines.

    Returns:
        float64 array in [0, 1] of shape ``(len(rows), len(cols))``.
    """
    n = fbm(rows, cols, period, salt, octaves=3, gain=0.45)
    return np.clip(1.0 - sharpness * np.abs(n - 0.5), 0.0, 1.0) ** 2


def worley(
    y: np.ndarray, x: np.ndarray, cell: float, salt: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cellular (Voronoi) noise on jittered lattice points, one point per ``cell`` square.

    Args:
        y: global row coordinates (float array, broadcast against ``x``; may be warped).
        x: global column coordinates.
        cell: lattice spacing in pixels.
        salt: selects an independent point set.

    Returns:
        ``(d1, d2, cell_id)``: distances to the nearest and second nearest point, and a
        uniform value in [0, 1) identifying the nearest point's cell (same for all pixels
        of one Voronoi region).
    """
    y, x = np.broadcast_arrays(np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64))
    cy = np.floor(y / cell).astype(np.int64)
    cx = np.floor(x / cell).astype(np.int64)
    d1 = np.full(y.shape, np.inf)
    d2 = np.full(y.shape, np.inf)
    cell_id = np.zeros(y.shape)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            ny, nx = cy + dy, cx + dx
            py = (ny + hash_uniform(ny, nx, salt)) * cell
            px = (nx + hash_uniform(ny, nx, salt + 1)) * cell
            d = np.hypot(y - py, x - px)
            closer = d < d1
            d2 = np.where(closer, d1, np.minimum(d2, d))
            d1 = np.where(closer, d, d1)
            cell_id = np.where(closer, hash_uniform(ny, nx, salt + 2), cell_id)
    return d1, d2, cell_id


def pixel_noise(rows: np.ndarray, cols: np.ndarray, salt: int) -> np.ndarray:
    """Independent per-pixel noise in [-1, 1) (sensor noise), tied to global coordinates."""
    return 2.0 * hash_uniform(np.asarray(rows)[:, None], np.asarray(cols)[None, :], salt) - 1.0


def blend(base: np.ndarray, color: np.ndarray | tuple, alpha: np.ndarray) -> np.ndarray:
    """Alpha-composite ``color`` (RGB, or an H x W x 3 layer) over ``base`` in place."""
    a = alpha[..., None]
    base *= 1.0 - a
    base += np.asarray(color, dtype=np.float64) * a
    return base


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 1] to uint8."""
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def derive_salt(*keys: int) -> int:
    """A well-mixed 63-bit salt from non-negative integer keys (seed, purpose, ...)."""
    state = np.random.SeedSequence(list(keys)).generate_state(1, dtype=np.uint64)[0]
    return int(state >> np.uint64(1))
