from __future__ import annotations

import functools
import threading
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from napari_segrefine.engine import (
    Prediction,
    Progress,
    iter_predict,
    sliding_window,
    threshold_mask,
    tile_grid,
)
from napari_segrefine.engine import predict as engine_predict
from napari_segrefine.engine.predict import _model_input, model_in_channels
from napari_segrefine.engine.preprocess import match_channels, pad_to_multiple
from napari_segrefine.errors import Cancelled, SegRefineError
from napari_segrefine.models.config import ModelConfig
from napari_segrefine.models.normalization import (
    BASNET_NORM,
    IMAGENET_NORM,
    PROBABILITY_NORM,
    normalize,
)

# The CPU unless a test says otherwise: results and batch sizes must not depend on
# whether the machine running the tests has a GPU.
predict = functools.partial(engine_predict, device="cpu")


def image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def expected_probability(model, chw: np.ndarray) -> np.ndarray:
    """What the stand-in gives on one whole (C, H, W) slice, computed in numpy."""
    x = normalize(np.broadcast_to(chw, (3, *chw.shape[1:])), model.segrefine_config.normalization)
    gain, bias = model.gain.detach().cpu().numpy(), model.bias.detach().cpu().numpy()
    logits = np.einsum("kc,chw->khw", gain, x) + bias[:, None, None]
    return 1 / (1 + np.exp(-logits))


def test_gray_2d_of_odd_size(pointwise_model):
    gray = image((45, 71))
    result = predict(pointwise_model, gray)
    assert isinstance(result, Prediction)
    assert result.probabilities.shape == result.mask.shape == result.boundary.shape == (45, 71)
    assert result.probabilities.dtype == result.boundary.dtype == np.float32
    assert result.mask.dtype == np.uint8
    expected = expected_probability(pointwise_model, gray[None])[0]
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-6)
    assert np.array_equal(result.mask, result.probabilities > 0.5)
    assert result.is_binary and result.threshold == 0.5


def test_model_sees_padded_multiples_of_32(pointwise_model):
    predict(pointwise_model, image((45, 71)))
    assert pointwise_model.input_shapes == [(1, 3, 64, 96)]


def test_rgb(pointwise_model):
    rgb = image((40, 50, 3))
    result = predict(pointwise_model, rgb)
    expected = expected_probability(pointwise_model, np.moveaxis(rgb, -1, 0))[0]
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-6)


