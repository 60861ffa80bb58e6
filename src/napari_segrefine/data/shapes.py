"""Smooth random shapes and shading shared by the polyp and salient-object scenes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Blob:
    """A star-shaped smooth blob: radius ``r(theta) = radius * (1 + sum a_k cos(k theta + p_k))``.

    Attributes:
        cy, cx: centre in pixels.
        radius: mean radius in pixels.
        amplitudes: ``a_k`` for k = 2, 3, ...
        phases: ``p_k``.
    """

    cy: float
    cx: float
    radius: float
    amplitudes: tuple[float, ...]
    phases: tuple[float, ...]

    def relative_radius(self, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        """Distance from the centre over the boundary radius in that direction (<1 inside)."""
        dy, dx = yy - self.cy, xx - self.cx
        theta = np.arctan2(dy, dx)
        boundary = np.ones_like(theta)
        for k, (a, p) in enumerate(zip(self.amplitudes, self.phases), start=2):
            boundary = boundary + a * np.cos(k * theta + p)
        return np.hypot(dy, dx) / (self.radius * boundary)


def random_blob(
    rng: np.random.Generator, center: tuple[float, float], radius: float, roughness: float
) -> Blob:
    """A blob with harmonics 2..5 whose amplitudes are at most ``roughness``."""
    amplitudes = tuple(rng.uniform(0.0, roughness, 4) / np.arange(1, 5) ** 0.5)
    phases = tuple(rng.uniform(0.0, 2 * np.pi, 4))
    return Blob(center[0], center[1], radius, amplitudes, phases)


def ellipse_relative_radius(
    yy: np.ndarray,
    xx: np.ndarray,
    center: tuple[float, float],
    axes: tuple[float, float],
    angle: float,
) -> np.ndarray:
    """Elliptical distance from the centre (<1 inside); semi-axes ``axes`` rotated by ``angle``."""
    dy, dx = yy - center[0], xx - center[1]
    c, s = np.cos(angle), np.sin(angle)
    u, v = dx * c + dy * s, -dx * s + dy * c
    return np.hypot(u / axes[1], v / axes[0])


def soft_coverage(relative: np.ndarray, radius: float) -> np.ndarray:
    """Anti-aliased coverage of the shape ``relative < 1`` whose size is about ``radius``."""
    return np.clip((1.0 - relative) * radius + 0.5, 0.0, 1.0)


def dome(relative: np.ndarray) -> np.ndarray:
    """Height of a hemispherical bump: 1 at the centre, 0 on and outside the boundary."""
    return np.sqrt(np.clip(1.0 - relative**2, 0.0, 1.0))


def lambert(height: np.ndarray, light: tuple[float, float, float], relief: float) -> np.ndarray:
    """Diffuse shading of a height field lit from ``light`` (dy, dx, dz; need not be unit).

    Args:
        height: height map (any units).
        light: direction towards the light.
        relief: multiplies the slopes; larger is bumpier.

    Returns:
        cosine of the angle between surface normal and light, clipped to [0, 1].
    """
    gy, gx = np.gradient(height)
    normal = np.stack([-relief * gy, -relief * gx, np.ones_like(height)])
    normal /= np.linalg.norm(normal, axis=0)
    direction = np.asarray(light, dtype=np.float64)
    direction = direction / np.linalg.norm(direction)
    return np.clip(np.tensordot(direction, normal, axes=1), 0.0, 1.0)


def pixel_grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates as broadcastable ``(H, 1)`` and ``(1, W)`` float arrays."""
    return (
        np.arange(size[0], dtype=np.float64)[:, None],
        np.arange(size[1], dtype=np.float64)[None, :],
    )
