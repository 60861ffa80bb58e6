"""Out of memory in `predict`: smaller batches, smaller tiles, then the CPU; never a crash."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from napari_segrefine.engine import predict
from napari_segrefine.engine.oom import RunPlan, smaller
from napari_segrefine.errors import SegRefineError


class RunsOutAbove(nn.Module):
    """The pointwise test model, raising out-of-memory above a batch size or tile side."""

    def __init__(self, inner: nn.Module, max_batch: int, max_side: int) -> None:
        super().__init__()
        self.inner = inner
        self.segrefine_config = inner.segrefine_config
        self.limits = (max_batch, max_side)
        self.refused: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.limits[0] or max(x.shape[2:]) > self.limits[1]:
            self.refused.append(tuple(x.shape))
            raise torch.OutOfMemoryError("fake: out of memory")
        return self.inner(x)


def _image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (300, 280, 3), dtype=np.uint8)


def test_batch_then_tile_shrink_until_the_slice_fits(pointwise_model):
    model = RunsOutAbove(pointwise_model, max_batch=1, max_side=160)
    with pytest.warns(UserWarning, match="out of memory") as caught:
        result = predict(model, _image(), tile_size=256, batch_size=2, device="cpu")
    messages = [str(w.message) for w in caught if "out of memory" in str(w.message)]
    assert len(messages) == 2
    assert "1 tile(s) of 256 x 256" in messages[0] and "1 tile(s) of 128 x 128" in messages[1]
    assert model.refused[0][0] == 2 and model.refused[-1][0] == 1
    expected = predict(pointwise_model, _image(), tile_size=128, batch_size=1, device="cpu")
    np.testing.assert_array_equal(result.probabilities, expected.probabilities)


def test_a_stack_keeps_the_plan_that_fitted(pointwise_model):
    model = RunsOutAbove(pointwise_model, max_batch=1, max_side=10_000)
    stack = np.stack([_image(), _image()[::-1].copy()])
    with pytest.warns(UserWarning, match="out of memory") as caught:
        result = predict(model, stack, tile_size=128, batch_size=3, device="cpu")
    assert sum("out of memory" in str(w.message) for w in caught) == 1
    assert len(model.refused) == 1 and result.probabilities.shape == (2, 300, 280)


def test_nothing_left_to_shrink_is_one_clear_error(pointwise_model):
    model = RunsOutAbove(pointwise_model, max_batch=0, max_side=0)
    with pytest.warns(UserWarning), pytest.raises(SegRefineError, match="out of memory even"):
        predict(model, _image(), tile_size=256, batch_size=2, device="cpu")


def test_the_order_of_smaller_plans_ends_on_the_cpu():
    plan = RunPlan(torch.device("cuda"), (512, 384), 4)
    seen = [plan]
    while True:
        try:
            seen.append(smaller(seen[-1]))
        except SegRefineError:
            break
    assert [p.batch for p in seen[:2]] == [4, 1]
    assert [p.tile for p in seen[1:5]] == [(512, 384), (256, 192), (128, 128), (128, 128)]
    assert seen[-1].device.type == "cpu" and seen[-2].device.type == "cuda"