def test_rgba_warns_once_and_ignores_alpha(pointwise_model):
    rgba = image((40, 50, 4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = predict(pointwise_model, rgba)
    assert len(caught) == 1
    rgb = predict(pointwise_model, rgba[..., :3])
    assert np.array_equal(result.probabilities, rgb.probabilities)


def test_stack_is_predicted_slice_by_slice(pointwise_model):
    stack = image((3, 40, 50))
    result = predict(pointwise_model, stack)
    assert result.probabilities.shape == result.mask.shape == result.boundary.shape == (3, 40, 50)
    for index in range(3):
        single = predict(pointwise_model, stack[index])
        assert np.array_equal(result.probabilities[index], single.probabilities)
        assert np.array_equal(result.boundary[index], single.boundary)


def test_stack_of_rgb(pointwise_model):
    result = predict(pointwise_model, image((2, 40, 50, 3)))
    assert result.probabilities.shape == (2, 40, 50)


def test_multiband_with_bands_equals_those_bands_as_rgb(pointwise_model):
    bands = image((40, 50, 6))
    result = predict(pointwise_model, bands, bands=(4, 0, 2))
    rgb = predict(pointwise_model, bands[..., [4, 0, 2]])
    assert np.array_equal(result.probabilities, rgb.probabilities)


def test_multiband_without_bands_for_a_3_channel_model(pointwise_model):
    with pytest.raises(SegRefineError, match="bands="):
        predict(pointwise_model, image((40, 50, 6)))
    assert pointwise_model.input_shapes == []


def test_multiband_model_takes_all_bands(make_pointwise_model):
    model = make_pointwise_model(in_channels=11)
    result = predict(model, image((11, 40, 50)), channel_axis=0)
    assert result.probabilities.shape == (40, 50)
    assert model.input_shapes == [(1, 11, 64, 64)]


@pytest.mark.parametrize("tile_size", [32, (64, 32), 40])
def test_tiles_give_the_whole_image_result(pointwise_model, tile_size):
    rgb = image((70, 90, 3))
    whole = predict(pointwise_model, rgb)
    tiled = predict(pointwise_model, rgb, tile_size=tile_size, overlap=0.5, batch_size=3)
    assert tiled.probabilities.shape == (70, 90)
    assert np.array_equal(tiled.probabilities, whole.probabilities)
    assert all(shape[2] % 32 == 0 and shape[3] % 32 == 0 for shape in pointwise_model.input_shapes)
    assert max(shape[0] for shape in pointwise_model.input_shapes) == 3


def test_multiclass_softmax_and_argmax(make_pointwise_model):
    model = make_pointwise_model(num_classes=4)
    result = predict(model, image((40, 50, 3)))
    assert result.num_classes == 4 and not result.is_binary
    assert result.probabilities.shape == (4, 40, 50)
    np.testing.assert_allclose(result.probabilities.sum(axis=0), 1, atol=1e-5)
    assert result.mask.dtype == np.uint8
    assert np.array_equal(result.mask, result.probabilities.argmax(axis=0))
    assert result.boundary.shape == (40, 50)
    assert result.with_threshold(0.9).mask is result.mask


def test_multiclass_stack(make_pointwise_model):
    result = predict(make_pointwise_model(num_classes=3), image((2, 40, 50)))
    assert result.probabilities.shape == (2, 3, 40, 50)
    assert result.mask.shape == result.boundary.shape == (2, 40, 50)


def test_threshold_and_rethreshold(pointwise_model):
    result = predict(pointwise_model, image((40, 50)), threshold=0.7)
    assert np.array_equal(result.mask, result.probabilities > 0.7)
    low = result.with_threshold(0.2)
    assert low.threshold == 0.2
    assert low.probabilities is result.probabilities
    assert np.array_equal(low.mask, result.probabilities > 0.2)
    assert low.mask.sum() > result.mask.sum()


def test_threshold_is_strict():
    prob = np.array([[0.25, 0.5, 0.75]], np.float32)
    assert threshold_mask(prob, 0.5).tolist() == [[0, 0, 1]]
    assert threshold_mask(prob, 0.5).dtype == np.uint8


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan")])
def test_bad_threshold(pointwise_model, threshold):
    with pytest.raises(SegRefineError, match="threshold"):
        predict(pointwise_model, image((40, 50)), threshold=threshold)


def test_progress_events_and_return_value(pointwise_model):
    calls = []
    predict(
        pointwise_model,
        image((2, 70, 90)),
        tile_size=32,
        device="cpu",
        progress=lambda done, total: calls.append((done, total)),
    )
    generator = iter_predict(pointwise_model, image((2, 70, 90)), tile_size=32, device="cpu")
    events = []
    while True:
        try:
            events.append(next(generator))
        except StopIteration as end:
            result = end.value
            break
    per_slice = len(tile_grid((96, 96), 32, 0.25))
    assert all(isinstance(event, Progress) for event in events)
    assert [(e.done, e.total) for e in events] == calls
    assert [e.done for e in events] == list(range(2 * per_slice + 1))
    assert events[-1].message == f"slice 2/2: tile {per_slice}/{per_slice}"
    assert result.probabilities.shape == (2, 70, 90)


def test_cancel_between_tiles_restores_the_training_flag(pointwise_model):
    stop = threading.Event()
    pointwise_model.train()
    with pytest.raises(Cancelled):
        predict(
            pointwise_model,
            image((70, 90)),
            tile_size=32,
            stop=stop,
            progress=lambda done, total: done >= 2 and stop.set(),
        )
    assert len(pointwise_model.input_shapes) == 2
    assert pointwise_model.training


def test_eval_mode_during_the_run_and_flag_restored(pointwise_model):
    modes = []
    pointwise_model.register_forward_hook(lambda module, _, __: modes.append(module.training))
    pointwise_model.train()
    predict(pointwise_model, image((40, 50)))
    assert modes == [False]
    assert pointwise_model.training


def test_bf16_on_cpu_is_close_to_fp32(pointwise_model):
    rgb = image((40, 50, 3))
    full = predict(pointwise_model, rgb, precision="fp32").probabilities
    half = predict(pointwise_model, rgb, precision="bf16").probabilities
    np.testing.assert_allclose(half, full, atol=0.05)
    assert half.dtype == np.float32


def test_probability_models_are_sent_to_refine(pointwise_model):
    pointwise_model.segrefine_config = ModelConfig("prn_p64", {}, PROBABILITY_NORM, "probability")
    with pytest.raises(SegRefineError, match="refine"):
        predict(pointwise_model, image((40, 50)))


def test_foreign_models_are_refused():
    with pytest.raises(SegRefineError, match="create_model"):
        predict(nn.Conv2d(3, 1, 1), image((40, 50)))


def test_tuple_outputs_use_the_first(pointwise_model):
    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = pointwise_model
            self.segrefine_config = pointwise_model.segrefine_config

        def forward(self, x):
            out = self.inner(x)
            return out, out * 0

    rgb = image((40, 50, 3))
    assert np.array_equal(
        predict(Wrapped(), rgb).probabilities, predict(pointwise_model, rgb).probabilities
    )


def test_in_channels_from_the_first_conv(pointwise_model):
    conv = nn.Sequential(nn.Conv2d(5, 2, 1), nn.Conv2d(2, 1, 1))
    conv.segrefine_config = ModelConfig("basnet_lite", {}, PROBABILITY_NORM, "image")
    assert model_in_channels(conv) == 5
    assert model_in_channels(pointwise_model) == 3


def test_registered_basnet_lite_smoke():
    from napari_segrefine import create_model

    result = predict(create_model("basnet_lite"), image((64, 64, 3)))
    assert result.probabilities.shape == (64, 64)
    assert np.isfinite(result.probabilities).all()
    assert 0 <= result.probabilities.min() <= result.probabilities.max() <= 1
    assert set(np.unique(result.mask)) <= {0, 1}


needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="needs a CUDA GPU; CI has none. Last run on an H100 on 2026-11-22, all "
    "passed (benchmarks/results/cuda_tests_h100.txt); predict has changed since",
)


@needs_cuda
def test_cuda_auto_precision_is_close_to_cpu_fp32(pointwise_model):
    rgb = image((96, 80, 3))
    on_cpu = predict(pointwise_model, rgb, precision="fp32").probabilities
    on_gpu = predict(pointwise_model, rgb, device="cuda", tile_size=64).probabilities
    assert next(pointwise_model.parameters()).device.type == "cuda"
    assert on_gpu.dtype == np.float32
    assert on_cpu.max() - on_cpu.min() > 0.9
    np.testing.assert_allclose(on_gpu, on_cpu, atol=0.02)


@needs_cuda
def test_cuda_basnet_lite_tiles_in_batches():
    from napari_segrefine import create_model

    model = create_model("basnet_lite")
    rgb = image((200, 150, 3))
    on_gpu = predict(model, rgb, device="cuda", tile_size=64, batch_size=4)
    on_cpu = predict(model, rgb, tile_size=64, precision="fp32")
    assert on_gpu.probabilities.shape == (200, 150)
    np.testing.assert_allclose(on_gpu.probabilities, on_cpu.probabilities, atol=0.05)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float64])
@pytest.mark.parametrize("shape", [(3, 64, 96), (1, 45, 71)])
def test_tiles_normalized_one_by_one_equal_the_whole_image_normalized(dtype, shape):
    rng = np.random.default_rng(5)
    raw = (rng.random(shape) * (3000 if dtype == np.uint16 else 200)).astype(dtype)
    for norm in (BASNET_NORM, IMAGENET_NORM):
        config = ModelConfig("basnet_lite", {}, norm, "image")
        padded, normalized = _model_input(raw, 3, config, lambda batch: batch.copy())
        assert padded.dtype == dtype  # no float copy of the whole image
        per_tile = sliding_window(normalized, padded, 32, 0.25, batch_size=2)
        whole = pad_to_multiple(normalize(match_channels(raw, 3), norm))
        assert np.array_equal(per_tile, whole)
