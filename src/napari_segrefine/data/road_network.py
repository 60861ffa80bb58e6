"""Road network geometry for the aerial scene: global polylines, generated cell by cell.

The plane is cut into square cells. Each cell holds one junction node (jittered inside the
cell) and may own a road to its right, lower and diagonal neighbour: a smooth cubic Bezier
curve (sometimes straight, sometimes a dead end). A few long straight highways cross the
whole scene. Every random choice is a hash of the cell index and the seed, so any region
can list the roads that reach it without generating the rest of the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .texture import derive_salt, hash_uniform, value_noise

CELL_SIZE = 96.0
"""Spacing of junction nodes in pixels at scale 1 (a 256 x 256 sample)."""

INDEX_OFFSET = 2**31
"""Added to cell indices in keys so that keys stay non-negative (seeding needs that)."""

TRACK, LANE, ROAD, HIGHWAY = range(4)
HALF_WIDTHS = {
    TRACK: (1.5, 2.0),
    LANE: (2.0, 2.5, 3.0),
    ROAD: (3.0, 3.5, 4.0),
    HIGHWAY: (4.0, 4.5, 5.0),
}
"""Road half-widths per kind at scale 1: full widths 3-10 px."""

_NEIGHBOURS = ((0, 1), (1, 0), (1, 1), (1, -1))
_BEZIER_T = np.linspace(0.0, 1.0, 17)


@dataclass(frozen=True)
class Road:
    """One road: a polyline in global (row, col) pixel coordinates.

    Attributes:
        key: unique, non-negative integers fixing the global drawing order.
        points: ``(N, 2)`` float vertices.
        half_width: half the paved width in pixels.
        kind: ``TRACK``, ``LANE``, ``ROAD`` or ``HIGHWAY``.
        urban: 0 (rural) to 1 (town): how built-up the surroundings are.
    """

    key: tuple[int, ...]
    points: np.ndarray
    half_width: float
    kind: int
    urban: float

    def touches(self, y0: float, y1: float, x0: float, x1: float, margin: float) -> bool:
        """Whether the road comes within ``margin`` pixels of the box."""
        lo = self.points.min(axis=0) - self.half_width - margin
        hi = self.points.max(axis=0) + self.half_width + margin
        return bool(lo[0] < y1 and hi[0] >= y0 and lo[1] < x1 and hi[1] >= x0)


class RoadNetwork:
    """The global road network of one aerial scene.

    Args:
        seed: scene seed.
        shape: ``(height, width)`` of the whole scene (used for the highways).
        scale: size of the scene's features relative to a 256 x 256 sample.
    """

    def __init__(self, seed: int, shape: tuple[int, int], scale: float) -> None:
        self.cell = CELL_SIZE * scale
        self.width_scale = scale
        self._salt = derive_salt(seed, 101)
        self.highways = self._make_highways(np.random.default_rng(derive_salt(seed, 102)), shape)

    def roads_near(self, y0: float, y1: float, x0: float, x1: float, margin: float) -> list[Road]:
        """All roads within ``margin`` pixels of the box, in global drawing order."""
        pad = 2.0 * self.cell + margin
        rows = np.arange(int(np.floor((y0 - pad) / self.cell)), int((y1 + pad) // self.cell) + 1)
        cols = np.arange(int(np.floor((x0 - pad) / self.cell)), int((x1 + pad) // self.cell) + 1)
        roads = self._grid_roads(rows, cols) + self.highways
        return [road for road in roads if road.touches(y0, y1, x0, x1, margin)]

    def _grid_roads(self, rows: np.ndarray, cols: np.ndarray) -> list[Road]:
        ci, cj = np.meshgrid(rows, cols, indexing="ij")
        urban = value_noise(rows.astype(float), cols.astype(float), 6.0, self._salt)
        roads = []
        for n, (di, dj) in enumerate(_NEIGHBOURS):
            draws = [hash_uniform(ci, cj, self._salt + 10 * n + k) for k in range(8)]
            chance = (0.25 + 0.5 * urban) if n < 2 else 0.06 + 0.08 * urban
            for i, j in zip(*np.nonzero(draws[0] < chance)):
                start = self._node(ci[i, j], cj[i, j])
                end = self._node(ci[i, j] + di, cj[i, j] + dj)
                key = (0, int(ci[i, j]) + INDEX_OFFSET, int(cj[i, j]) + INDEX_OFFSET, n)
                params = [float(d[i, j]) for d in draws[1:]]
                roads.append(self._curved_road(key, start, end, float(urban[i, j]), params))
        roads.sort(key=lambda road: road.key)
        return roads

    def _node(self, i: int, j: int) -> np.ndarray:
        jitter_y = hash_uniform(i, j, self._salt - 1)
        jitter_x = hash_uniform(i, j, self._salt - 2)
        return np.array([i + 0.15 + 0.7 * jitter_y, j + 0.15 + 0.7 * jitter_x]) * self.cell

    def _curved_road(
        self, key: tuple[int, ...], start: np.ndarray, end: np.ndarray, urban: float, u: list
    ) -> Road:
        bend_a, bend_b = (0.0, 0.0) if u[0] < 0.25 else (0.56 * u[1] - 0.28, 0.56 * u[2] - 0.28)
        delta = end - start
        normal = np.array([delta[1], -delta[0]])
        controls = [
            start,
            start + delta / 3 + bend_a * normal,
            start + 2 * delta / 3 + bend_b * normal,
            end,
        ]
        t = _BEZIER_T * (0.35 + 0.4 * u[4]) if u[3] < 0.1 else _BEZIER_T
        points = _bezier(np.array(controls), t)
        kind = TRACK if u[5] < 0.45 * (1 - urban) else ROAD if u[5] > 0.8 - 0.3 * urban else LANE
        return Road(key, points, self._half_width(kind, u[6]), kind, urban)

    def _half_width(self, kind: int, u: float) -> float:
        choices = HALF_WIDTHS[kind]
        return max(1.0, choices[int(u * len(choices))] * self.width_scale)

    def _make_highways(self, rng: np.random.Generator, shape: tuple[int, int]) -> list[Road]:
        height, width = shape
        count = int(round(max(shape) / (12 * self.cell)))
        count = max(count, int(rng.random() < 0.6))
        diagonal = float(np.hypot(height, width))
        step = self.cell / 3
        roads = []
        for k in range(count):
            center = rng.uniform((0, 0), (height, width))
            angle = rng.uniform(0, np.pi)
            direction = np.array([np.sin(angle), np.cos(angle)])
            offsets = np.arange(-diagonal, diagonal + step, step)
            points = center + offsets[:, None] * direction
            half_width = self._half_width(HIGHWAY, rng.random())
            roads.append(Road((1, k), points, half_width, HIGHWAY, 0.3))
        return roads


def _bezier(controls: np.ndarray, t: np.ndarray) -> np.ndarray:
    s = 1.0 - t[:, None]
    t = t[:, None]
    return (
        s**3 * controls[0]
        + 3 * s**2 * t * controls[1]
        + 3 * s * t**2 * controls[2]
        + t**3 * controls[3]
    )


def centerline_pixels(
    points: np.ndarray, y0: int, y1: int, x0: int, x1: int, step: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels on a polyline's centre line that fall inside a box.

    The samples sit at fixed fractions of each segment, so a pixel is listed for one box
    exactly when it is listed for any other box that contains it.

    Args:
        points: ``(N, 2)`` polyline vertices.
        y0, y1, x0, x1: the box, ``[y0, y1) x [x0, x1)``.
        step: sampling distance along the line in pixels.

    Returns:
        ``(rows, cols)`` integer pixel coordinates inside the box.
    """
    p0, p1 = points[:-1], points[1:]
    lo, hi = np.minimum(p0, p1), np.maximum(p0, p1)
    keep = (hi[:, 0] >= y0 - 1) & (lo[:, 0] <= y1) & (hi[:, 1] >= x0 - 1) & (lo[:, 1] <= x1)
    p0, p1 = p0[keep], p1[keep]
    counts = np.maximum(1, np.ceil(np.hypot(*(p1 - p0).T) / step)).astype(np.int64)
    segment = np.repeat(np.arange(len(counts)), counts + 1)
    first = np.repeat(np.cumsum(counts + 1) - (counts + 1), counts + 1)
    t = (np.arange(len(segment)) - first) / counts[segment]
    samples = np.rint(p0[segment] + t[:, None] * (p1 - p0)[segment]).astype(np.int64)
    r, c = samples[:, 0], samples[:, 1]
    inside = (r >= y0) & (r < y1) & (c >= x0) & (c < x1)
    return r[inside], c[inside]


def points_along(points: np.ndarray, distances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions and unit tangents at given arc lengths along a polyline.

    Args:
        points: ``(N, 2)`` polyline vertices.
        distances: arc lengths from the first vertex (clipped to the polyline's length).

    Returns:
        ``(positions, tangents)``, each ``(len(distances), 2)``.
    """
    seg = np.diff(points, axis=0)
    lengths = np.hypot(*seg.T)
    cumulative = np.concatenate([[0.0], np.cumsum(lengths)])
    d = np.clip(distances, 0.0, cumulative[-1])
    index = np.clip(np.searchsorted(cumulative, d, side="right") - 1, 0, len(seg) - 1)
    frac = (d - cumulative[index]) / np.maximum(lengths[index], 1e-9)
    positions = points[index] + frac[:, None] * seg[index]
    tangents = seg[index] / np.maximum(lengths[index], 1e-9)[:, None]
    return positions, tangents


def polyline_length(points: np.ndarray) -> float:
    """Total length of a polyline in pixels."""
    return float(np.hypot(*np.diff(points, axis=0).T).sum())
