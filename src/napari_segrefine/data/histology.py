"""Stained tissue sections (H&E-like): nuclei on fibrous stroma, with white spaces.

The stain is rendered with Beer-Lambert absorption: each pixel holds a haematoxylin and an
eosin amount, and its colour is ``exp(-(h * H + e * E))`` for the two stains' optical
densities (jittered per slide, as stain batches and scanners differ). Stroma is eosin with
fibres; nuclei are haematoxylin-rich with chromatin texture, scattered or in clusters; fat
and lumen are unstained holes. The label is the nuclei.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .microscopy import random_cells, render_cells
from .texture import derive_salt, fbm, ridges, worley

_HAEMATOXYLIN = np.array([0.65, 0.70, 0.29])
_EOSIN = np.array([0.07, 0.99, 0.11])


def _stain(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    """One slide's optical-density vector: ``base`` jittered and renormalized."""
    vector = np.clip(base + rng.normal(0.0, 0.06, 3), 0.01, None)
    return vector / np.linalg.norm(vector)


def make_histology(size: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One stained section of ``size``: ``(image float HxWx3 in [0, 1], label bool HxW)``."""
    rng = np.random.default_rng(derive_salt(seed, 700))
    scale = min(size) / 256.0
    rows, cols = np.arange(size[0]), np.arange(size[1])
    area = size[0] * size[1] / 256.0**2
    count = max(int(rng.integers(15, 120) * area), 1)
    cells = random_cells(
        rng, size, count, (3 * scale, 8 * scale), (1.0, 2.2), int(rng.integers(0, 5)), 0.12
    )
    label, body, _ = render_cells(size, cells, rng.uniform(0.6, 1.0, count))
    chromatin = 1.0 + 0.6 * (fbm(rows, cols, 2.0 * scale, derive_salt(seed, 701), octaves=2) - 0.5)
    fibres = ridges(rows, cols, 25 * scale, derive_salt(seed, 702))
    eosin = rng.uniform(0.25, 0.6) * (
        0.7 + 0.6 * fbm(rows, cols, 12 * scale, derive_salt(seed, 703))
    )
    eosin = eosin + 0.3 * fibres
    d1, _, cell_id = worley(
        rows[:, None] + 0.0, cols[None, :] + 0.0, 60 * scale, derive_salt(seed, 704)
    )
    holes = (cell_id < rng.uniform(0.0, 0.3)) & (d1 < 25 * scale)
    eosin = np.where(holes & ~label, 0.03, eosin)
    haematoxylin = body * chromatin * rng.uniform(1.0, 1.8) + 0.05 * eosin
    density = rng.uniform(0.6, 1.3)
    optical = density * (
        haematoxylin[..., None] * _stain(rng, _HAEMATOXYLIN)
        + eosin[..., None] * _stain(rng, _EOSIN)
    )
    rgb = np.exp(-optical)
    rgb = ndimage.gaussian_filter(rgb, (0.6 * scale, 0.6 * scale, 0))
    return np.clip(rgb, 0.0, 1.0), label
