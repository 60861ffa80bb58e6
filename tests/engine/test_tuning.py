"""The tuned inference path (BatchNorm folded, channels_last) against the eager fp32 path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from napari_segrefine.engine import device as device_module
from napari_segrefine.engine import predict
from napari_segrefine.engine.device import autocast_dtype
from napari_segrefine.engine.tuning import eager, inference_copy, tuned
from napari_segrefine.generators import drain
from napari_segrefine.models import create_model
from napari_segrefine.refine.prn_windows import iter_prn_probabilities

CPU = torch.device("cpu")


@pytest.fixture
def basnet_lite() -> nn.Module:
    """basnet_lite with BatchNorm statistics far from the identity (so folding matters)."""
    torch.manual_seed(0)
    model = create_model("basnet_lite")
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.3, 0.3)
            module.running_var.uniform_(0.5, 2.0)
    return model


def _image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_eager_block_turns_the_tuned_path_off_and_back_on():
    assert tuned()
    with eager():
        assert not tuned()
    assert tuned()


def test_inference_copy_folds_a_copy_and_leaves_the_model(basnet_lite):
    basnet_lite.eval()
    before = {k: v.clone() for k, v in basnet_lite.state_dict().items()}
    runner = inference_copy(basnet_lite, CPU, 3)
    assert runner.module is not basnet_lite
    assert runner.folded > 10 and runner.channels_last
    assert not any(isinstance(m, nn.BatchNorm2d) for m in runner.module.modules())
    after = basnet_lite.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    with eager():
        assert inference_copy(basnet_lite, CPU, 3).module is basnet_lite


def test_a_model_in_training_mode_runs_as_it_is(basnet_lite):
    assert inference_copy(basnet_lite.train(), CPU, 3).module is basnet_lite


def test_tuned_predict_equals_the_eager_fp32_path(basnet_lite):
    rgb = _image((80, 112, 3))
    tuned_result = predict(basnet_lite, rgb, tile_size=64, device="cpu", precision="fp32")
    with eager():
        eager_result = predict(basnet_lite, rgb, tile_size=64, device="cpu", precision="fp32")
    np.testing.assert_allclose(
        tuned_result.probabilities, eager_result.probabilities, rtol=0, atol=1e-4
    )
    np.testing.assert_allclose(tuned_result.boundary, eager_result.boundary, atol=1e-3)
    assert any(isinstance(m, nn.BatchNorm2d) for m in basnet_lite.modules())


def test_tuned_bf16_stays_within_its_stated_tolerance(basnet_lite):
    if autocast_dtype(CPU, "bf16") is None:
        pytest.skip("this CPU has no bf16 instructions")
    rgb = _image((64, 96, 3), seed=1)
    with eager():
        full = predict(basnet_lite, rgb, device="cpu", precision="fp32").probabilities
    half = predict(basnet_lite, rgb, device="cpu", precision="bf16").probabilities
    assert half.dtype == np.float32
    np.testing.assert_allclose(half, full, rtol=0, atol=0.05)


def test_bf16_without_cpu_support_falls_back_to_fp32(monkeypatch):
    monkeypatch.setattr(device_module, "cpu_supports_bf16", lambda: False)
    with pytest.warns(UserWarning, match="no bf16"):
        assert autocast_dtype(CPU, "bf16") is None
    assert autocast_dtype(CPU, "auto") is None


def test_a_model_that_fails_on_the_sample_runs_unfolded(basnet_lite):
    class SizeBound(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 1, 3, padding=1)
            self.bn = nn.BatchNorm2d(1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[-1] < 96:
                raise RuntimeError("too small")
            return self.bn(self.conv(x))

    runner = inference_copy(SizeBound().eval(), CPU, 3)
    assert runner.folded == 0
    assert isinstance(runner.module.bn, nn.BatchNorm2d)


def _prn_probabilities(model: nn.Module, prob: np.ndarray, **kwargs) -> tuple:
    events = iter_prn_probabilities(model, prob, patch_size=16, window=32, device="cpu", **kwargs)
    return drain(events)


def test_prn_windows_tuned_and_batched_equal_the_eager_path():
    torch.manual_seed(1)
    model = create_model("prn_p64_lite", width=4)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.3, 0.3)
            module.running_var.uniform_(0.5, 2.0)
    prob = np.random.default_rng(2).random((70, 45)).astype(np.float32)
    with eager():
        reference = _prn_probabilities(model, prob)
    for batch_size in (1, 3):
        got = _prn_probabilities(model, prob, batch_size=batch_size)
        for part, expected in zip(got, reference):
            np.testing.assert_allclose(part, expected, rtol=0, atol=1e-4)


def test_prn_windows_in_bf16_stay_close():
    if autocast_dtype(CPU, "bf16") is None:
        pytest.skip("this CPU has no bf16 instructions")
    model = create_model("prn_p64_lite", width=4)
    prob = np.random.default_rng(3).random((48, 64)).astype(np.float32)
    full = _prn_probabilities(model, prob, precision="fp32")
    half = _prn_probabilities(model, prob, precision="bf16")
    for part, expected in zip(half, full):
        assert part.dtype == np.float32
        np.testing.assert_allclose(part, expected, rtol=0, atol=0.05)
