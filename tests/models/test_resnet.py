"""ResNet pieces: torchvision parameter counts and state-dict key names."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from napari_segrefine.models.resnet import (
    RESNET18_BLOCKS,
    RESNET34_BLOCKS,
    BasicBlock,
    ResNetTrunk,
    make_layer,
)

IMAGENET_FC_PARAMS = 512 * 1000 + 1000


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("blocks", "torchvision_params", "torchvision_keys"),
    [(RESNET18_BLOCKS, 11_689_512, 122), (RESNET34_BLOCKS, 21_797_672, 218)],
)
def test_trunk_matches_torchvision_without_fc(blocks, torchvision_params, torchvision_keys):
    trunk = ResNetTrunk(blocks)
    assert _count(trunk) + IMAGENET_FC_PARAMS == torchvision_params
    assert len(trunk.state_dict()) + 2 == torchvision_keys  # fc.weight, fc.bias


def test_resnet34_trunk_param_count():
    assert _count(ResNetTrunk(RESNET34_BLOCKS)) == 21_284_672


def test_trunk_key_names_follow_torchvision():
    state = ResNetTrunk(RESNET34_BLOCKS).state_dict()
    assert state["conv1.weight"].shape == (64, 3, 7, 7)
    assert state["layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1)
    assert state["layer2.0.downsample.1.running_mean"].shape == (128,)
    assert state["layer3.5.bn2.num_batches_tracked"].shape == ()
    assert state["layer4.2.conv2.weight"].shape == (512, 512, 3, 3)
    assert "layer3.6.conv1.weight" not in state
    downsampled = {key.split(".downsample")[0] for key in state if ".downsample." in key}
    assert downsampled == {"layer2.0", "layer3.0", "layer4.0"}
    assert not any(key.startswith("fc.") for key in state)


def test_trunk_returns_strides_8_16_32():
    trunk = ResNetTrunk(RESNET18_BLOCKS, widths=(8, 16, 32, 64), in_channels=1).eval()
    with torch.no_grad():
        feats = trunk(torch.randn(2, 1, 64, 96))
    assert [tuple(f.shape) for f in feats] == [(2, 16, 8, 12), (2, 32, 4, 6), (2, 64, 2, 3)]


def test_make_layer_strides_first_block_only():
    layer = make_layer(8, 16, blocks=3, stride=2)
    assert len(layer) == 3
    assert layer[0].conv1.stride == (2, 2) and layer[0].downsample is not None
    assert all(block.downsample is None and block.conv1.stride == (1, 1) for block in layer[1:])
    out = layer(torch.randn(1, 8, 16, 16))
    assert out.shape == (1, 16, 8, 8)


def test_basic_block_identity_shortcut_adds_input():
    block = BasicBlock(4, 4).eval()
    nn.init.zeros_(block.bn2.weight)  # residual branch outputs its BN bias (zero)
    x = torch.rand(1, 4, 8, 8)
    with torch.no_grad():
        assert torch.equal(block(x), x)
