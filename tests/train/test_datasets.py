"""CorrectionDataset crops and split_samples on small hand-made images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from napari_segrefine.errors import SegRefineError
from napari_segrefine.models.normalization import BASNET_NORM, Normalization
from napari_segrefine.train.datasets import CorrectionDataset, crop_origin, split_samples

RAW = Normalization("dtype_max", None, None)  # uint8 image -> image / 255, nothing else


def _coded_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 values 1..255 (0 is reserved to recognize padding)."""
    return np.random.default_rng(seed).integers(1, 256, (height, width), dtype=np.uint8)


def _raw(item: dict) -> np.ndarray:
    return np.rint(item["image"][0].numpy() * 255).astype(int)


def test_crop_origin_centres_shifts_inside_and_pads_small_images():
    assert crop_origin(30, 64, 16) == 22  # centred
    assert crop_origin(2, 64, 16) == 0  # kept inside the image
    assert crop_origin(62, 64, 16) == 48
    assert crop_origin(3, 10, 16) == -5  # image shorter than the crop: padded around it
    assert crop_origin(3, 10, 16) + 16 >= 10


def test_crops_are_centred_on_a_valid_pixel():
    image = _coded_image(64, 64)
    valid = np.zeros((64, 64), bool)
    valid[30, 20] = valid[40, 44] = True
    data = CorrectionDataset([(image, image > 128, valid)], 16, RAW, augment=False, length=12)
    centres = set()
    for item in (data[i] for i in range(len(data))):
        assert item["valid"][0, 8, 8] == 1
        assert item["valid"].sum() == 1  # the two pixels are more than a crop apart
        centres.add(int(_raw(item)[8, 8]))
    assert centres == {int(image[30, 20]), int(image[40, 44])}


def test_crops_near_the_border_stay_inside_the_image():
    image = _coded_image(64, 64)
    valid = np.zeros((64, 64), bool)
    valid[2, 60] = True
    item = CorrectionDataset([(image, image > 128, valid)], 16, RAW, augment=False)[0]
    assert item["valid"][0, 2, 12] == 1
    np.testing.assert_array_equal(_raw(item), image[:16, 48:])


@pytest.mark.parametrize("photometric", [False, True])
def test_augmentations_keep_image_label_and_valid_aligned(photometric):
    image = _coded_image(40, 40, seed=1)
    label = image > 128
    valid = image % 2 == 0  # parity of the pixel value marks validity
    data = CorrectionDataset(
        [(image, label, valid)], 48, RAW, photometric=photometric, length=16, seed=3
    )
    plain = CorrectionDataset([(image, label, valid)], 48, RAW, augment=False, length=16, seed=3)
    changed = 0
    for index in range(len(data)):
        item = data[index]
        lab, val = item["label"][0].numpy() > 0, item["valid"][0].numpy() > 0
        if photometric:  # jitter is monotone: foreground never darker than background
            img = item["image"][0].numpy()
            assert img[lab & val].min() >= img[~lab & val].max()
        else:
            raw = _raw(item)
            np.testing.assert_array_equal(lab, raw > 128)
            np.testing.assert_array_equal(val, (raw > 0) & (raw % 2 == 0))
        changed += not torch.equal(item["image"], plain[index]["image"])
    assert changed > 0


def test_channels_follow_the_crop_in_order():
    gray = _coded_image(20, 20)
    image = np.stack([gray, 255 - gray, np.full_like(gray, 7)], axis=-1)
    data = CorrectionDataset([(image, gray > 128, None)], 32, RAW, photometric=False)
    item = data[0]
    raw = np.rint(item["image"].numpy() * 255).astype(int)
    inside = item["valid"][0].numpy() > 0
    np.testing.assert_array_equal(raw[1][inside], 255 - raw[0][inside])
    assert np.all(raw[2][inside] == 7)
    np.testing.assert_array_equal(item["label"][0].numpy() > 0, (raw[0] > 128) & inside)


def test_padding_is_invalid_and_zero():
    image = _coded_image(10, 12)
    data = CorrectionDataset([(image, image > 128, None)], 16, RAW, augment=False)
    item = data[0]
    valid = item["valid"][0].numpy() > 0
    assert valid.sum() == 120
    assert np.all(_raw(item)[~valid] == 0)
    assert np.all(_raw(item)[valid] > 0)
    assert item["label"][0].numpy()[~valid].sum() == 0


def test_items_are_deterministic_given_seed_epoch_and_index():
    image = _coded_image(48, 48)
    samples = [(image, image > 128, image > 100)]
    first, second = CorrectionDataset(samples, 16, seed=7), CorrectionDataset(samples, 16, seed=7)
    other_seed = CorrectionDataset(samples, 16, seed=8)
    for key in ("image", "label", "valid"):
        assert torch.equal(first[3][key], second[3][key])
    assert not torch.equal(first[3]["image"], other_seed[3]["image"])
    before = first[3]["image"]
    first.set_epoch(1)
    assert not torch.equal(first[3]["image"], before)


