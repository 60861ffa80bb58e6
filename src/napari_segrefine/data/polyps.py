"""Endoscopy scenes with polyps (Kvasir-SEG-like).

Pinkish-red mucosa with folds and a vessel network, a dark lumen, one or two smooth polyps
whose colour differs from the mucosa only slightly (and on parts of their rim hardly at
all), soft dome shading, specular highlights on polyps and folds alike, strong vignetting,
and often the black frame of the endoscope image, its position-guide inset and a metal
instrument. The label is the visible polyp surface: frame, inset and instrument are
excluded; highlights on a polyp belong to the polyp.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .shapes import (
    Blob,
    ellipse_relative_radius,
    lambert,
    pixel_grid,
    random_blob,
    soft_coverage,
)
from .texture import blend, derive_salt, fbm, pixel_noise, ridges, to_uint8, worley

_VESSEL = (0.50, 0.10, 0.12)
_LUMEN = (0.07, 0.015, 0.015)
_POLYP_TINTS = (
    (1.10, 1.02, 1.06),  # pale, whitish pink
    (1.02, 0.78, 0.78),  # deep red
    (1.06, 0.98, 0.80),  # yellowish
    (0.96, 0.86, 0.92),  # dusky
)


def make_polyps(size: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One endoscopy sample of ``size``: ``(image uint8 HxWx3, label uint8 HxW in {0, 1})``."""
    rng = np.random.default_rng(derive_salt(seed, 300))
    scale = min(size) / 256.0
    yy, xx = pixel_grid(size)
    salts = [derive_salt(seed, 301 + k) for k in range(8)]
    rgb, crests = _mucosa(rng, size, scale, salts)
    _draw_lumen(rgb, rng, yy, xx, scale)
    blobs = _place_polyps(rng, size, scale)
    relative = np.min([b.relative_radius(yy, xx) for b in blobs], axis=0)
    surface = _draw_polyps(rgb, rng, blobs, yy, xx, scale, salts)
    rgb *= _vignetting(rng, size)[..., None]
    weights = np.stack([surface**6 * (relative < 0.9), crests**4 * 0.3])
    _draw_highlights(rgb, rng, weights, yy, xx, scale)
    rgb = ndimage.gaussian_filter(rgb, (0.7 * scale, 0.7 * scale, 0))
    rgb += 0.02 * pixel_noise(np.arange(size[0]), np.arange(size[1]), salts[0])[..., None]
    visible = _draw_occluders(rgb, rng, yy, xx, size, scale)
    return to_uint8(rgb), ((relative < 1.0) & visible).astype(np.uint8)


