"""Trees and buildings of the aerial scene: placement along roads and in clumps, drawing.

Objects are placed from hashed per-road and per-cell seeds, so every region sees the same
objects; drawing only touches each object's bounding box inside the requested region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .road_network import INDEX_OFFSET, Road, points_along, polyline_length


@dataclass(frozen=True)
class Trees:
    """Round tree canopies: centre rows, centre columns and radii (1-D arrays)."""

    y: np.ndarray
    x: np.ndarray
    r: np.ndarray


@dataclass(frozen=True)
class Buildings:
    """Rotated rectangular buildings along roads.

    Attributes:
        y, x: centres.
        half_length, half_depth: half extents along and across the road.
        tangent: ``(N, 2)`` unit vectors along the road (the building's long axis).
        height: shadow length in pixels.
        roof: index into the roof palette.
    """

    y: np.ndarray
    x: np.ndarray
    half_length: np.ndarray
    half_depth: np.ndarray
    tangent: np.ndarray
    height: np.ndarray
    roof: np.ndarray


def _road_rng(salt: int, road: Road) -> np.random.Generator:
    return np.random.default_rng([salt, *road.key])


def roadside_trees(roads: list[Road], salt: int, scale: float) -> Trees:
    """Rows of trees along some roads; some canopies hang over the road."""
    ys, xs, rs = [], [], []
    for road in roads:
        rng = _road_rng(salt, road)
        if rng.random() > 0.45 - 0.2 * road.urban:
            continue
        length = polyline_length(road.points)
        radius = rng.uniform(3.0, 6.5) * scale
        count = int(length / (rng.uniform(1.5, 2.6) * radius)) + 1
        along = np.linspace(0.0, length, count) + rng.normal(0, 0.3 * radius, count)
        side = rng.choice([-1.0, 1.0], count) if rng.random() < 0.5 else np.sign(rng.normal())
        keep = rng.random(count) < 0.75
        pos, tangent = points_along(road.points, along)
        normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
        radii = radius * rng.uniform(0.75, 1.25, count)
        offset = road.half_width + radii * rng.uniform(-0.3, 0.9, count)
        centers = pos + normal * (side * offset)[:, None]
        ys.append(centers[keep, 0])
        xs.append(centers[keep, 1])
        rs.append(radii[keep])
    return _concat_trees(ys, xs, rs)


def clump_trees(cells: list[tuple[int, int]], cell_size: float, salt: int, scale: float) -> Trees:
    """Clumps of trees, at most one per cell of the network's grid."""
    ys, xs, rs = [], [], []
    for i, j in cells:
        rng = np.random.default_rng([salt, i + INDEX_OFFSET, j + INDEX_OFFSET])
        if rng.random() > 0.5:
            continue
        count = int(rng.integers(3, 16))
        center = (np.array([i, j]) + rng.random(2)) * cell_size
        spread = rng.uniform(5.0, 16.0) * scale
        ys.append(center[0] + rng.normal(0, spread, count))
        xs.append(center[1] + rng.normal(0, spread, count))
        rs.append(rng.uniform(2.5, 7.0, count) * scale)
    return _concat_trees(ys, xs, rs)


def _concat_trees(ys: list, xs: list, rs: list) -> Trees:
    if not ys:
        empty = np.zeros(0)
        return Trees(empty, empty, empty)
    return Trees(np.concatenate(ys), np.concatenate(xs), np.concatenate(rs))


def merge_trees(*groups: Trees) -> Trees:
    """All trees of several groups, in order."""
    return Trees(*(np.concatenate([getattr(g, k) for g in groups]) for k in ("y", "x", "r")))


def roadside_buildings(roads: list[Road], salt: int, scale: float, n_roofs: int) -> Buildings:
    """Houses lining built-up roads, facing the road, set back a few pixels."""
    parts: list[list[np.ndarray]] = [[] for _ in range(7)]
    for road in roads:
        rng = _road_rng(salt, road)
        if rng.random() > 0.1 + 0.8 * road.urban:
            continue
        length = polyline_length(road.points)
        draws = int(length / (10.0 * scale)) + 2
        for side in (-1.0, 1.0):
            half_length = rng.uniform(4.0, 8.0, draws) * scale
            gaps = rng.uniform(3.0, 12.0, draws) * scale
            along = np.cumsum(2 * half_length + gaps) - half_length
            n = int(np.searchsorted(along, length))
            keep = rng.random(n) < 0.7
            pos, tangent = points_along(road.points, along[:n])
            normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
            half_depth = rng.uniform(3.5, 6.5, n) * scale
            setback = road.half_width + rng.uniform(3.0, 8.0, n) * scale + half_depth
            centers = pos + normal * (side * setback)[:, None]
            columns = (
                centers[:, 0],
                centers[:, 1],
                half_length[:n],
                half_depth,
                tangent,
                rng.uniform(2.0, 6.0, n) * scale,
                rng.integers(0, n_roofs, n),
            )
            for store, column in zip(parts, columns):
                store.append(column[keep])
    if not parts[0]:
        return Buildings(*(np.zeros((0, 2)) if k == 4 else np.zeros(0) for k in range(7)))
    return Buildings(*(np.concatenate(p) for p in parts))


def _window(
    cy: float, cx: float, radius: float, box: tuple[int, int, int, int]
) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
    """Pixel window of a disc-bounded object inside ``box``, with its local offsets."""
    y0, y1, x0, x1 = box
    r0, r1 = max(y0, int(np.floor(cy - radius))), min(y1, int(np.ceil(cy + radius)) + 1)
    c0, c1 = max(x0, int(np.floor(cx - radius))), min(x1, int(np.ceil(cx + radius)) + 1)
    if r0 >= r1 or c0 >= c1:
        return None
    dy = np.arange(r0, r1, dtype=np.float64)[:, None] - cy
    dx = np.arange(c0, c1, dtype=np.float64)[None, :] - cx
    return slice(r0 - y0, r1 - y0), slice(c0 - x0, c1 - x0), dy, dx


def _near(y: np.ndarray, x: np.ndarray, reach: np.ndarray, box: tuple) -> np.ndarray:
    """Indices of objects whose reach-disc may overlap the box."""
    y0, y1, x0, x1 = box
    near = (y + reach >= y0) & (y - reach < y1) & (x + reach >= x0) & (x - reach < x1)
    return np.flatnonzero(near)


def draw_discs(
    trees: Trees, box: tuple[int, int, int, int], shift: np.ndarray, light: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft discs with a dome profile.

    Args:
        trees: the canopies.
        box: region ``(y0, y1, x0, x1)``.
        shift: ``(dy, dx)`` offset per unit radius (for shadows; zeros for canopies).
        light: unit ``(dy, dx)`` direction towards the light.

    Returns:
        ``(alpha, height, lit)``: coverage in [0, 1]; dome height of the highest canopy;
        and, for that canopy, how much the pixel faces the light (-1 to 1).
    """
    shape = (box[1] - box[0], box[3] - box[2])
    alpha, height, lit = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    cys, cxs = trees.y + shift[0] * trees.r, trees.x + shift[1] * trees.r
    for k in _near(cys, cxs, trees.r + 1.0, box):
        cy, cx, r = cys[k], cxs[k], trees.r[k]
        window = _window(cy, cx, r + 1.0, box)
        if window is None:
            continue
        rows, cols, dy, dx = window
        dist = np.hypot(dy, dx)
        dome = np.sqrt(np.clip(1.0 - (dist / r) ** 2, 0.0, 1.0))
        higher = dome > height[rows, cols]
        height[rows, cols] = np.where(higher, dome, height[rows, cols])
        facing = (dy * light[0] + dx * light[1]) / r
        lit[rows, cols] = np.where(higher, facing, lit[rows, cols])
        alpha[rows, cols] = np.maximum(alpha[rows, cols], np.clip(r + 0.5 - dist, 0.0, 1.0))
    return alpha, height, lit


def draw_buildings(
    buildings: Buildings, box: tuple[int, int, int, int], shift: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft rotated rectangles, in order (later ones on top).

    Args:
        buildings: the buildings.
        box: region ``(y0, y1, x0, x1)``.
        shift: ``(dy, dx)`` offset per unit of building height (for shadows).

    Returns:
        ``(alpha, roof, side)``: coverage; roof palette index of the top building
        (-1 where none); and which half of the gable roof (-1 or 1) the pixel is on.
    """
    shape = (box[1] - box[0], box[3] - box[2])
    alpha, roof, side = np.zeros(shape), np.full(shape, -1), np.zeros(shape)
    cys = buildings.y + shift[0] * buildings.height
    cxs = buildings.x + shift[1] * buildings.height
    reach = np.hypot(buildings.half_length, buildings.half_depth) + 1.0
    for k in _near(cys, cxs, reach, box):
        hl, hd = buildings.half_length[k], buildings.half_depth[k]
        window = _window(cys[k], cxs[k], reach[k], box)
        if window is None:
            continue
        rows, cols, dy, dx = window
        ty, tx = buildings.tangent[k]
        along = dy * ty + dx * tx
        across = dx * ty - dy * tx
        cover = np.clip(np.minimum(hl - np.abs(along), hd - np.abs(across)) + 0.5, 0.0, 1.0)
        on_top = cover > 0.5
        roof[rows, cols] = np.where(on_top, buildings.roof[k], roof[rows, cols])
        side[rows, cols] = np.where(on_top, np.sign(across), side[rows, cols])
        alpha[rows, cols] = np.maximum(alpha[rows, cols], cover)
    return alpha, roof, side
