"""Training families and the acquisition model: determinism, dtypes, bit depths, labels."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine.data.acquisition import Acquisition, acquire, quantize, zoom_pair
from napari_segrefine.data.families import FAMILIES, make_family_sample
from napari_segrefine.data.microscopy import Cell, render_cells
from napari_segrefine.errors import SegRefineError

GREY = ("fluorescence", "nuclei", "brightfield", "phase", "aerial_pan")


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_same_sample_other_seed_other_sample(family: str) -> None:
    first = make_family_sample(family, 64, seed=3)
    again = make_family_sample(family, 64, seed=3)
    other = make_family_sample(family, 64, seed=4)
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.label, again.label)
    assert not np.array_equal(first.image, other.image)


@pytest.mark.parametrize("family", FAMILIES)
def test_shapes_dtypes_and_a_label_on_most_samples(family: str) -> None:
    samples = [make_family_sample(family, (72, 96), seed=s) for s in range(4)]
    for sample in samples:
        channels = () if family in GREY else (3,)
        assert sample.image.shape == (72, 96, *channels)
        assert sample.image.dtype in (np.uint8, np.uint16)
        assert sample.label.shape == (72, 96) and sample.label.dtype == np.uint8
        assert set(np.unique(sample.label)) <= {0, 1}
        assert sample.domain == family
    fractions = [s.label.mean() for s in samples]
    assert sum(0 < f < 0.8 for f in fractions) >= 3, fractions


def test_microscopy_families_cover_8_and_16_bit_data() -> None:
    dtypes = {make_family_sample("nuclei", 48, seed=s).image.dtype for s in range(12)}
    assert dtypes == {np.dtype(np.uint8), np.dtype(np.uint16)}


def test_unknown_family_is_one_clear_error() -> None:
    with pytest.raises(SegRefineError, match="unknown image family 'xray'"):
        make_family_sample("xray", 64)


def test_quantize_writes_the_asked_bit_depth() -> None:
    rng = np.random.default_rng(0)
    image = np.linspace(0, 1, 64 * 64).reshape(64, 64)
    eight = quantize(image, rng, Acquisition(bits=(8,)))
    assert eight.dtype == np.uint8 and eight.max() == 255
    clean = quantize(image, np.random.default_rng(7), Acquisition(bits=(12,), offset=0.5))
    hot = quantize(
        image, np.random.default_rng(7), Acquisition(bits=(12,), offset=0.5, hot_pixels=1)
    )
    assert clean.dtype == hot.dtype == np.uint16 and hot.max() <= 4095
    assert 1 <= np.count_nonzero(clean != hot) <= 5  # a few hot pixels, the rest unchanged
    assert hot.max() >= clean.max()


def test_inversion_swaps_bright_and_dark_objects() -> None:
    scene = np.full((32, 32), 0.1)
    scene[8:24, 8:24] = 0.9
    label = scene > 0.5
    plain = Acquisition(invert=0.0, blur=0.0, noise=0.0, photons=(1e6, 1e6), illumination=0.0)
    inverted = Acquisition(invert=1.0, blur=0.0, noise=0.0, photons=(1e6, 1e6), illumination=0.0)
    for spec, brighter in ((plain, True), (inverted, False)):
        image, out_label = acquire(scene, label, np.random.default_rng(1), spec)
        inside, outside = image[label].mean(), image[~label].mean()
        assert (inside > outside) == brighter
        np.testing.assert_array_equal(out_label, label)


def test_zoom_pair_keeps_image_and_label_aligned() -> None:
    image = np.zeros((40, 40))
    image[10:30, 10:30] = 1.0
    zoomed, label = zoom_pair(image, image > 0.5, (80, 80))
    assert zoomed.shape == (80, 80) and label.shape == (80, 80)
    assert abs(label.sum() - 4 * 400) <= 4 * 40  # area scales by 4, up to the edge pixels
    assert zoomed[label].mean() > 0.9 and zoomed[~label].mean() < 0.1


def test_rods_and_ellipses_rasterize_inside_their_bounds() -> None:
    rod = Cell(20.0, 20.0, 3.0, angle=0.0, length=6.0)
    disc = Cell(20.0, 50.0, 5.0)
    label, body, halo = render_cells((40, 70), [rod, disc], np.array([1.0, 0.5]))
    assert label[20, 20 - 8] and label[20, 20 + 8] and not label[20 - 4, 20]
    assert label[20, 50] and not label[20, 56]
    assert body[20, 50] == pytest.approx(0.5)
    assert halo[20, 56] > 0 and halo[20, 50] == 0
