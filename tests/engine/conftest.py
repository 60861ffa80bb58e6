"""Stand-in models for engine tests: pointwise, so tiling cannot change their output."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from napari_segrefine.models.config import ModelConfig
from napari_segrefine.models.normalization import BASNET_NORM


class PointwiseModel(nn.Module):
    """logits[k] = sum_c gain[k, c] * x[c] + bias[k], one elementwise op at a time.

    Records the shapes it was called with, to check batching and padding.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 1) -> None:
        super().__init__()
        gains = torch.linspace(-1.5, 2.0, num_classes * in_channels)
        self.gain = nn.Parameter(gains.reshape(num_classes, in_channels))
        self.bias = nn.Parameter(torch.linspace(-0.5, 0.5, num_classes))
        self.input_shapes: list[tuple[int, ...]] = []
        self.segrefine_config = ModelConfig(
            "basnet_lite",
            {"num_classes": num_classes, "in_channels": in_channels},
            BASNET_NORM,
            "image",
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.input_shapes.append(tuple(x.shape))
        classes = []
        for k in range(self.gain.shape[0]):
            logit = self.bias[k] + self.gain[k, 0] * x[:, 0]
            for c in range(1, x.shape[1]):
                logit = logit + self.gain[k, c] * x[:, c]
            classes.append(logit)
        return torch.stack(classes, dim=1)


@pytest.fixture
def pointwise_model() -> PointwiseModel:
    return PointwiseModel()


@pytest.fixture
def make_pointwise_model() -> type[PointwiseModel]:
    """The stand-in class, for tests that need other channel or class counts."""
    return PointwiseModel
