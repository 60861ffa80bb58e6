from __future__ import annotations

import pytest
import torch
from torch import nn

from napari_segrefine.models.fuse import fold_batchnorm


def _trained_bn(channels: int, affine: bool = True) -> nn.BatchNorm2d:
    """A BatchNorm with running statistics far from the identity."""
    bn = nn.BatchNorm2d(channels, affine=affine)
    generator = torch.Generator().manual_seed(channels)
    bn.running_mean.copy_(torch.randn(channels, generator=generator))
    bn.running_var.copy_(torch.rand(channels, generator=generator) + 0.5)
    if affine:
        bn.weight.data.copy_(torch.randn(channels, generator=generator))
        bn.bias.data.copy_(torch.randn(channels, generator=generator))
    return bn


class Chain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), _trained_bn(4), nn.ReLU())
        self.conv_b = nn.Conv2d(4, 5, 3, padding=1, bias=False)
        self.bn_b = _trained_bn(5, affine=False)
        self.head = nn.Conv2d(5, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.bn_b(self.conv_b(self.a(x)))
        return self.head(features), features


class Branches(Chain):
    """Chain plus a conv whose output is also used raw (so its BatchNorm cannot fold)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_c = nn.Conv2d(5, 5, 1)
        self.bn_c = _trained_bn(5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn_b(self.conv_b(self.a(x)))
        raw = self.conv_c(x)
        return self.bn_c(raw) + raw  # conv_c's output is used twice: not foldable


def test_folding_keeps_the_output_and_replaces_the_batchnorms():
    model = Branches().eval()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        before = model(x)
    # conv_c's output feeds bn_c and the sum: folding bn_c would change the output, so
    # the check undoes every fold
    assert fold_batchnorm(model, x) == 0
    with torch.no_grad():
        torch.testing.assert_close(model(x), before)
    assert isinstance(model.bn_c, nn.BatchNorm2d) and isinstance(model.bn_b, nn.BatchNorm2d)
    assert isinstance(model.a[1], nn.BatchNorm2d) and model.conv_b.bias is None


def test_chain_folds_every_batchnorm_and_the_output_stays():
    model = Chain().eval()
    x, other = torch.rand(1, 3, 12, 12), torch.rand(3, 3, 20, 24)
    with torch.no_grad():
        expected = model(other)
    assert fold_batchnorm(model, x) == 2
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model.conv_b.bias is not None
    with torch.no_grad():
        for got, want in zip(model(other), expected):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_a_model_in_training_mode_is_refused():
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(Chain(), torch.rand(1, 3, 8, 8))


def test_registered_basnet_lite_folds_and_keeps_its_output():
    from napari_segrefine.models import create_model

    model = create_model("basnet_lite").eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    sample, other = torch.rand(1, 3, 64, 64), torch.rand(2, 3, 96, 64)
    with torch.no_grad():
        expected = model(other)[0]
    assert fold_batchnorm(model, sample) > 10
    with torch.no_grad():
        torch.testing.assert_close(model(other)[0], expected, rtol=1e-4, atol=1e-4)