def test_item_shapes_and_dtypes_binary_and_multiclass():
    image = _coded_image(24, 24)
    classes = (image // 86).astype(np.uint8)  # 0, 1, 2
    valid = np.ones((24, 24), bool)
    valid[:4] = False
    classes[:4] = 255  # unknown class on invalid pixels is fine
    binary = CorrectionDataset([(image, classes == 1, valid)], 16, in_channels=3)[0]
    assert binary["image"].shape == (3, 16, 16) and binary["image"].dtype == torch.float32
    assert not torch.equal(binary["image"][0], binary["image"][1])  # per-channel stats
    assert binary["label"].shape == (1, 16, 16) and binary["label"].dtype == torch.float32
    assert binary["valid"].shape == (1, 16, 16)
    multi = CorrectionDataset([(image, classes, valid)], 16, num_classes=3)[0]
    assert multi["label"].shape == (16, 16) and multi["label"].dtype == torch.int64
    assert int(multi["label"].max()) <= 2
    assert torch.all(multi["label"][multi["valid"][0] == 0] == 0)


def test_image_max_scaling_uses_the_whole_image():
    image = np.full((64, 64), 50, np.uint16)
    image[0, 0] = 200  # far outside the crop
    valid = np.zeros((64, 64), bool)
    valid[40, 40] = True
    norm = Normalization("image_max", None, None)
    item = CorrectionDataset([(image, image > 0, valid)], 16, norm, augment=False)[0]
    assert torch.allclose(item["image"], torch.full((1, 16, 16), 0.25))


def test_images_without_valid_pixels_are_never_picked():
    empty = (np.full((16, 16), 10, np.uint8), np.zeros((16, 16)), np.zeros((16, 16), bool))
    marked = (np.full((16, 16), 90, np.uint8), np.ones((16, 16)), None)
    data = CorrectionDataset([empty, marked], 8, RAW, augment=False, length=10)
    assert all(np.all(_raw(data[i]) == 90) for i in range(len(data)))


def test_no_valid_pixel_at_all_is_an_error():
    image = _coded_image(16, 16)
    with pytest.raises(SegRefineError, match="no corrected or confirmed pixels"):
        CorrectionDataset([(image, image > 128, np.zeros((16, 16), bool))], 8)


@pytest.mark.parametrize(
    ("label_shape", "valid_shape", "message"),
    [((16, 15), (16, 16), "label has shape"), ((16, 16), (8, 8), "valid mask has shape")],
)
def test_mismatched_shapes_are_errors(label_shape, valid_shape, message):
    image = _coded_image(16, 16)
    sample = (image, np.zeros(label_shape), np.ones(valid_shape, bool))
    with pytest.raises(SegRefineError, match=message):
        CorrectionDataset([sample], 8)


def test_class_labels_out_of_range_on_valid_pixels_are_errors():
    image = _coded_image(16, 16)
    with pytest.raises(SegRefineError, match="0..1"):
        CorrectionDataset([(image, np.full((16, 16), 3), None)], 8, num_classes=2)


def test_batches_through_a_dataloader():
    image = _coded_image(32, 32)
    data = CorrectionDataset([(image, image > 128, None)], 16, BASNET_NORM, in_channels=3)
    batch = next(iter(DataLoader(data, batch_size=2)))
    assert batch["image"].shape == (2, 3, 16, 16)
    assert len(data) == 4  # one item per patch_size**2 valid pixels


def test_split_by_image_when_several_images_have_valid_pixels():
    samples = [(_coded_image(8, 8, i), np.zeros((8, 8)), None) for i in range(5)]
    train, val = split_samples(samples, 0.4, seed=1)
    assert (len(train), len(val)) == (3, 2)
    ids = [id(s[0]) for s in train + val]
    assert sorted(ids) == sorted(id(s[0]) for s in samples)
    again = split_samples(samples, 0.4, seed=1)[1]
    assert [id(s[0]) for s in again] == [id(s[0]) for s in val]
    assert len(split_samples(samples, 0.01, seed=1)[1]) == 1  # at least one image


def test_single_image_holds_out_a_spatial_band():
    image = _coded_image(32, 48)
    valid = np.zeros((32, 48), bool)
    valid[4:28, 2:46] = True
    train, val = split_samples([(image, image > 128, valid)], 0.25, seed=0)
    train_valid, val_valid = train[0][2], val[0][2]
    assert not np.any(train_valid & val_valid)
    np.testing.assert_array_equal(train_valid | val_valid, valid)
    assert abs(val_valid.sum() / valid.sum() - 0.25) < 0.05
    columns = np.flatnonzero(val_valid.any(axis=0))  # a band along the longer side
    assert np.all(val_valid[4:28, columns]) and np.ptp(columns) + 1 == columns.size
    assert val[0][0] is image


def test_split_edge_cases():
    image = _coded_image(8, 8)
    one_pixel = np.zeros((8, 8), bool)
    one_pixel[3, 3] = True
    with pytest.raises(SegRefineError, match="too few corrected pixels"):
        split_samples([(image, image, one_pixel)], 0.2)
    with pytest.raises(SegRefineError, match="validation fraction"):
        split_samples([(image, image, None)], 1.0)
    train, val = split_samples([(image, image, None)], 0.0)
    assert val == [] and train[0][0] is image
