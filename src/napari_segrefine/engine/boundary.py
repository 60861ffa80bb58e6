"""Boundary maps: where a predicted mask is uncertain or about to flip."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ..errors import SegRefineError

_STRIP_PIXELS = 2**19  # pixels per strip (about 16 bytes of temporaries per pixel)


def boundary_map(
    prob: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    band: float = 8.0,
    multiclass: bool = False,
    smoothing: float = 1.0,
) -> np.ndarray:
    """A map in [0, 1] of how unsure the model is along the mask's contours.

    Definition, per pixel::

        boundary = window(d) * (1 - margin)

    - ``margin`` is the gap between the two largest class probabilities after a
      Gaussian blur of ``smoothing`` pixels: ``|2p - 1|`` for a binary map, so
      ``1 - margin`` is 1 where p = 0.5 and 0 where the model is sure. The blur makes a
      hard 0 -> 1 step pass through 0.5 too, so every contour shows as a line about
      ``2 * smoothing`` pixels wide (about 0.6 on a straight edge); a soft transition (small
      probability gradient) shows as a wider, brighter band, its width being how far
      the contour moves when the threshold moves.
    - ``d`` is the distance in pixels to the nearest contour pixel of the mask (a pixel
      with a 4-neighbour of another label), and ``window(d) = (1 - (d / band)^2)^2``
      inside ``band`` pixels, 0 beyond: smooth, 1 on the contour, exactly 0 far from it.
      Only distances inside the band are computed (`band_window`), so the cost grows
      with the band, not with the distance to the farthest contour.

    A mask without any contour gives an all-zero map.

    Args:
        prob: binary P(foreground) of shape (..., H, W), or with ``multiclass`` the
            per-class probabilities (..., C, H, W).
        mask: the labels whose contours to follow, (..., H, W); by default
            ``prob > 0.5`` (binary) or the argmax over classes.
        band: half-width in pixels of the band around the contours.
        multiclass: whether axis -3 of ``prob`` holds classes.
        smoothing: sigma in pixels of the Gaussian blur applied to ``prob`` (0: none).

    Returns:
        float32 (..., H, W) in [0, 1].
    """
    prob = np.asarray(prob, np.float32)
    min_ndim = 3 if multiclass else 2
    if prob.ndim < min_ndim or band <= 0 or smoothing < 0:
        raise SegRefineError(
            f"boundary_map needs a probability map with at least {min_ndim} axes, band > 0 "
            f"and smoothing >= 0; got shape {prob.shape}, band={band}, smoothing={smoothing}"
        )
    lead = prob.shape[:-min_ndim]
    spatial = prob.shape[-2:]
    flat_prob = prob.reshape(-1, *prob.shape[-min_ndim:])
    flat_mask = None if mask is None else _flat_mask(mask, (*lead, *spatial))
    out = np.empty((flat_prob.shape[0], *spatial), np.float32)
    for i, single in enumerate(flat_prob):
        classes = single if multiclass else single[None]
        labels = None if flat_mask is None else flat_mask[i]
        _boundary_2d(classes, labels, (band, smoothing), out[i])
    return out.reshape(*lead, *spatial)


def _flat_mask(mask: np.ndarray, expected: tuple[int, ...]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != expected:
        raise SegRefineError(
            f"the mask has shape {mask.shape} but the probabilities need {expected}"
        )
    return mask.reshape(-1, *expected[-2:])


def _boundary_2d(
    classes: np.ndarray,
    labels: np.ndarray | None,
    settings: tuple[float, float],
    out: np.ndarray,
) -> None:
    """One (K, H, W) image (K = 1: binary P(foreground)) into ``out``, in strips of rows.

    Each strip carries a halo wider than the band and the blur, so the strips give
    exactly the whole image's result while the temporaries (about 16 bytes per pixel)
    stay the size of a strip. ``settings`` are (band, smoothing).
    """
    band, smoothing = settings
    height, width = classes.shape[1:]
    halo = math.ceil(band) + math.ceil(4 * smoothing) + 2
    rows = max(1, _STRIP_PIXELS // width)
    for top in range(0, height, rows):
        lo, hi = max(0, top - halo), min(height, top + rows + halo)
        strip_labels = None if labels is None else labels[lo:hi]
        strip = _boundary_strip(classes[:, lo:hi], strip_labels, band, smoothing)
        out[top : top + rows] = strip[top - lo : top - lo + rows]


def _boundary_strip(
    classes: np.ndarray, labels: np.ndarray | None, band: float, smoothing: float
) -> np.ndarray:
    if labels is None:
        labels = classes[0] > 0.5 if len(classes) == 1 else classes.argmax(axis=0)
    contour = contour_pixels(labels)
    if not contour.any():
        return np.zeros(labels.shape, np.float32)
    window = band_window(contour, band)
    margin = _top2_margin(classes, smoothing)
    np.subtract(1, margin, out=margin)
    window *= margin
    return window


def band_window(contour: np.ndarray, band: float) -> np.ndarray:
    """``window(d) = (1 - (d / band)^2)^2`` (0 beyond ``band``) as float32, d to ``contour``.

    ``d^2`` is exact: the smallest ``dy^2 + dx^2`` over contour pixels, found column by
    column (``dy``) and then row by row (``dx``), both only within the band. This is the
    Euclidean distance transform restricted to the pixels the window needs, with small
    integer arrays instead of the whole image's float64 transform.
    """
    d2 = _squared_distance_within(contour, math.ceil(band) - 1, math.ceil(band * band))
    window = d2.astype(np.float32)
    window *= np.float32(-1 / (band * band))
    window += 1
    np.clip(window, 0, None, out=window)
    window *= window
    return window


def _squared_distance_within(contour: np.ndarray, reach: int, cap: int) -> np.ndarray:
    """Squared distance to the nearest ``contour`` pixel at most ``reach`` rows and columns
    away; ``cap`` (at least ``reach^2 + 1``) where there is none that close."""
    dtype = np.uint16 if 2 * cap < np.iinfo(np.uint16).max else np.uint32
    column = np.full(contour.shape, cap, dtype)
    column[contour] = 0
    for dy in range(1, reach + 1):
        step = dtype(dy * dy)
        np.minimum(column[:-dy], step, out=column[:-dy], where=contour[dy:])
        np.minimum(column[dy:], step, out=column[dy:], where=contour[:-dy])
    d2 = column.copy()
    for dx in range(1, reach + 1):
        step = dtype(dx * dx)
        np.minimum(d2[:, :-dx], column[:, dx:] + step, out=d2[:, :-dx])
        np.minimum(d2[:, dx:], column[:, :-dx] + step, out=d2[:, dx:])
    return d2


def _top2_margin(classes: np.ndarray, smoothing: float) -> np.ndarray:
    """Top-1 minus top-2 class probability after blurring, in [0, 1] (float32)."""
    if smoothing > 0:
        classes = ndimage.gaussian_filter(classes, (0, smoothing, smoothing), mode="nearest")
    if len(classes) == 1:
        margin = classes[0] * np.float32(2)  # |2p - 1|, one buffer
        margin -= 1
        np.abs(margin, out=margin)
        return np.clip(margin, 0, 1, out=margin)
    top2 = np.partition(classes, len(classes) - 2, axis=0)[-2:]
    return (top2[1] - top2[0]).clip(0, 1)


def contour_pixels(labels: np.ndarray) -> np.ndarray:
    """Boolean map of the pixels that have a 4-neighbour with a different label."""
    edge = np.zeros(labels.shape, bool)
    rows = labels[1:] != labels[:-1]
    cols = labels[:, 1:] != labels[:, :-1]
    edge[1:] |= rows
    edge[:-1] |= rows
    edge[:, 1:] |= cols
    edge[:, :-1] |= cols
    return edge
