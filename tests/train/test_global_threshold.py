"""The global (Otsu) threshold the head's guard weighs against its trees."""

from __future__ import annotations

import numpy as np
import torch

from napari_segrefine import load_checkpoint, predict, save_checkpoint
from napari_segrefine.limits import LEVEL_PIXELS
from napari_segrefine.models.adapted import AdaptedModel
from napari_segrefine.models.filter_bank import FilterBank
from napari_segrefine.train.global_threshold import best_global_threshold, level_sample
from napari_segrefine.train.head import HeadConfig, fit_head

FAST = {"num_trees": 8, "guard_trees": 4, "max_pixels": 4000}
SIGMAS = (1.0, 2.0)


def dark_blobs_in_channel_one(size: int = 64):
    """Two channels: channel 0 is noise, channel 1 has dark disks on a bright ground."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:size, :size]
    label = np.zeros((size, size), bool)
    for cy, cx in ((16, 16), (40, 44), (50, 12)):
        label |= (yy - cy) ** 2 + (xx - cx) ** 2 < 64
    noise = rng.uniform(0, 1, (size, size))
    informative = np.where(label, 0.2, 0.8) + rng.normal(0, 0.02, label.shape)
    return np.stack([noise, informative]).astype(np.float32), label


def test_the_informative_channel_and_its_dark_side_win():
    x, label = dark_blobs_in_channel_one()
    rows = FilterBank(2, SIGMAS)(torch.from_numpy(x)[None])[0]
    rows = rows.numpy().reshape(len(rows), -1).T
    found = best_global_threshold([level_sample(x, SIGMAS[0])], rows, label.ravel(), len(SIGMAS))
    assert (found.channel, found.above) == (1, False)
    assert found.column == 1 * len(SIGMAS) * 4  # channel 1's finest smoothed feature
    assert 0.2 < found.level < 0.8
    assert found.score > 0.9


def test_a_flat_image_has_no_threshold():
    x = np.ones((1, 8, 8), np.float32)
    rows = np.ones((64, len(SIGMAS) * 4), np.float32)
    labels = np.arange(64) % 2 == 0
    assert best_global_threshold([level_sample(x, SIGMAS[0])], rows, labels, len(SIGMAS)) is None


def test_level_sample_is_strided_down_on_large_images():
    x = np.zeros((3, 2000, 1500), np.float32)
    sample = level_sample(x, SIGMAS[0])
    assert sample.shape[0] == 3 and sample.shape[1] <= LEVEL_PIXELS
    assert level_sample(x[:, :10, :10], 1.0).shape == (3, 100)


def test_a_chosen_threshold_predicts_saves_and_loads(base, disk_sample, tmp_path):
    image, label, valid = disk_sample
    # a negative margin makes the guard prefer the threshold whenever there is one
    result = fit_head(base, [(image, label, valid)], HeadConfig(global_margin=-1.0, **FAST))
    assert "a global threshold, channel" in result.reason and result.adopted
    assert result.model.deep == "none" and result.model.trees.feature.shape == (1, 3)
    mask = predict(result.model, image).mask.astype(bool)
    assert (mask == label).mean() > 0.95
    loaded = load_checkpoint(save_checkpoint(result.model, tmp_path / "otsu"))
    assert isinstance(loaded, AdaptedModel)
    np.testing.assert_array_equal(predict(loaded, image).mask, predict(result.model, image).mask)


def test_no_threshold_when_turned_off(base, disk_sample):
    image, label, valid = disk_sample
    result = fit_head(base, [(image, label, valid)], HeadConfig(global_margin=None, **FAST))
    assert "global threshold" not in result.reason
    assert result.model.trees.feature.shape[0] == FAST["num_trees"]


def test_an_update_helped_by_other_images_keeps_its_trees(base, disk_sample):
    image, label, valid = disk_sample
    config = HeadConfig(global_margin=-1.0, **FAST)  # would take any threshold
    alone = fit_head(base, [(image, label, valid)], config, judged_on=[0])
    pooled = fit_head(base, [(image, label, valid)] * 2, config, judged_on=[0])
    assert "global threshold" in alone.reason
    assert "global threshold" not in pooled.reason
    assert pooled.model.trees.feature.shape[0] == FAST["num_trees"]
