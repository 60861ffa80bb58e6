"""Aerial road scenes (DeepGlobe-like): terrain, road network, buildings, trees, shadows.

Any region of a scene is rendered from global geometry and global-coordinate textures, so
a region equals the same region cut from a larger rendering (up to floating-point
identity: the numbers are computed the same way). The label is the paved road surface,
including the parts hidden under tree canopies and shadows, as in DeepGlobe; buildings
never stand on a road.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from . import aerial_objects as objects
from .road_network import (
    HALF_WIDTHS,
    HIGHWAY,
    LANE,
    ROAD,
    TRACK,
    Road,
    RoadNetwork,
    centerline_pixels,
)
from .texture import blend, derive_salt, fbm, pixel_noise, to_uint8, value_noise, worley

# Field types: base colour, weight, crop rows?
_FIELDS = (
    ((0.33, 0.42, 0.22), 0.20, True),  # green crop
    ((0.45, 0.50, 0.31), 0.16, False),  # grass
    ((0.64, 0.59, 0.43), 0.14, True),  # dry crop
    ((0.46, 0.37, 0.28), 0.14, True),  # ploughed soil
    ((0.52, 0.51, 0.48), 0.10, False),  # bare ground / concrete
    ((0.70, 0.66, 0.57), 0.08, False),  # pale sand
    ((0.17, 0.25, 0.13), 0.18, False),  # forest
)
_FOREST = len(_FIELDS) - 1
_ROAD_COLORS = {
    TRACK: (0.60, 0.52, 0.41),
    LANE: (0.56, 0.55, 0.53),
    ROAD: (0.46, 0.46, 0.46),
    HIGHWAY: (0.37, 0.37, 0.39),
}
_ROOFS = np.array(
    [
        (0.64, 0.34, 0.26),
        (0.56, 0.56, 0.57),
        (0.32, 0.32, 0.34),
        (0.80, 0.79, 0.75),
        (0.52, 0.43, 0.36),
    ]
)
_CANOPY = np.array((0.14, 0.24, 0.10))
_BLUR_TRUNCATE = 3.0
_VERGE = (0.56, 0.53, 0.43)
_HEDGE = (0.21, 0.28, 0.15)


class RoadScene:
    """One aerial scene that renders any rectangular region on demand.

    Args:
        seed: scene seed; everything is a function of it.
        shape: ``(height, width)`` of the whole scene.
        scale: feature size relative to a 256 x 256 sample (1.0: roads 3-10 px wide).
    """

    def __init__(self, seed: int, shape: tuple[int, int], scale: float = 1.0) -> None:
        self.shape = shape
        self.scale = scale
        self.network = RoadNetwork(seed, shape, scale)
        self._salts = [derive_salt(seed, 200 + k) for k in range(12)]
        rng = np.random.default_rng(derive_salt(seed, 199))
        sun = rng.uniform(0, 2 * np.pi)
        self._sun = np.array([np.sin(sun), np.cos(sun)])
        self._tint = 1.0 + rng.uniform(-0.06, 0.06, 3)
        widest = max(HALF_WIDTHS[HIGHWAY][-1] * self.network.width_scale, 1.0)
        self._margin = int(np.ceil(widest + 4.0 * scale)) + 2
        self._object_reach = 48.0 * scale
        self._blur_radius = int(_BLUR_TRUNCATE * 0.6 * scale + 0.5)

    def render(self, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray]:
        """Render the region ``[y0, y1) x [x0, x1)``.

        Returns:
            ``(image, label)``: uint8 ``(h, w, 3)`` and uint8 ``(h, w)`` in {0, 1}.
        """
        b = self._blur_radius
        box = (y0 - b, y1 + b, x0 - b, x1 + b)
        rows, cols = np.arange(box[0], box[1]), np.arange(box[2], box[3])
        roads = self.network.roads_near(*box, self._object_reach)
        edge, layers = self._road_layers(roads, box)
        rgb = self._terrain(rows, cols)
        blend(rgb, _VERGE, 0.35 * np.clip(1.0 - edge / (2.0 * self.scale), 0.0, 1.0))
        for kind, alpha in layers:
            blend(rgb, self._road_surface(kind, rows, cols), alpha)
        self._draw_objects(rgb, roads, box, edge)
        inner = (slice(b, b + y1 - y0), slice(b, b + x1 - x0))
        rgb = self._camera(rgb, rows, cols)[inner]
        return to_uint8(rgb), (edge[inner] <= 0.0).astype(np.uint8)

    def _camera(self, rgb: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Optics and sensor: slight blur, muted colours, a colour cast and noise."""
        sigma = 0.6 * self.scale
        rgb = ndimage.gaussian_filter(rgb, (sigma, sigma, 0), truncate=_BLUR_TRUNCATE)
        gray = rgb.mean(axis=2, keepdims=True)
        rgb = (gray + 0.85 * (rgb - gray)) * self._tint
        return rgb + 0.025 * pixel_noise(rows, cols, self._salts[0])[..., None]

    def _road_layers(
        self, roads: list[Road], box: tuple[int, int, int, int]
    ) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
        """Signed distance to the nearest road edge, and one soft coverage per road class."""
        y0, y1, x0, x1 = box
        m = self._margin
        shape = (y1 - y0, x1 - x0)
        edge = np.full(shape, float(m))
        groups: dict[tuple[int, float], list[Road]] = {}
        for road in roads:
            if road.touches(y0, y1, x0, x1, m):
                groups.setdefault((road.kind, road.half_width), []).append(road)
        layers = []
        for (kind, half_width), members in sorted(groups.items()):
            dist = self._distance_to_centerlines(members, (y0 - m, y1 + m, x0 - m, x1 + m), m)
            dist = dist[m:-m, m:-m] - half_width
            edge = np.minimum(edge, dist)
            layers.append((kind, np.clip(0.5 - dist, 0.0, 1.0)))
        return edge, layers

    @staticmethod
    def _distance_to_centerlines(
        roads: list[Road], canvas: tuple[int, int, int, int], cap: float
    ) -> np.ndarray:
        y0, y1, x0, x1 = canvas
        free = np.ones((y1 - y0, x1 - x0), dtype=bool)
        for road in roads:
            r, c = centerline_pixels(road.points, y0, y1, x0, x1)
            free[r - y0, c - x0] = False
        if free.all():
            return np.full(free.shape, cap)
        return np.minimum(ndimage.distance_transform_edt(free), cap)

    def _terrain(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        s, salt = self.scale, self._salts
        warp_y = 10 * s * (value_noise(rows, cols, 40 * s, salt[1]) - 0.5)
        warp_x = 10 * s * (value_noise(rows, cols, 40 * s, salt[2]) - 0.5)
        yy, xx = rows[:, None] + warp_y, cols[None, :] + warp_x
        d1, d2, field_id = worley(yy, xx, 72 * s, salt[3])
        weights = np.cumsum([w for _, w, _ in _FIELDS])
        kind = np.minimum(np.searchsorted(weights / weights[-1], field_id), len(_FIELDS) - 1)
        colors = np.array([c for c, _, _ in _FIELDS])
        jitter = (np.modf(field_id * 977.0)[0] - 0.5)[..., None]
        rgb = colors[kind] * (1.0 + 0.22 * jitter)
        rows_field = np.array([rows_ for _, _, rows_ in _FIELDS])[kind]
        angle = np.modf(field_id * 131.0)[0] * np.pi
        period = (3.0 + 4.0 * np.modf(field_id * 53.0)[0]) * s
        phase = (yy * np.cos(angle) + xx * np.sin(angle)) / period
        rgb *= (1.0 + 0.09 * rows_field * np.sin(2 * np.pi * phase))[..., None]
        bumps = np.clip(1.0 - worley(yy, xx, 5.0 * s, salt[4])[0] / (5.0 * s), 0.0, 1.0)
        rgb *= np.where(kind == _FOREST, 0.6 + 0.7 * bumps, 1.0)[..., None]
        grain = fbm(rows, cols, 8 * s, salt[5], octaves=3) - 0.5
        broad = fbm(rows, cols, 220 * s, salt[6], octaves=3) - 0.5
        rgb *= (1.0 + 0.22 * grain + 0.28 * broad)[..., None]
        blend(rgb, _HEDGE, 0.55 * np.clip(1.0 - (d2 - d1) / (2.0 * s), 0.0, 1.0))
        return rgb

    def _road_surface(self, kind: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        wear = fbm(rows, cols, 30 * self.scale, self._salts[7] + kind, octaves=3) - 0.5
        grain = pixel_noise(rows, cols, self._salts[8] + kind)
        shade = 1.0 + 0.25 * wear + 0.05 * grain
        return np.asarray(_ROAD_COLORS[kind]) * shade[..., None]

    def _draw_objects(
        self, rgb: np.ndarray, roads: list[Road], box: tuple[int, int, int, int], edge: np.ndarray
    ) -> None:
        s, salt = self.scale, self._salts
        cells = self._cells(box)
        trees = objects.merge_trees(
            objects.roadside_trees(roads, salt[9], s),
            objects.clump_trees(cells, self.network.cell, salt[10], s),
        )
        buildings = objects.roadside_buildings(roads, salt[11], s, len(_ROOFS))
        shift = 0.9 * self._sun
        tree_shadow, _, _ = objects.draw_discs(trees, box, shift, -self._sun)
        house_shadow, _, _ = objects.draw_buildings(buildings, box, 0.8 * self._sun)
        clear = np.clip(edge / s - 1.0, 0.0, 1.0)
        shadow = np.maximum(tree_shadow, house_shadow * clear)
        rgb *= (1.0 - 0.5 * shadow)[..., None]
        house, roof, side = objects.draw_buildings(buildings, box, np.zeros(2))
        roof_rgb = _ROOFS[np.maximum(roof, 0)] * np.where(side > 0, 1.08, 0.86)[..., None]
        blend(rgb, roof_rgb, house * clear)
        canopy, height, lit = objects.draw_discs(trees, box, np.zeros(2), -self._sun)
        rows, cols = np.arange(box[0], box[1]), np.arange(box[2], box[3])
        leaves = fbm(rows, cols, 3.0 * s, salt[0] + 1, octaves=2) - 0.5
        shading = 0.55 + 0.35 * height + 0.3 * lit + 0.5 * leaves
        blend(rgb, _CANOPY * shading[..., None], canopy)

    def _cells(self, box: tuple[int, int, int, int]) -> list[tuple[int, int]]:
        c, reach = self.network.cell, self._object_reach
        i0, i1 = int(np.floor((box[0] - reach) / c)) - 1, int((box[1] + reach) // c) + 1
        j0, j1 = int(np.floor((box[2] - reach) / c)) - 1, int((box[3] + reach) // c) + 1
        return [(i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)]


def make_roads(size: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One aerial sample of ``size``; features scale with the shorter side (256 px = 1).

    Below 90 px the scale stops shrinking (roads would vanish below a pixel): small samples
    show a smaller piece of a scene instead.
    """
    scale = max(min(size), 90) / 256.0
    return RoadScene(seed, size, scale).render(0, size[0], 0, size[1])
