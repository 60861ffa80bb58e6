"""What a camera or scanner does to a scene: scale, optics, illumination, noise, bit depth.

`acquire` turns a float scene in [0, 1] (grey H x W or colour H x W x 3) into the array a
user would open: rescaled (objects larger or smaller), blurred, unevenly lit, with shot and
read noise, sometimes inverted, and written as 8-bit, 12-bit (in uint16) or 16-bit data
with a dark offset, a gain that may use only part of the range, and a few hot pixels that
set the image's maximum (as in real microscopy and satellite data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.transform import resize

from .texture import fbm


@dataclass(frozen=True)
class Acquisition:
    """Ranges of one kind of acquisition.

    Attributes:
        bits: bit depths to draw from (8, 11, 12 or 16); 8 writes uint8, others uint16.
        invert: probability of inverted contrast.
        blur: largest extra Gaussian blur sigma in pixels.
        noise: largest read-noise std (fraction of the signal range).
        photons: range of photon counts at full signal (shot noise; fewer is noisier).
        illumination: largest relative amplitude of the uneven illumination.
        zoom: range of the rescale factor (> 1: objects larger).
        offset: largest dark offset as a fraction of the range (integer data only).
        hot_pixels: probability of a few saturated pixels setting the maximum.
    """

    bits: tuple[int, ...] = (8,)
    invert: float = 0.0
    blur: float = 1.0
    noise: float = 0.02
    photons: tuple[float, float] = (200.0, 5000.0)
    illumination: float = 0.3
    zoom: tuple[float, float] = (0.7, 1.4)
    offset: float = 0.0
    hot_pixels: float = 0.0


def zoom_pair(
    image: np.ndarray, label: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Resample a float image (bilinear, anti-aliased) and its label (area > half) to ``size``."""
    shrink = size[0] < image.shape[0]
    out_shape = size + image.shape[2:]
    image = resize(image, out_shape, order=1, anti_aliasing=shrink, preserve_range=True)
    label = resize(label.astype(np.float64), size, order=1, anti_aliasing=shrink) > 0.5
    return image, label


def illumination_field(
    rng: np.random.Generator, size: tuple[int, int], amplitude: float
) -> np.ndarray:
    """Smooth multiplicative field around 1: a tilt plus broad blotches, both random."""
    yy, xx = np.linspace(-1, 1, size[0])[:, None], np.linspace(-1, 1, size[1])[None, :]
    tilt = rng.normal(0, 1, 2)
    tilt = tilt / (np.linalg.norm(tilt) + 1e-9) * rng.uniform(0, amplitude)
    salt = int(rng.integers(2**31))
    blotches = fbm(np.arange(size[0]), np.arange(size[1]), 0.6 * max(size), salt, octaves=2)
    vignette = rng.uniform(0, amplitude) * (yy**2 + xx**2) / 2
    field = 1.0 + tilt[0] * yy + tilt[1] * xx + rng.uniform(0, amplitude) * (blotches - 0.5)
    return np.clip(field - vignette, 0.2, None)


def _noisy(image: np.ndarray, rng: np.random.Generator, spec: Acquisition) -> np.ndarray:
    photons = np.exp(rng.uniform(*np.log(spec.photons)))
    shot = rng.poisson(np.clip(image, 0, None) * photons) / photons
    return shot + rng.normal(0.0, rng.uniform(0, spec.noise), image.shape)


def quantize(image: np.ndarray, rng: np.random.Generator, spec: Acquisition) -> np.ndarray:
    """Write a float image in about [0, 1] as 8-bit or as 11/12/16-bit data in uint16."""
    bits = int(rng.choice(spec.bits))
    top = 2**bits - 1
    if bits == 8:
        return np.clip(np.round(image * top), 0, top).astype(np.uint8)
    offset = rng.uniform(0, spec.offset)
    gain = np.exp(rng.uniform(np.log(0.1), 0.0)) * (1.0 - offset)
    raw = np.clip(np.round((offset + gain * np.clip(image, 0, None)) * top), 0, top)
    if rng.random() < spec.hot_pixels:
        flat = raw.reshape(-1, *raw.shape[2:])
        hot = rng.integers(0, flat.shape[0], int(rng.integers(1, 6)))
        flat[hot] = rng.uniform(offset + gain, 1.0) * top
    return raw.astype(np.uint16)


def acquire(
    scene: np.ndarray, label: np.ndarray, rng: np.random.Generator, spec: Acquisition
) -> tuple[np.ndarray, np.ndarray]:
    """Image a float scene in [0, 1] as ``spec`` says (all but the zoom, see `zoom_pair`).

    Returns:
        ``(image, label)``: uint8 or uint16 data of the scene's shape, and the label.
    """
    image = scene.astype(np.float64)
    if rng.random() < spec.invert:
        image = 1.0 - image
    if spec.blur > 0 and rng.random() < 0.5:
        sigma = rng.uniform(0, spec.blur)
        image = ndimage.gaussian_filter(image, (sigma, sigma) + (0,) * (image.ndim - 2))
    field = illumination_field(rng, image.shape[:2], spec.illumination)
    image = image * (field if image.ndim == 2 else field[..., None])
    image = _noisy(image, rng, spec)
    peak = float(image.max())
    return quantize(image / peak if peak > 1.0 else image, rng, spec), label
