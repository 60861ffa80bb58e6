"""One shape for long work: iter_x yields Progress events and returns; x drains; stop= ends it."""

from __future__ import annotations

import inspect
import threading

import numpy as np
import pytest

import napari_segrefine
from napari_segrefine import Progress, create_model, iter_predict, iter_refine, predict, refine
from napari_segrefine.errors import Cancelled
from napari_segrefine.train import FinetuneConfig, finetune, iter_finetune


def _image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)


def _prob() -> np.ndarray:
    prob = np.full((64, 64), 0.2, np.float32)
    prob[16:48, 16:48] = 0.8
    return prob


def _samples():
    label = (_prob() > 0.5).astype(np.uint8)
    return [(_image()[:64, :64], label, None)] * 2


def _config() -> FinetuneConfig:
    return FinetuneConfig(steps=4, batch_size=1, patch_size=32, val_fraction=0.0)


def _run(events):
    collected = []
    while True:
        try:
            collected.append(next(events))
        except StopIteration as finished:
            return collected, finished.value


def test_each_iter_x_yields_progress_and_returns_what_x_returns():
    model = create_model("basnet_lite", pretrained=True)
    prn = create_model("prn_p64_lite", pretrained=True)
    options = {"tile_size": 64, "device": "cpu"}
    events, prediction = _run(iter_predict(model, _image(), **options))
    assert events and all(isinstance(event, Progress) for event in events)
    np.testing.assert_array_equal(prediction.mask, predict(model, _image(), **options).mask)
    refine_options = {"patch_size": 16, "prn": prn, "window": 32, "device": "cpu"}
    events, mask = _run(iter_refine(_prob(), **refine_options))
    assert len(events) > 1 and all(isinstance(event, Progress) for event in events)
    np.testing.assert_array_equal(mask, refine(_prob(), **refine_options))
    events, result = _run(iter_finetune(create_model("basnet_lite"), _samples(), _config()))
    assert [event.done for event in events] == [1, 2, 3, 4]
    assert all(isinstance(event, Progress) and event.message for event in events)
    assert result.history == events


def test_a_stop_event_ends_predict_and_refine_between_steps_with_cancelled():
    model = create_model("basnet_lite")
    stop = threading.Event()
    events = iter_predict(model, _image(), tile_size=32, device="cpu", stop=stop)
    next(events)
    stop.set()
    with pytest.raises(Cancelled):
        next(events)
    stop = threading.Event()
    prn = create_model("prn_p64_lite", width=4).train()
    events = iter_refine(_prob(), patch_size=16, prn=prn, window=32, device="cpu", stop=stop)
    next(events)
    stop.set()
    with pytest.raises(Cancelled):
        next(events)
    assert prn.training  # the training flag is restored when a stop ends the run


def test_a_stop_event_ends_finetune_between_steps_with_its_result():
    stop = threading.Event()
    events = iter_finetune(create_model("basnet_lite"), _samples(), _config(), stop=stop)
    next(events)
    stop.set()
    with pytest.raises(StopIteration) as finished:
        next(events)
    result = finished.value.value
    assert result.stopped_by_user and result.state.step == 1
    stop = threading.Event()
    stop.set()
    result = finetune(create_model("basnet_lite"), _samples(), _config(), stop=stop)
    assert result.stopped_by_user and result.state.step == 0


def test_progress_callbacks_still_work():
    calls = []
    refine(_prob(), patch_size=16, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 1)]


def test_refine_is_a_function_with_its_real_signature():
    assert inspect.isfunction(napari_segrefine.refine)
    parameters = inspect.signature(napari_segrefine.refine).parameters
    assert list(parameters)[:3] == ["prob", "patch_size", "prn"]
    assert parameters["patch_size"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["patch_size"].default == 64 and parameters["prn"].default is None
