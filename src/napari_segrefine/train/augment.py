"""Augmentations for training crops: dihedral transforms and photometric jitter."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Jitter:
    """Ranges of the photometric jitter, applied to images scaled to about [0, 1].

    Attributes:
        brightness: additive shift drawn from [-brightness, brightness].
        contrast: factor around the per-channel mean drawn from [1 - c, 1 + c].
        gamma: exponent drawn log-uniformly from [1 / (1 + g), 1 + g].
    """

    brightness: float = 0.1
    contrast: float = 0.2
    gamma: float = 0.25


DEFAULT_JITTER = Jitter()


def random_dihedral(rng: np.random.Generator) -> tuple[int, bool]:
    """One of the 8 square symmetries: (quarter turns, whether to flip left-right)."""
    return int(rng.integers(4)), bool(rng.random() < 0.5)


def apply_dihedral(array: np.ndarray, quarter_turns: int, flip: bool) -> np.ndarray:
    """Rotate the last two axes by ``quarter_turns`` x 90 degrees, then flip left-right."""
    out = np.rot90(array, quarter_turns, axes=(-2, -1))
    if flip:
        out = out[..., ::-1]
    return np.ascontiguousarray(out)


def photometric_jitter(
    image: np.ndarray, rng: np.random.Generator, jitter: Jitter = DEFAULT_JITTER
) -> np.ndarray:
    """Random gamma, contrast and brightness of a float C x H x W image.

    Gamma acts on magnitudes (sign kept), contrast around each channel's mean. The
    result is clipped to the input's range widened to [0, 1], so images scaled to
    [0, 1] stay there while other float data keep their span.
    """
    log_gamma = math.log1p(jitter.gamma)
    gamma = math.exp(rng.uniform(-log_gamma, log_gamma))
    contrast = rng.uniform(1.0 - jitter.contrast, 1.0 + jitter.contrast)
    brightness = rng.uniform(-jitter.brightness, jitter.brightness)
    low, high = min(0.0, float(image.min())), max(1.0, float(image.max()))
    out = np.sign(image) * np.abs(image) ** gamma
    mean = out.mean(axis=(-2, -1), keepdims=True)
    out = (out - mean) * contrast + mean + brightness
    return np.clip(out, low, high).astype(np.float32)
