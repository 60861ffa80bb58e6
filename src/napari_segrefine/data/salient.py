"""Salient-object scenes (DUTS-like).

A cluttered background (a two-tone backdrop with texture and many overlapping shapes,
slightly out of focus), one or two in-focus foreground objects with their own texture,
shading and cast shadow, and a few small in-focus distractors that are not salient. The
objects' brightness is matched to the backdrop around them, so they stand out by hue,
texture, sharpness and shape rather than by grey level. The label is the union of the
foreground objects.
"""

from __future__ import annotations

import colorsys

import numpy as np
from scipy import ndimage

from .shapes import (
    dome,
    ellipse_relative_radius,
    lambert,
    pixel_grid,
    random_blob,
    soft_coverage,
)
from .texture import blend, derive_salt, fbm, pixel_noise, to_uint8, worley

_LUMA = np.array([0.299, 0.587, 0.114])
_MAX_TRIES = 20


def make_salient(size: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One salient-object sample of ``size``: ``(image uint8 HxWx3, label uint8 HxW)``."""
    rng = np.random.default_rng(derive_salt(seed, 400))
    scale = min(size) / 256.0
    salts = [derive_salt(seed, 401 + k) for k in range(8)]
    yy, xx = pixel_grid(size)
    rgb = _background(rng, size, scale, salts)
    label = np.zeros(size, dtype=bool)
    for k, relative in enumerate(_object_shapes(rng, size, yy, xx)):
        label |= relative < 1.0
        _draw_object(rgb, rng, relative, 0.25 * min(size), scale, salts[4 + k])
    for _ in range(int(rng.integers(1, 4))):
        radius = rng.uniform(0.03, 0.07) * min(size)
        center = (rng.uniform(0, size[0]), rng.uniform(0, size[1]))
        distractor = random_blob(rng, center, radius, 0.3).relative_radius(yy, xx)
        blend(rgb, _random_color(rng), soft_coverage(distractor, radius) * ~label)
    rgb += 0.02 * pixel_noise(np.arange(size[0]), np.arange(size[1]), salts[7])[..., None]
    return to_uint8(rgb), label.astype(np.uint8)


def _random_color(
    rng: np.random.Generator,
    hue: float | None = None,
    saturation: tuple[float, float] = (0.1, 0.6),
) -> np.ndarray:
    hue = rng.random() if hue is None else hue % 1.0
    return np.array(colorsys.hsv_to_rgb(hue, rng.uniform(*saturation), rng.uniform(0.25, 0.9)))


def _background(
    rng: np.random.Generator, size: tuple[int, int], scale: float, salts: list[int]
) -> np.ndarray:
    """Backdrop, clutter shapes and texture, blurred as if out of focus."""
    height, width = size
    rows, cols = np.arange(height), np.arange(width)
    yy, xx = pixel_grid(size)
    horizon = height * rng.uniform(0.2, 0.8) + 0.1 * height * (fbm(rows, cols, 90, salts[0]) - 0.5)
    lower = np.clip((yy - horizon) / (4.0 * scale) + 0.5, 0.0, 1.0)
    rgb = np.broadcast_to(_random_color(rng), (height, width, 3)).copy()
    blend(rgb, _random_color(rng), lower)
    for _ in range(int(rng.integers(12, 30))):
        center = (rng.uniform(0, height), rng.uniform(0, width))
        axes = tuple(rng.uniform(0.03, 0.25, 2) * min(size))
        shape = ellipse_relative_radius(yy, xx, center, axes, rng.uniform(0, np.pi))
        if rng.random() < 0.5:  # rectangles: the max-norm instead of the ellipse
            shape = _rectangle(yy, xx, center, axes, rng.uniform(0, np.pi))
        blend(rgb, _random_color(rng), rng.uniform(0.4, 1.0) * soft_coverage(shape, min(axes)))
    grain = fbm(rows, cols, 25 * scale, salts[1], octaves=4) - 0.5
    rgb *= (1.0 + 0.5 * grain)[..., None]
    sigma = rng.uniform(0.8, 2.5) * scale
    return ndimage.gaussian_filter(rgb, (sigma, sigma, 0))


def _rectangle(
    yy: np.ndarray, xx: np.ndarray, center: tuple, axes: tuple, angle: float
) -> np.ndarray:
    dy, dx = yy - center[0], xx - center[1]
    c, s = np.cos(angle), np.sin(angle)
    return np.maximum(np.abs((dx * c + dy * s) / axes[1]), np.abs((dy * c - dx * s) / axes[0]))


def _object_shapes(
    rng: np.random.Generator, size: tuple[int, int], yy: np.ndarray, xx: np.ndarray
) -> list[np.ndarray]:
    """One or two foreground objects covering 10-60 % of the image (redrawn until they do)."""
    for _ in range(_MAX_TRIES):
        shapes = _random_shapes(rng, size, yy, xx)
        if 0.1 <= np.mean(np.min(shapes, axis=0) < 1.0) <= 0.6:
            break
    return shapes


def _random_shapes(
    rng: np.random.Generator, size: tuple[int, int], yy: np.ndarray, xx: np.ndarray
) -> list[np.ndarray]:
    """Relative-radius fields of one or two objects (blobs, stars or bodies of ellipses)."""
    height, width = size
    count = 1 if rng.random() < 0.65 else 2
    area = rng.uniform(0.12, 0.45) * height * width / count
    shapes = []
    for k in range(count):
        radius = np.sqrt(area / np.pi)
        cy = rng.uniform(max(radius, 0.3 * height), min(height - 0.7 * radius, 0.7 * height))
        cx = (k + rng.uniform(0.3, 0.7)) * width / count
        kind = rng.integers(3)
        if kind == 0:  # smooth blob or star
            blob = random_blob(rng, (cy, cx), radius, rng.uniform(0.1, 0.45))
            shapes.append(blob.relative_radius(yy, xx))
        else:  # a body of a few overlapping ellipses
            parts = []
            for _ in range(int(rng.integers(2, 5))):
                offset = rng.normal(0, 0.3 * radius, 2)
                axes = tuple(radius * rng.uniform(0.35, 0.9, 2))
                center = (cy + offset[0], cx + offset[1])
                parts.append(ellipse_relative_radius(yy, xx, center, axes, rng.uniform(0, np.pi)))
            shapes.append(np.min(parts, axis=0))
    return shapes


def _draw_object(
    rgb: np.ndarray,
    rng: np.random.Generator,
    relative: np.ndarray,
    radius: float,
    scale: float,
    salt: int,
) -> None:
    """Cast shadow, then the textured, shaded object with brightness matched to its backdrop."""
    height, width = relative.shape
    offset = (rng.uniform(2, 8) * scale, rng.uniform(-6, 6) * scale)
    shadow = ndimage.shift(relative, offset, order=1, mode="nearest")
    rgb *= (1.0 - 0.35 * soft_coverage(shadow, radius / (4.0 * scale)))[..., None]
    inside = relative < 1.0
    backdrop = rgb.reshape(-1, 3).mean(axis=0)
    hue = colorsys.rgb_to_hsv(*np.clip(backdrop, 0.0, 1.0))[0]
    first = _random_color(rng, hue + rng.uniform(0.25, 0.75), (0.4, 0.9))
    second = _random_color(rng, hue + rng.uniform(0.25, 0.75), (0.4, 0.9))
    pattern = _pattern(rng, relative.shape, scale, salt)
    color = first * (1 - pattern[..., None]) + second * pattern[..., None]
    shading = 0.6 + 0.5 * lambert(radius * 0.6 * dome(relative), (-0.6, -0.4, 1.0), 1.0)
    color *= shading[..., None]
    luma = color[inside] @ _LUMA if inside.any() else np.array([0.5])
    target = np.clip(backdrop @ _LUMA * rng.uniform(0.85, 1.15), 0.15, 0.85)
    color *= target / max(luma.mean(), 1e-3)
    blend(rgb, color, soft_coverage(relative, radius))


def _pattern(
    rng: np.random.Generator, size: tuple[int, int], scale: float, salt: int
) -> np.ndarray:
    """Mixing weights in [0, 1] between an object's two colours: stripes, spots or mottle."""
    rows, cols = np.arange(size[0]), np.arange(size[1])
    yy, xx = pixel_grid(size)
    kind = rng.integers(3)
    if kind == 0:
        warp = 25 * scale * fbm(rows, cols, 60 * scale, salt)
        angle = rng.uniform(0, np.pi)
        phase = (yy * np.cos(angle) + xx * np.sin(angle) + warp) / (rng.uniform(6, 16) * scale)
        return 0.5 + 0.5 * np.sin(2 * np.pi * phase)
    if kind == 1:
        cell = rng.uniform(8, 20) * scale
        return np.clip((0.45 * cell - worley(yy, xx, cell, salt)[0]) / 2.0, 0.0, 1.0)
    return fbm(rows, cols, rng.uniform(10, 40) * scale, salt, octaves=4)
