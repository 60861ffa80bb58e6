from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_segrefine.engine import boundary, boundary_map
from napari_segrefine.engine.boundary import contour_pixels
from napari_segrefine.errors import SegRefineError

SIZE = 64
RADIUS = 18


def signed_distance() -> np.ndarray:
    """Distance to a centred circle of radius RADIUS, positive inside."""
    yy, xx = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
    return RADIUS - np.hypot(yy, xx)


def disc_probability(softness: float) -> np.ndarray:
    return (1 / (1 + np.exp(-signed_distance() / softness))).astype(np.float32)


def test_zero_far_from_the_contour_and_peaks_on_it():
    band = 6.0
    boundary = boundary_map(disc_probability(2.0), band=band)
    distance = np.abs(signed_distance())
    assert boundary.dtype == np.float32
    assert boundary.min() >= 0 and boundary.max() <= 1
    assert (boundary[distance > band + 1] == 0).all()
    assert distance[np.unravel_index(boundary.argmax(), boundary.shape)] < 1.5
    assert boundary.max() > 0.9


def test_hard_edges_still_show_as_a_thin_line():
    hard = (signed_distance() > 0).astype(np.float32)
    boundary = boundary_map(hard)
    on_contour = contour_pixels(hard > 0.5)
    assert 0.4 < boundary[on_contour].min() <= boundary.max() < 0.9
    assert (boundary[np.abs(signed_distance()) > 4] < 0.01).all()


def test_soft_transitions_give_a_wider_band_than_hard_ones():
    soft = boundary_map(disc_probability(4.0))
    hard = boundary_map(disc_probability(0.3))
    assert soft.sum() > 2 * hard.sum()


def test_no_contour_gives_zeros():
    assert not boundary_map(np.full((SIZE, SIZE), 0.45, np.float32)).any()


def test_an_explicit_mask_moves_the_band():
    prob = disc_probability(2.0)
    shifted = np.roll(prob > 0.5, 20, axis=1)
    boundary = boundary_map(prob, shifted, band=4)
    own_contour_only = contour_pixels(prob > 0.5) & (
        ndimage.distance_transform_edt(~contour_pixels(shifted)) > 4
    )
    assert (boundary[own_contour_only] == 0).all()
    assert boundary[contour_pixels(shifted)].max() > 0


def test_stacks_keep_their_shape():
    stack = np.stack([disc_probability(2.0), np.zeros((SIZE, SIZE), np.float32)])
    boundary = boundary_map(stack)
    assert boundary.shape == (2, SIZE, SIZE)
    assert np.array_equal(boundary[0], boundary_map(stack[0]))
    assert not boundary[1].any()


def test_multiclass_uses_the_top2_margin_at_label_borders():
    stripes = np.repeat(np.arange(3), SIZE // 3 + 1)[:SIZE]
    logits = 4.0 * (stripes[None, None, :] == np.arange(3)[:, None, None]).astype(np.float32)
    logits = ndimage.uniform_filter1d(logits, 9, axis=2)
    probs = np.exp(logits) / np.exp(logits).sum(axis=0)
    boundary = boundary_map(np.broadcast_to(probs, (3, SIZE, SIZE)), multiclass=True, band=5)
    borders = np.flatnonzero(np.diff(stripes)) + 0.5
    column_distance = np.min(np.abs(np.arange(SIZE)[:, None] - borders), axis=1)
    profile = boundary[SIZE // 2]
    assert (profile[column_distance > 6] == 0).all()
    assert all(profile[int(b) : int(b) + 2].max() > 0.5 for b in borders)


def test_multiclass_needs_a_class_axis():
    with pytest.raises(SegRefineError, match="at least 3 axes"):
        boundary_map(np.zeros((SIZE, SIZE)), multiclass=True)


def test_mask_of_the_wrong_shape():
    with pytest.raises(SegRefineError, match="mask has shape"):
        boundary_map(disc_probability(1.0), np.zeros((SIZE, SIZE + 1), bool))


def test_contour_pixels_mark_both_sides_of_an_edge():
    labels = np.zeros((4, 6), int)
    labels[:, 3:] = 1
    contour = contour_pixels(labels)
    assert contour[:, 2:4].all()
    assert not contour[:, [0, 1, 4, 5]].any()


@pytest.mark.parametrize("multiclass", [False, True])
def test_strips_give_exactly_the_whole_image_result(monkeypatch, multiclass):
    prob = disc_probability(1.5)
    mask = None
    if multiclass:
        prob = np.stack([1 - prob, prob * 0.6, prob * 0.4])
        mask = np.roll(prob.argmax(axis=0), 3, axis=1)
    whole = boundary_map(prob, mask, multiclass=multiclass, band=5)
    monkeypatch.setattr(boundary, "_STRIP_PIXELS", SIZE * 3)
    stripped = boundary_map(prob, mask, multiclass=multiclass, band=5)
    assert whole.any()
    assert np.array_equal(stripped, whole)


def _edt_window(contour: np.ndarray, band: float) -> np.ndarray:
    """The window from scipy's whole-image Euclidean distance transform (the reference)."""
    distance = ndimage.distance_transform_edt(~contour)
    return np.clip(1 - (distance / band) ** 2, 0, None) ** 2


@pytest.mark.parametrize("band", [0.5, 1.0, 3.0, 5.5, 8.0, 20.0])
def test_band_window_equals_the_whole_image_distance_transform(band):
    rng = np.random.default_rng(int(band * 10))
    labels = ndimage.gaussian_filter(rng.random((200, 150)), 12) > 0.5
    contour = contour_pixels(labels)
    window = boundary.band_window(contour, band)
    assert window.dtype == np.float32
    assert contour.any() and (window > 0).any() and (window == 0).any()
    np.testing.assert_allclose(window, _edt_window(contour, band), rtol=0, atol=1e-6)


def test_band_window_of_a_single_contour_pixel_is_round():
    contour = np.zeros((41, 41), bool)
    contour[20, 20] = True
    window = boundary.band_window(contour, 10.0)
    assert window[20, 20] == 1
    assert window[20, 29] > 0 and window[20, 30] == 0
    assert window[27, 27] > 0 and window[28, 28] == 0  # sqrt(98) < 10 < sqrt(128)
    np.testing.assert_allclose(window, _edt_window(contour, 10.0), atol=1e-6)


def test_boundary_map_equals_the_distance_transform_definition():
    prob = disc_probability(1.5)
    contour = contour_pixels(prob > 0.5)
    margin = np.abs(2 * ndimage.gaussian_filter(prob, 1.0, mode="nearest") - 1).clip(0, 1)
    expected = (_edt_window(contour, 8.0) * (1 - margin)).astype(np.float32)
    np.testing.assert_allclose(boundary_map(prob), expected, rtol=0, atol=1e-6)
