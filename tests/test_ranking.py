from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine import SegRefineError, limits
from napari_segrefine.ranking import (
    otsu_level,
    outside_of_field,
    patch_mixture,
    rank_patches,
    rank_two_class_patches,
)


def _map():
    prob = np.zeros((96, 128), np.float32)
    prob[:32, :32] = 1.0  # confident foreground
    prob[32:64, 64:96] = 0.5  # undecided
    return prob


def test_uncertain_patch_ranks_first():
    ranked = rank_patches(_map(), 32)
    assert (ranked[0].top, ranked[0].left) == (32, 64)
    assert ranked[0].uncertainty == pytest.approx(1.0)
    assert len(ranked) == 3 * 4
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)


def test_disagreement_with_refinement_raises_a_patch():
    prob = _map()
    refined = prob > 0.5
    refined[66:96, 2:32] = True  # the second opinion adds an object the model missed
    ranked = rank_patches(prob, 32, refined=refined)
    assert (ranked[0].top, ranked[0].left) == (64, 0)
    assert ranked[0].disagreement == pytest.approx(900 / 1024)


def test_corrected_patches_are_skipped_and_edges_are_partial():
    valid = np.zeros((96, 128), bool)
    valid[32:64, 64:96] = True
    ranked = rank_patches(_map(), 40, valid=valid, top_k=50)
    assert all(not (r.top == 32 and r.left == 64) for r in ranked)
    assert {(r.height, r.width) for r in ranked} >= {(16, 8), (40, 40)}


def test_bad_input():
    with pytest.raises(SegRefineError, match="2-D probability map"):
        rank_patches(np.zeros((2, 8, 8)), 4)
    with pytest.raises(SegRefineError, match="patch_size"):
        rank_patches(np.zeros((8, 8)), 0)


def test_contrast_raises_a_patch_with_two_kinds_of_pixels():
    prob = np.zeros((64, 96), np.float32)  # a model that sees nothing anywhere
    image = np.zeros((64, 96, 3), np.uint8)
    image[32:, 32:48] = 200  # an object across the patch at row 1, column 1
    ranked = rank_patches(prob, 32, image=image)
    assert (ranked[0].top, ranked[0].left) == (32, 32)
    assert ranked[0].contrast == pytest.approx(1.0)
    assert ranked[-1].contrast == pytest.approx(0.0, abs=1e-6)


def test_neighbours_of_a_pick_or_a_correction_wait():
    prob = np.zeros((32, 128), np.float32)
    prob[:, :64] = 0.5  # two equally unsure neighbours
    prob[:, 96:] = 0.4  # a slightly surer patch further away
    first, second, *_ = rank_patches(prob, 32)
    assert (first.left, second.left) == (0, 96)
    assert second.score < first.score
    valid = np.zeros(prob.shape, bool)
    valid[:, 96:] = True
    assert rank_patches(prob, 32, valid=valid)[0].left == 0
    valid[:, :32] = True  # the unsure patch 32 is now next to a correction
    ranked = rank_patches(prob, 32, valid=valid)
    assert [r.left for r in ranked] == [32, 64]


def test_maps_of_another_size_are_refused():
    with pytest.raises(SegRefineError, match="image has shape"):
        rank_patches(np.zeros((8, 8)), 4, image=np.zeros((8, 9)))


def test_two_class_patches_come_first_before_any_update():
    image = np.zeros((64, 96), np.uint16)
    image[8:24, 40:56] = 3000  # an object in the patch at row 0, column 1: a quarter of it
    image[32:, 64:] = 3000  # a patch all bright: one class, like the flat ones
    ranked = rank_two_class_patches(image, 32)
    assert (ranked[0].top, ranked[0].left) == (0, 32)
    assert ranked[0].mixture == pytest.approx(0.5) and ranked[0].score == pytest.approx(0.5)
    assert ranked[-1].mixture == 0.0 and len(ranked) == 6
    valid = np.zeros(image.shape, bool)
    valid[:32, 32:64] = True
    assert (0, 32) not in [(r.top, r.left) for r in rank_two_class_patches(image, 32, valid=valid)]


