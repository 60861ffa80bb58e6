"""Synthetic samples: determinism, types, plausible labels, not solvable by a threshold."""

from __future__ import annotations

import dataclasses

import imageio.v3 as iio
import numpy as np
import pytest

from napari_segrefine import data
from napari_segrefine.errors import SegRefineError

FOREGROUND_RANGE = {"roads": (0.03, 0.25), "polyps": (0.05, 0.40), "salient": (0.10, 0.60)}


def best_threshold_iou(image: np.ndarray, label: np.ndarray) -> float:
    """Best IoU of ``gray > t`` or ``gray <= t`` with the label, over all 256 thresholds."""
    gray = np.round(image.astype(float) @ [0.299, 0.587, 0.114]).astype(int).ravel()
    truth = label.ravel().astype(bool)
    above_all = np.bincount(gray, minlength=256)[::-1].cumsum()[::-1]
    above_fg = np.bincount(gray[truth], minlength=256)[::-1].cumsum()[::-1]
    n_fg = truth.sum()
    iou_above = above_fg / (above_all + n_fg - above_fg)
    below_fg, below_all = n_fg - above_fg, gray.size - above_all
    iou_below = below_fg / np.maximum(below_all + n_fg - below_fg, 1)
    return float(max(iou_above.max(), iou_below.max()))


def test_domains() -> None:
    assert data.DOMAINS == ("roads", "polyps", "salient")


@pytest.mark.parametrize("domain", data.DOMAINS)
def test_same_seed_same_arrays_and_other_seed_other_arrays(domain: str) -> None:
    first = data.make_sample(domain, (64, 64), seed=5)
    again = data.make_sample(domain, (64, 64), seed=5)
    other = data.make_sample(domain, (64, 64), seed=6)
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.label, again.label)
    assert not np.array_equal(first.image, other.image)
    assert not np.array_equal(first.label, other.label)


@pytest.mark.parametrize("domain", data.DOMAINS)
def test_types_shapes_and_values(domain: str) -> None:
    sample = data.make_sample(domain, (64, 96), seed=1)
    assert sample.image.dtype == np.uint8 and sample.image.shape == (64, 96, 3)
    assert sample.label.dtype == np.uint8 and sample.label.shape == (64, 96)
    assert set(np.unique(sample.label)) <= {0, 1}
    assert (sample.domain, sample.seed) == (domain, 1)
    assert sample.image.std() > 10  # a textured image, not a flat fill


def test_square_size_from_one_int() -> None:
    assert data.make_sample("polyps", 48).image.shape == (48, 48, 3)


@pytest.mark.parametrize("domain", data.DOMAINS)
def test_foreground_fraction_is_plausible(domain: str) -> None:
    low, high = FOREGROUND_RANGE[domain]
    for sample in data.make_dataset(domain, 4, (128, 128), seed=0):
        fraction = sample.label.mean()
        assert low <= fraction <= high, (sample.seed, fraction)


@pytest.mark.parametrize("domain", data.DOMAINS)
def test_label_is_never_empty_or_full_at_small_sizes(domain: str) -> None:
    for sample in data.make_dataset(domain, 6, (64, 64), seed=3):
        assert 0 < sample.label.sum() < sample.label.size, sample.seed


@pytest.mark.parametrize("domain", data.DOMAINS)
def test_a_grey_threshold_does_not_reproduce_the_label(domain: str) -> None:
    for sample in data.make_dataset(domain, 3, (128, 128), seed=0):
        assert best_threshold_iou(sample.image, sample.label) < 0.6, sample.seed


def test_best_threshold_iou_finds_a_separable_label() -> None:
    label = np.zeros((8, 8), np.uint8)
    label[:, :3] = 1
    image = np.repeat((label * 200 + 20)[..., None], 3, axis=2).astype(np.uint8)
    assert best_threshold_iou(image, label) == 1.0
    assert best_threshold_iou(255 - image, label) == 1.0


def test_dataset_seeds_are_derived_and_reproducible() -> None:
    samples = data.make_dataset("salient", 3, (48, 48), seed=7)
    assert [s.seed for s in samples] == [data.dataset_seed(7, i) for i in range(3)]
    assert len({s.seed for s in samples}) == 3
    again = data.make_sample("salient", (48, 48), samples[2].seed)
    np.testing.assert_array_equal(again.image, samples[2].image)
    other = data.make_dataset("salient", 1, (48, 48), seed=8)[0]
    assert not np.array_equal(other.image, samples[0].image)


def test_sample_is_frozen() -> None:
    sample = data.make_sample("polyps", (32, 32))
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: data.make_sample("cells"), "unknown sample domain 'cells'"),
        (lambda: data.make_sample("roads", (8, 64)), "too small"),
        (lambda: data.make_sample("roads", (64,)), "(height, width)"),
        (lambda: data.make_sample("roads", 64.0), "(height, width)"),
        (lambda: data.make_sample("roads", 64, seed=-1), "non-negative"),
        (lambda: data.make_dataset("roads", -2), "n must be"),
    ],
)
def test_bad_arguments_raise_one_line_errors(call, message: str) -> None:
    with pytest.raises(SegRefineError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_write_sample_folder_round_trip(tmp_path) -> None:
    images_dir, labels_dir = data.write_sample_folder(tmp_path / "set", "roads", 2, (64, 80), 4)
    names = ["roads_0.png", "roads_1.png"]
    assert sorted(p.name for p in images_dir.iterdir()) == names
    assert sorted(p.name for p in labels_dir.iterdir()) == names
    for name, sample in zip(names, data.make_dataset("roads", 2, (64, 80), seed=4)):
        np.testing.assert_array_equal(iio.imread(images_dir / name), sample.image)
        label = iio.imread(labels_dir / name)
        assert label.shape == (64, 80) and set(np.unique(label)) == {0, 255}
        np.testing.assert_array_equal(label // 255, sample.label)
