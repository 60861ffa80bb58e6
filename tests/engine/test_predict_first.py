"""`iter_predict(first=...)`: a part of the image (what a viewer shows) before the rest."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from napari_segrefine.engine import FirstPart, Progress, iter_predict, predict
from napari_segrefine.errors import SegRefineError
from napari_segrefine.generators import drain
from napari_segrefine.models.config import ModelConfig
from napari_segrefine.models.normalization import BASNET_NORM

TILE = 64


class ContextModel(nn.Module):
    """A 3 x 3 convolution plus each tile's mean: its output depends on the tiling.

    Counts the tiles it runs in ``ContextModel.tiles`` (`predict` runs a copy of it),
    to check that none runs twice.
    """

    tiles = 0

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3, padding=1)
        self.segrefine_config = ModelConfig(
            "basnet_lite", {"num_classes": 1, "in_channels": 3}, BASNET_NORM, "image"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ContextModel.tiles += x.shape[0]
        return self.conv(x) + 3 * x.mean(dim=(1, 2, 3), keepdim=True)


def image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def run(model, data, **options):
    """The events of `iter_predict` and its prediction, on the CPU with small tiles."""
    events = []
    options = {"tile_size": TILE, "device": "cpu", **options}
    result = drain(iter_predict(model, data, **options), events.append)
    return events, result


def tiles_before(events: list, event: Progress) -> int:
    """Tiles run when ``event`` came: the last tile event before it."""
    before = events[: events.index(event)]
    return max(e.done for e in before if not isinstance(e, FirstPart))


def test_the_first_part_equals_the_whole_prediction_there_and_no_tile_runs_twice():
    torch.manual_seed(0)
    model, data = ContextModel(), image((200, 250))
    ContextModel.tiles = 0
    whole = predict(model, data, tile_size=TILE, device="cpu")
    whole_tiles, ContextModel.tiles = ContextModel.tiles, 0
    events, result = run(model, data, first=(70, 110, 90, 140))
    parts = [e for e in events if isinstance(e, FirstPart)]
    assert len(parts) == 1
    part = parts[0]
    assert part.index is None and part.region == (70, 110, 90, 140)
    np.testing.assert_array_equal(part.probabilities, whole.probabilities[70:110, 90:140])
    np.testing.assert_array_equal(result.probabilities, whole.probabilities)
    assert ContextModel.tiles == whole_tiles  # the part's 4 tiles did not run again
    assert events[-1].total == 25 + 4  # the progress counts them in both passes
    assert tiles_before(events, part) == 4  # it came after its own tiles
    done = [e.done for e in events]
    assert done == sorted(done) and events[-1].done == events[-1].total


def test_a_stack_runs_the_first_part_s_slice_first():
    torch.manual_seed(1)
    model, stack = ContextModel(), image((3, 90, 100))
    whole = predict(model, stack, tile_size=TILE, device="cpu")
    events, result = run(model, stack, first=(2, 10, 50, 20, 60))
    part = next(e for e in events if isinstance(e, FirstPart))
    assert part.index == 2
    np.testing.assert_array_equal(part.probabilities, whole.probabilities[2, 10:50, 20:60])
    np.testing.assert_array_equal(result.probabilities, whole.probabilities)
    per_slice = events[-1].total // 3
    assert tiles_before(events, part) <= per_slice  # before the other slices


def test_a_one_tile_image_has_no_part_to_give_first():
    """Nothing comes after its one tile, so no event is worth sending."""
    events, result = run(ContextModel(), image((60, 60)), first=(0, 10, 0, 10))
    assert not any(isinstance(e, FirstPart) for e in events)
    assert result.probabilities.shape == (60, 60)


@pytest.mark.parametrize(
    "first, words",
    [
        ((0, 10, 0), "must be ints (y0, y1, x0, x1)"),
        ((0.5, 10, 0, 10), "must be ints"),
        ((0, 10, 0, 300), "outside the image"),
        ((10, 10, 0, 5), "empty"),
    ],
)
def test_a_bad_first_part_is_one_clear_error(first, words):
    with pytest.raises(SegRefineError, match=words.replace("(", r"\(").replace(")", r"\)")):
        run(ContextModel(), image((100, 120)), first=first)


def test_a_stack_needs_the_slice_of_its_first_part():
    with pytest.raises(SegRefineError, match="in a stack"):
        run(ContextModel(), image((2, 50, 50)), first=(0, 10, 0, 10))
    with pytest.raises(SegRefineError, match="outside the image"):
        run(ContextModel(), image((2, 50, 50)), first=(2, 0, 10, 0, 10))
