"""Microscopy scenes: fluorescence (bright objects on dark) and transmitted light.

Four generators share one object renderer: ``make_fluorescence`` (sparse bright cells and
spots of mixed brightness), ``make_nuclei`` (crowded, touching nuclei with chromatin
texture), ``make_brightfield`` (dark absorbing cells on a bright field) and ``make_phase``
(phase contrast: dark cells or rod-shaped bacteria in colonies, each with a bright halo).
All return a float grey image in [0, 1] and a bool label (the union of the objects);
`napari_segrefine.data.acquisition` turns it into what a camera writes (bit depth,
noise, uneven illumination).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .shapes import dome
from .texture import derive_salt, fbm


@dataclass(frozen=True)
class Cell:
    """One object: a wobbly ellipse, or a capsule (rod) when ``length`` > 0.

    Attributes:
        cy, cx: centre in pixels.
        radius: semi-minor axis (or the rod's half width).
        aspect: semi-major over semi-minor axis (ellipses).
        angle: orientation in radians.
        length: half length of a rod's straight part in pixels (0: an ellipse).
        harmonics: (amplitude, phase) pairs of the boundary wobble, k = 2, 3, ...
    """

    cy: float
    cx: float
    radius: float
    aspect: float = 1.0
    angle: float = 0.0
    length: float = 0.0
    harmonics: tuple[tuple[float, float], ...] = ()

    @property
    def reach(self) -> float:
        """Radius of a disc around the centre that holds the object and its halo."""
        return 1.6 * (self.radius * self.aspect + self.length) + 2.0

    def relative(self, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        """Distance from the centre over the boundary distance in that direction (<1 inside)."""
        dy, dx = yy - self.cy, xx - self.cx
        c, s = np.cos(self.angle), np.sin(self.angle)
        u, v = dx * c + dy * s, -dx * s + dy * c
        if self.length > 0:
            u = np.maximum(np.abs(u) - self.length, 0.0)
            return np.hypot(u, v) / self.radius
        rel = np.hypot(u / self.aspect, v) / self.radius
        theta = np.arctan2(v, u)
        wobble = 1.0 + sum(a * np.cos(k * theta + p) for k, (a, p) in enumerate(self.harmonics, 2))
        return rel / wobble


def random_cells(
    rng: np.random.Generator,
    size: tuple[int, int],
    count: int,
    radius: tuple[float, float],
    aspect: tuple[float, float] = (1.0, 1.6),
    clusters: int = 0,
    spread: float = 0.15,
) -> list[Cell]:
    """``count`` wobbly ellipses, uniformly placed or gathered around ``clusters`` centres."""
    centres = rng.uniform((0, 0), size, (max(clusters, 1), 2))
    cells = []
    for _ in range(count):
        if clusters:
            centre = centres[rng.integers(clusters)]
            cy, cx = centre + rng.normal(0.0, spread * min(size), 2)
        else:
            cy, cx = rng.uniform((0, 0), size)
        harmonics = tuple((rng.uniform(0, 0.12) / k, rng.uniform(0, 2 * np.pi)) for k in (1, 2, 3))
        cells.append(
            Cell(
                cy,
                cx,
                rng.uniform(*radius),
                rng.uniform(*aspect),
                rng.uniform(0, np.pi),
                0.0,
                harmonics,
            )
        )
    return cells


def random_rods(
    rng: np.random.Generator, size: tuple[int, int], count: int, width: float, colonies: int
) -> list[Cell]:
    """Rod-shaped bacteria in ``colonies`` loose groups, roughly aligned within a group."""
    centres = rng.uniform((0, 0), size, (colonies, 2))
    headings = rng.uniform(0, np.pi, colonies)
    rods = []
    for _ in range(count):
        k = int(rng.integers(colonies))
        cy, cx = centres[k] + rng.normal(0.0, 0.08 * min(size), 2)
        angle = headings[k] + rng.normal(0.0, 0.5)
        rods.append(
            Cell(cy, cx, width * rng.uniform(0.8, 1.2), 1.0, angle, width * rng.uniform(1, 3))
        )
    return rods


def render_cells(
    size: tuple[int, int], cells: list[Cell], profile: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rasterize objects: label, per-object intensity map, and a halo ring map.

    Args:
        size: image size.
        cells: the objects, later ones on top.
        profile: one intensity per object (its plateau value).

    Returns:
        ``(label, body, halo)``: bool union of the objects; float intensity (the dome
        profile of the top object times its value, 0 outside); float ring just outside
        each boundary (1 on the boundary, 0 beyond 1.4 relative radii).
    """
    label = np.zeros(size, dtype=bool)
    body = np.zeros(size)
    halo = np.zeros(size)
    for cell, value in zip(cells, profile):
        r = cell.reach
        y0, y1 = max(int(cell.cy - r), 0), min(int(cell.cy + r) + 1, size[0])
        x0, x1 = max(int(cell.cx - r), 0), min(int(cell.cx + r) + 1, size[1])
        if y0 >= y1 or x0 >= x1:
            continue
        yy = np.arange(y0, y1, dtype=np.float64)[:, None]
        xx = np.arange(x0, x1, dtype=np.float64)[None, :]
        rel = cell.relative(yy, xx)
        inside = rel < 1.0
        window = (slice(y0, y1), slice(x0, x1))
        label[window] |= inside
        body[window] = np.where(inside, value * (0.55 + 0.45 * dome(rel)), body[window])
        ring = np.clip(1.0 - np.abs(rel - 1.05) / 0.35, 0.0, 1.0) * ~inside
        halo[window] = np.maximum(halo[window], ring)
    return label, body, halo


def _texture(size: tuple[int, int], period: float, salt: int) -> np.ndarray:
    """Smooth texture in [-0.5, 0.5] with features about ``period`` pixels wide."""
    return fbm(np.arange(size[0]), np.arange(size[1]), period, salt, octaves=3) - 0.5


def _start(
    size: tuple[int, int], seed: int, salt: int
) -> tuple[np.random.Generator, float, float]:
    """A scene's random generator, feature scale (256 px = 1) and area (256 x 256 = 1)."""
    rng = np.random.default_rng(derive_salt(seed, salt))
    return rng, min(size) / 256.0, size[0] * size[1] / 256.0**2


def _few_bright(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    """Object brightness with, half the time, a few objects 2-5 times brighter, max 1.

    Dividing cells or debris then set the image's range and the rest turn dim.
    """
    if rng.random() < 0.5:
        few = rng.random(values.size) < rng.uniform(0.02, 0.1)
        values = np.where(few, values * rng.uniform(2.0, 5.0), values)
    return values / values.max()


def _psf(image: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    return ndimage.gaussian_filter(image, rng.uniform(0.4, 1.4) * scale)


def make_fluorescence(size: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sparse bright cells and spots of mixed brightness on a dark, faintly glowing field."""
    rng, scale, area = _start(size, seed, 600)
    count = max(int(rng.integers(6, 40) * area), 1)
    cells = random_cells(
        rng, size, count, (4 * scale, 16 * scale), clusters=int(rng.integers(0, 4))
    )
    values = _few_bright(rng, rng.uniform(0.25, 1.0, count) ** rng.uniform(0.5, 1.5))
    label, body, _ = render_cells(size, cells, values)
    texture = 1.0 + 0.5 * _texture(size, 5 * scale, derive_salt(seed, 601))
    background = 0.04 + 0.06 * rng.random() * (
        0.5 + _texture(size, 60 * scale, derive_salt(seed, 602))
    )
    image = background + body * texture
    return np.clip(_psf(image, rng, scale), 0.0, 1.0), label


def make_nuclei(size: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Crowded fluorescent nuclei, many touching, with chromatin texture and dim mitoses."""
    rng, scale, area = _start(size, seed, 610)
    count = max(int(rng.integers(30, 110) * area), 1)
    cells = random_cells(
        rng, size, count, (6 * scale, 12 * scale), (1.0, 1.5), int(rng.integers(1, 5)), 0.2
    )
    values = _few_bright(rng, np.clip(rng.normal(0.6, 0.2, count), 0.15, 1.0))
    label, body, _ = render_cells(size, cells, values)
    chromatin = 1.0 + 0.8 * _texture(size, 3 * scale, derive_salt(seed, 611))
    image = 0.03 * (1.5 + _texture(size, 50 * scale, derive_salt(seed, 612))) + body * chromatin
    return np.clip(_psf(image, rng, scale), 0.0, 1.0), label


def make_brightfield(size: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Absorbing cells darker than a bright field, with darker rims and inner granules."""
    rng, scale, area = _start(size, seed, 620)
    count = max(int(rng.integers(5, 45) * area), 1)
    cells = random_cells(
        rng, size, count, (6 * scale, 22 * scale), (1.0, 2.0), int(rng.integers(0, 3))
    )
    values = rng.uniform(0.15, 0.6, count)
    label, body, halo = render_cells(size, cells, values)
    rim = ndimage.binary_dilation(label) & ~ndimage.binary_erosion(label, iterations=2)
    granules = 1.0 + _texture(size, 2.5 * scale, derive_salt(seed, 621))
    field = rng.uniform(0.7, 0.95) + 0.05 * _texture(size, 40 * scale, derive_salt(seed, 622))
    absorbed = np.clip(body * granules, 0.0, 0.9)
    image = field * (1.0 - absorbed) - 0.2 * rim + 0.05 * halo
    return np.clip(_psf(image, rng, scale), 0.0, 1.0), label


def make_phase(size: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Phase contrast: dark cells or colonies of rods, each ringed by a bright halo."""
    rng, scale, area = _start(size, seed, 630)
    if rng.random() < 0.5:
        count = max(int(rng.integers(10, 120) * area), 1)
        cells = random_rods(
            rng, size, count, rng.uniform(2.0, 4.5) * scale, int(rng.integers(1, 4))
        )
    else:
        count = max(int(rng.integers(5, 35) * area), 1)
        cells = random_cells(rng, size, count, (6 * scale, 18 * scale), (1.0, 1.8))
    values = rng.uniform(0.3, 0.7, count)
    label, body, halo = render_cells(size, cells, values)
    field = rng.uniform(0.45, 0.7) + 0.04 * _texture(size, 30 * scale, derive_salt(seed, 631))
    image = field * (1.0 - body) + rng.uniform(0.1, 0.35) * halo
    return np.clip(_psf(image, rng, scale), 0.0, 1.0), label