def test_a_flat_image_has_no_two_class_patch_but_still_a_queue():
    ranked = rank_two_class_patches(np.full((40, 40, 3), 7, np.uint8), 16, top_k=2)
    assert len(ranked) == 2 and all(r.score == 0.0 for r in ranked)


def test_two_class_ranking_refuses_a_stack_or_nan():
    with pytest.raises(SegRefineError, match="2-D image"):
        rank_two_class_patches(np.zeros((2, 8, 8, 3)), 4)
    with pytest.raises(SegRefineError, match="NaN"):
        rank_two_class_patches(np.full((8, 8), np.nan), 4)
    with pytest.raises(SegRefineError, match="NaN"):
        otsu_level(np.full((2, 8, 8), np.inf), rgb=False)


def test_a_thin_edge_strip_does_not_come_first():
    image = np.zeros((64, 129), np.uint8)
    image[:32, 128] = 255  # the 1-px strip at the right edge: half bright, mixture 1
    image[:16, :64] = 255  # a quarter of a full patch: mixture 0.5
    ranked = rank_two_class_patches(image, 64)
    assert (ranked[0].left, ranked[0].width) == (0, 64)
    assert [r.mixture for r in ranked if r.width == 1] == [pytest.approx(1.0)]


def test_the_level_of_a_large_image_is_taken_on_a_sample(monkeypatch):
    rng = np.random.default_rng(0)
    image = np.where(rng.random((200, 300, 3)) < 0.3, 200, 20).astype(np.uint8)
    full = otsu_level(image, rgb=True)
    monkeypatch.setattr(limits, "LEVEL_PIXELS", 1_000)
    assert 20 < otsu_level(image, rgb=True) < 200 and 20 < full < 200
    assert otsu_level(np.full((4, 50, 50), 3.0), rgb=False) is None


def _fundus_like(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A textured bright disc crossed by dark vessels (fading before its rim), on a flat
    black surround."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:192, :192]
    field = (yy - 96) ** 2 + (xx - 96) ** 2 < 90**2
    inner = (yy - 96) ** 2 + (xx - 96) ** 2 < 75**2
    vessels = inner & ((np.abs(yy - xx) < 3) | (np.abs(yy + xx - 200) < 3))
    image = np.where(field, 150 + rng.normal(0, 20, field.shape), rng.normal(4, 1, field.shape))
    image[vessels] = 70
    return image.clip(0, 255).astype(np.uint8), vessels


def test_the_two_class_queue_splits_the_field_not_its_black_surround():
    image, vessels = _fundus_like()
    outside = outside_of_field(image.astype(np.float32), otsu_level(image, rgb=False))
    assert outside is not None and outside[0, 0] and not outside[96, 96]
    top = rank_two_class_patches(image, 32, top_k=3)
    for patch in top:  # inside the field, with vessels, not on the rim
        assert not outside[patch.slices].any() and vessels[patch.slices].any()


def test_a_dark_background_between_objects_is_no_surround():
    """Fluorescence: the dark class touches the border too, but leaves the objects in
    pieces, not one field."""
    rng = np.random.default_rng(1)
    image = rng.normal(5, 1, (128, 128))
    for y, x in rng.integers(10, 118, (12, 2)):
        image[y - 6 : y + 6, x - 6 : x + 6] = 200
    grey = image.astype(np.float32)
    assert outside_of_field(grey, otsu_level(grey, rgb=False)) is None


def test_a_patch_s_mixture_is_over_its_field_pixels_times_their_share():
    grey = np.zeros((4, 8), np.float32)
    grey[:, [4, 6]] = 10  # the right patch: half its field bright, and half the surround
    outside = np.zeros(grey.shape, bool)
    outside[:, 6:] = True
    np.testing.assert_allclose(patch_mixture(grey, 4, 5.0, outside), [[0.0, 0.5]])
    np.testing.assert_allclose(patch_mixture(grey, 4, 5.0), [[0.0, 1.0]])