def _mucosa(
    rng: np.random.Generator, size: tuple[int, int], scale: float, salts: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Base tissue colour with folds and vessels; also returns the fold crests (0..1)."""
    rows, cols = np.arange(size[0]), np.arange(size[1])
    base = np.array([0.80, 0.38, 0.31]) * rng.uniform(0.88, 1.1, 3)
    mottle = fbm(rows, cols, 70 * scale, salts[1], octaves=4) - 0.5
    folds = fbm(rows, cols, 110 * scale, salts[2], octaves=2)
    phase = 2 * np.pi * folds * rng.uniform(2.5, 4.5)
    crests = np.clip(np.sin(phase), 0.0, 1.0)
    brightness = 1.0 + 0.35 * mottle - 0.22 * np.clip(-np.sin(phase - 0.6), 0.0, 1.0) ** 2
    rgb = base * (brightness + 0.1 * crests)[..., None]
    vessels = ridges(rows, cols, 45 * scale, salts[3], sharpness=9.0)
    capillaries = ridges(rows, cols, 14 * scale, salts[4], sharpness=11.0)
    blend(rgb, _VESSEL, np.clip(0.35 * vessels + 0.15 * capillaries, 0.0, 0.6))
    return rgb, crests


def _draw_lumen(
    rgb: np.ndarray, rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, scale: float
) -> None:
    """The dark opening of the bowel, often near an edge."""
    if rng.random() > 0.6:
        return
    height, width = rgb.shape[:2]
    blob = random_blob(rng, (rng.uniform(0, height), rng.uniform(0, width)), 35 * scale, 0.25)
    relative = blob.relative_radius(yy, xx) / rng.uniform(0.7, 1.6)
    blend(rgb, _LUMEN, rng.uniform(0.7, 0.95) * np.clip(1.0 - relative, 0.0, 1.0) ** 0.6)


def _place_polyps(rng: np.random.Generator, size: tuple[int, int], scale: float) -> list[Blob]:
    height, width = size
    area = rng.uniform(0.07, 0.28) * height * width
    shares = [1.0] if rng.random() < 0.7 else [0.7, 0.3]
    blobs = []
    for share in shares:
        radius = np.sqrt(share * area / np.pi)
        center = (
            rng.uniform(max(radius, 0.15 * height), min(height - radius, 0.85 * height)),
            rng.uniform(max(radius, 0.15 * width), min(width - radius, 0.85 * width)),
        )
        blobs.append(random_blob(rng, center, radius, roughness=0.18))
    return blobs


def _draw_polyps(
    rgb: np.ndarray,
    rng: np.random.Generator,
    blobs: list[Blob],
    yy: np.ndarray,
    xx: np.ndarray,
    scale: float,
    salts: list[int],
) -> np.ndarray:
    """Tint, texture and shade the polyps; returns the diffuse shading (for highlights)."""
    rows, cols = np.arange(rgb.shape[0]), np.arange(rgb.shape[1])
    pits = np.clip(worley(yy, xx, 5.0 * scale, salts[5])[0] / (5.0 * scale), 0.0, 1.0)
    texture = 1.0 + 0.12 * (pits - 0.5) + 0.2 * (fbm(rows, cols, 20 * scale, salts[6]) - 0.5)
    height = np.zeros(rgb.shape[:2])
    cover_all = np.zeros(rgb.shape[:2])
    for blob in blobs:
        relative = blob.relative_radius(yy, xx)
        cover = soft_coverage(relative, blob.radius)
        theta = np.arctan2(yy - blob.cy, xx - blob.cx)
        contrast = 0.35 + 0.65 * (0.5 + 0.5 * np.cos(theta - rng.uniform(0, 2 * np.pi))) ** 2
        tint = np.asarray(_POLYP_TINTS[rng.integers(len(_POLYP_TINTS))])
        color = rgb * tint * texture[..., None]
        fade = soft_coverage(relative, blob.radius / (3.0 * scale))
        blend(rgb, color, fade * contrast)
        profile = np.clip(1.0 - relative**2, 0.0, 1.0) ** rng.uniform(1.0, 2.0)
        height = np.maximum(height, blob.radius * rng.uniform(0.5, 0.9) * profile)
        ring = np.clip(1.0 - (relative - 1.0) * blob.radius / (6.0 * scale), 0.0, 1.0)
        cover_all = np.maximum(cover_all, np.where(relative > 1.0, 0.5 * ring, cover))
    light = (*rng.uniform(-0.5, 0.5, 2), 1.0)
    surface = lambert(height, light, relief=1.0)
    rgb *= (1.0 + cover_all * (0.8 * surface - 0.55))[..., None]
    return surface


def _vignetting(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    yy, xx = pixel_grid(size)
    cy = size[0] * rng.uniform(0.35, 0.65)
    cx = size[1] * rng.uniform(0.35, 0.65)
    reach = 0.5 * np.hypot(*size)
    distance = np.hypot(yy - cy, xx - cx) / reach
    falloff = rng.uniform(0.55, 0.85) * np.clip(distance, 0.0, 1.3) ** 2
    return rng.uniform(0.85, 1.2) * (1.0 - falloff)


def _draw_highlights(
    rgb: np.ndarray,
    rng: np.random.Generator,
    weights: np.ndarray,
    yy: np.ndarray,
    xx: np.ndarray,
    scale: float,
) -> None:
    """Small saturated white reflections, sampled where each weight map is high."""
    for weight in weights:
        total = weight.sum()
        if total <= 0:
            continue
        count = int(rng.integers(4, 14))
        picks = rng.choice(weight.size, size=count, p=(weight / total).ravel())
        for pick in picks:
            cy, cx = np.unravel_index(pick, weight.shape)
            radius = rng.uniform(0.8, 3.2) * scale
            axes = (radius, radius * rng.uniform(1.0, 2.5))
            relative = ellipse_relative_radius(yy, xx, (cy, cx), axes, rng.uniform(0, np.pi))
            blend(rgb, (0.9, 0.93, 1.0), 0.6 * np.exp(-((relative / 2.0) ** 2)))
            blend(rgb, (1.0, 1.0, 1.0), soft_coverage(relative, radius))


def _draw_occluders(
    rgb: np.ndarray,
    rng: np.random.Generator,
    yy: np.ndarray,
    xx: np.ndarray,
    size: tuple[int, int],
    scale: float,
) -> np.ndarray:
    """Instrument, guide inset and black frame; returns where the tissue stays visible."""
    visible = np.ones(size, dtype=bool)
    if rng.random() < 0.15:
        visible &= ~_draw_instrument(rgb, rng, yy, xx, size, scale)
    if rng.random() < 0.85:
        inside = _frame(rng, yy, xx, size)
        blend(rgb, (0.01, 0.01, 0.01), 1.0 - inside)
        visible &= inside > 0.5
        if rng.random() < 0.3:
            side = 0.24 * min(size)
            box = (yy > size[0] - side - 0.02 * size[0]) & (xx < side + 0.03 * size[1])
            blend(rgb, (0.02, 0.05, 0.04), box.astype(float))
            guide = ellipse_relative_radius(
                yy, xx, (size[0] - 0.6 * side, 0.55 * side), (0.2 * side, 0.35 * side), 0.4
            )
            blend(rgb, (0.15, 0.55, 0.35), box * soft_coverage(guide, 0.2 * side))
            visible &= ~box
    return visible


def _frame(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, size: tuple) -> np.ndarray:
    """Soft mask of the rounded-rectangle field of view of an endoscope image."""
    height, width = size
    margin_y = height * rng.uniform(0.0, 0.03)
    margin_x = width * rng.uniform(0.02, 0.08)
    corner = min(size) * rng.uniform(0.12, 0.25)
    dy = np.maximum(np.abs(yy - height / 2) - (height / 2 - margin_y - corner), 0.0)
    dx = np.maximum(np.abs(xx - width / 2) - (width / 2 - margin_x - corner), 0.0)
    return np.clip(corner - np.hypot(dy, dx) + 0.5, 0.0, 1.0)


def _draw_instrument(
    rgb: np.ndarray,
    rng: np.random.Generator,
    yy: np.ndarray,
    xx: np.ndarray,
    size: tuple[int, int],
    scale: float,
) -> np.ndarray:
    """A metal tool entering from an edge; returns its mask."""
    height, width = size
    angle = rng.uniform(0, 2 * np.pi)
    direction = np.array([np.sin(angle), np.cos(angle)])
    start = np.array([height / 2, width / 2]) - direction * 0.75 * np.hypot(height, width) / 2
    length = rng.uniform(0.35, 0.6) * np.hypot(height, width)
    half_width = rng.uniform(5.0, 9.0) * scale
    along = (yy - start[0]) * direction[0] + (xx - start[1]) * direction[1]
    across = (xx - start[1]) * direction[0] - (yy - start[0]) * direction[1]
    tip = np.clip(along, None, length)
    distance = np.hypot(across, along - tip)
    cover = np.clip(half_width - distance + 0.5, 0.0, 1.0) * (along > 0)
    metal = 0.45 + 0.4 * np.cos(np.pi * np.clip(across / half_width, -1, 1) - 0.5) ** 2
    blend(rgb, np.array([0.62, 0.64, 0.66]) * metal[..., None], cover)
    return cover > 0.5
