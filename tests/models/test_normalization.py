from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine.models.normalization import (
    BASNET_NORM,
    IMAGENET_NORM,
    Normalization,
    normalize,
    value_range,
)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (np.array([[0, 200]], np.uint8), 255.0),
        (np.array([[0, 200]], np.uint16), 255.0),  # 8-bit data in a wider type
        (np.array([[0, 4095]], np.uint16), 4095.0),  # 12-bit camera data
        (np.array([[0.0, 0.5]], np.float32), 1.0),
        (np.array([[0.0, 180.0]], np.float32), 180.0),  # floats in 0..255
        (np.array([[True, False]]), 1.0),
    ],
)
def test_value_range(image, expected):
    assert value_range(image) == expected


def test_twelve_bit_and_eight_bit_versions_of_an_image_normalize_alike():
    eight = np.random.default_rng(0).integers(0, 256, (3, 8, 8)).astype(np.uint8)
    eight[0, 0, 0] = 255
    twelve = (eight.astype(np.int64) * 4095 // 255).astype(np.uint16)
    np.testing.assert_allclose(
        normalize(eight, IMAGENET_NORM), normalize(twelve, IMAGENET_NORM), atol=0.02
    )


def test_image_max_and_no_scaling():
    image = np.array([[[2.0, 4.0]]], np.float32)
    plain = Normalization("image_max", None, None)
    np.testing.assert_allclose(normalize(image, plain), [[[0.5, 1.0]]])
    assert normalize(image, Normalization("none", None, None)).max() == 4.0
    x = normalize(np.full((3, 2, 2), 10, np.uint8), BASNET_NORM)
    np.testing.assert_allclose(x[0], (1.0 - 0.485) / 0.229, rtol=1e-6)
