from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_segrefine.engine import to_channels_first
from napari_segrefine.engine.preprocess import crop_to, match_channels, pad_to_multiple
from napari_segrefine.errors import SegRefineError

H, W = 12, 20


def ramp(shape: tuple[int, ...], dtype=np.uint8) -> np.ndarray:
    return (np.arange(np.prod(shape)) % 200).reshape(shape).astype(dtype)


def test_gray_2d():
    image = ramp((H, W))
    stack, layout = to_channels_first(image)
    assert stack.shape == (1, 1, H, W)
    assert np.array_equal(stack[0, 0], image)
    assert (layout.stack_shape, layout.kind, layout.channels) == ((), "gray", 1)
    assert not layout.is_stack


def test_rgb_channels_last():
    image = ramp((H, W, 3))
    stack, layout = to_channels_first(image)
    assert stack.shape == (1, 3, H, W)
    assert np.array_equal(stack[0], np.moveaxis(image, -1, 0))
    assert (layout.stack_shape, layout.kind) == ((), "rgb")


def test_rgba_drops_alpha_with_one_warning():
    image = ramp((H, W, 4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stack, layout = to_channels_first(image)
    assert len(caught) == 1
    assert "alpha" in str(caught[0].message)
    assert stack.shape == (1, 3, H, W)
    assert np.array_equal(stack[0], np.moveaxis(image[..., :3], -1, 0))
    assert (layout.kind, layout.channels) == ("rgba", 3)


def test_gray_stack():
    image = ramp((5, H, W))
    stack, layout = to_channels_first(image)
    assert stack.shape == (5, 1, H, W)
    assert np.array_equal(stack[3, 0], image[3])
    assert (layout.stack_shape, layout.kind) == ((5,), "gray")


def test_rgb_stack_channels_last():
    image = ramp((2, H, W, 3))
    stack, layout = to_channels_first(image)
    assert stack.shape == (2, 3, H, W)
    assert np.array_equal(stack[1, 2], image[1, ..., 2])
    assert (layout.stack_shape, layout.kind) == ((2,), "rgb")


def test_stack_channels_first():
    image = ramp((2, 3, H, W))
    stack, layout = to_channels_first(image)
    assert stack.shape == (2, 3, H, W)
    assert np.array_equal(stack, image)
    assert layout.stack_shape == (2,)


def test_few_trailing_bands_are_multiband():
    stack, layout = to_channels_first(ramp((H, W, 6)))
    assert stack.shape == (1, 6, H, W)
    assert (layout.kind, layout.channels) == ("multiband", 6)


def test_channel_axis_and_bands_pick_channels():
    image = ramp((13, H, W))
    stack, layout = to_channels_first(image, channel_axis=0, bands=(3, 2, 1))
    assert stack.shape == (1, 3, H, W)
    assert np.array_equal(stack[0], image[[3, 2, 1]])
    assert (layout.stack_shape, layout.kind, layout.channels) == ((), "multiband", 3)


def test_channel_axis_on_a_stack():
    image = ramp((4, H, W, 9))
    stack, layout = to_channels_first(image, channel_axis=-1)
    assert stack.shape == (4, 9, H, W)
    assert np.array_equal(stack[2, 7], image[2, ..., 7])
    assert layout.stack_shape == (4,)


def test_bands_on_rgba_keep_exactly_the_picked_channels_without_warning():
    image = ramp((H, W, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stack, _ = to_channels_first(image, bands=[3])
    assert np.array_equal(stack[0, 0], image[..., 3])


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.uint16, np.int8, np.int32, np.int64, np.float16, np.float32, bool]
)
def test_dtypes_are_kept(dtype):
    image = ramp((H, W), dtype)
    stack, _ = to_channels_first(image)
    assert stack.dtype == np.dtype(dtype)
    assert np.array_equal(stack[0, 0], image)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.full((H, W), np.nan, np.float32), "NaN"),
        (np.full((H, W), -np.inf), "NaN or infinite"),
        (np.zeros((0, W)), "empty"),
        (np.zeros(W), "axes"),
        (np.zeros((2, 2, H, W, 3)), "axes"),
        (np.zeros((4, 100)), "at least 8"),
        (np.zeros((H, W), np.complex64), "dtype"),
        (np.zeros((H, W), object), "dtype"),
        (np.zeros((2, 16, H, W)), "channel_axis"),
    ],
)
def test_bad_images(image, message):
    with pytest.raises(SegRefineError, match=message):
        to_channels_first(image)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channel_axis": 3}, "out of range"),
        ({"bands": (0, 13)}, "bands"),
        ({"bands": ()}, "bands"),
    ],
)
def test_bad_channel_arguments(kwargs, message):
    with pytest.raises(SegRefineError, match=message):
        to_channels_first(ramp((13, H, W)), **{"channel_axis": 0, **kwargs})


def test_channel_axis_on_a_2d_image_is_an_error():
    with pytest.raises(SegRefineError, match="no channel axis"):
        to_channels_first(ramp((H, W)), channel_axis=0)


def test_gray_is_repeated_to_the_model_channels():
    gray = ramp((1, H, W))
    fitted = match_channels(gray, 3)
    assert fitted.shape == (3, H, W)
    assert all(np.array_equal(channel, gray[0]) for channel in fitted)
    assert match_channels(ramp((3, H, W)), 3).shape == (3, H, W)


def test_channel_mismatch_asks_for_bands():
    with pytest.raises(SegRefineError, match="bands="):
        match_channels(ramp((5, H, W)), 3)


@pytest.mark.parametrize("shape", [(8, 8), (9, 33), (32, 64), (45, 70)])
def test_padding_to_32_and_cropping_back(shape):
    image = np.random.default_rng(1).random((2, *shape)).astype(np.float32)
    padded = pad_to_multiple(image)
    assert padded.shape[0] == 2
    assert all(side % 32 == 0 and side >= orig for side, orig in zip(padded.shape[1:], shape))
    assert all(side - orig < 32 for side, orig in zip(padded.shape[1:], shape))
    assert np.array_equal(crop_to(padded, shape), image)


def test_padding_reflects():
    image = np.arange(10, dtype=np.float32)[None, None].repeat(8, axis=1)
    padded = pad_to_multiple(image)
    assert np.array_equal(padded[0, 0, 10:13], [8, 7, 6])


@pytest.mark.parametrize(("channels", "kind", "kept"), [(4, "rgba", 3), (2, "gray+alpha", 1)])
def test_alpha_is_dropped_also_with_an_explicit_last_channel_axis(channels, kind, kept):
    image = ramp((H, W, channels))
    with pytest.warns(UserWarning, match="alpha"):
        stack, layout = to_channels_first(image, channel_axis=-1)
    assert (layout.kind, stack.shape[1]) == (kind, kept)


def test_four_bands_on_the_first_axis_stay_multiband():
    stack, layout = to_channels_first(ramp((4, H, W)), channel_axis=0)
    assert (layout.kind, stack.shape[1]) == ("multiband", 4)
