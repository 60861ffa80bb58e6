"""BASNet: upstream layout at width 64, call contract on the small ``basnet_lite`` width."""

from __future__ import annotations

import pytest
import torch

from napari_segrefine.errors import SegRefineError
from napari_segrefine.models.basnet import BASNet

LITE_WIDTH = 8


@pytest.fixture(scope="module")
def full() -> BASNet:
    return BASNet()


@pytest.fixture(scope="module")
def full_state(full) -> dict[str, torch.Tensor]:
    return full.state_dict()


def _train_with_frozen_bn(model: BASNet) -> None:
    """Train mode (tuple output) while BN uses running stats, as in eval mode."""
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()


@pytest.fixture
def lite() -> BASNet:
    torch.manual_seed(0)
    return BASNet(width=LITE_WIDTH)


def test_full_width_has_upstream_parameter_count(full):
    assert sum(p.numel() for p in full.parameters()) == 87_060_360
    assert sum(p.numel() for p in full.refunet.parameters()) == 482_177


def test_full_width_state_dict_matches_upstream_layout(full_state):
    keys = list(full_state)
    assert len(keys) == 517
    assert sum(key.endswith("num_batches_tracked") for key in keys) == 78
    assert len({key.split(".")[0] for key in keys}) == 62


@pytest.mark.parametrize(
    ("key", "shape"),
    [
        ("inconv.weight", (64, 3, 3, 3)),
        ("inbn.running_var", (64,)),
        ("encoder1.0.conv1.weight", (64, 64, 3, 3)),
        ("encoder2.0.downsample.0.weight", (128, 64, 1, 1)),
        ("encoder2.0.downsample.1.weight", (128,)),
        ("encoder3.5.bn2.bias", (256,)),
        ("resb6_3.bn2.bias", (512,)),
        ("convbg_1.weight", (512, 512, 3, 3)),
        ("convbg_1.bias", (512,)),
        ("bnbg_m.running_mean", (512,)),
        ("conv6d_1.weight", (512, 1024, 3, 3)),
        ("conv4d_2.weight", (256, 512, 3, 3)),
        ("conv1d_1.weight", (64, 128, 3, 3)),
        ("outconvb.weight", (1, 512, 3, 3)),
        ("outconv1.bias", (1,)),
        ("refunet.conv0.weight", (64, 1, 3, 3)),
        ("refunet.bn5.weight", (64,)),
        ("refunet.conv_d4.weight", (64, 128, 3, 3)),
        ("refunet.conv_d0.weight", (1, 64, 3, 3)),
    ],
)
def test_full_width_sample_keys(full_state, key, shape):
    assert tuple(full_state[key].shape) == shape


def test_full_width_has_no_resnet_stem_or_head(full_state):
    assert not any(key.startswith(("conv1.", "bn1.", "fc.", "layer")) for key in full_state)


def test_lite_is_small(lite):
    assert sum(p.numel() for p in lite.parameters()) == 1_368_376


def test_eval_returns_refined_logits(lite):
    lite.eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        out = lite(x)
    assert isinstance(out, torch.Tensor)
    assert out.shape == (1, 1, 64, 96)
    assert torch.isfinite(out).all()
    _train_with_frozen_bn(lite)
    with torch.no_grad():
        outputs = lite(x)
    torch.testing.assert_close(outputs[0], out)


def test_train_returns_eight_logit_maps_and_backpropagates(lite):
    lite.train()
    x = torch.randn(2, 3, 64, 64)
    outputs = lite(x)
    assert isinstance(outputs, tuple) and len(outputs) == 8
    for logits in outputs:
        assert logits.shape == (2, 1, 64, 64)
        assert torch.isfinite(logits).all()
    assert any((logits < 0).any() or (logits > 1).any() for logits in outputs)  # no sigmoid
    target = (x[:, :1] > 0).float()
    loss = sum(torch.nn.functional.binary_cross_entropy_with_logits(o, target) for o in outputs)
    loss.backward()
    grads = [p.grad for p in lite.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert lite.inconv.weight.grad.abs().sum() > 0


def test_refined_map_is_d1_plus_residual(lite):
    _train_with_frozen_bn(lite)
    with torch.no_grad():
        lite.refunet.conv_d0.weight.zero_()
        lite.refunet.conv_d0.bias.zero_()
        refined, d1 = lite(torch.randn(1, 3, 32, 32))[:2]
    torch.testing.assert_close(refined, d1)


@pytest.mark.parametrize("size", [(64, 80), (250, 250), (16, 64)])
def test_size_not_multiple_of_32_raises(lite, size):
    with pytest.raises(SegRefineError, match="multiples of 32"):
        lite.eval()(torch.zeros(1, 3, *size))


def test_wrong_channel_count_raises(lite):
    with pytest.raises(SegRefineError, match="B x 3 x H x W"):
        lite.eval()(torch.zeros(1, 1, 64, 64))


def test_num_classes_other_than_one_raises():
    with pytest.raises(SegRefineError, match="num_classes=2"):
        BASNet(num_classes=2, width=LITE_WIDTH)


def test_multiband_input_changes_only_inconv():
    four_band = BASNet(in_channels=4, width=LITE_WIDTH).eval()
    assert four_band.inconv.weight.shape == (LITE_WIDTH, 4, 3, 3)
    rgb_shapes = {k: v.shape for k, v in BASNet(width=LITE_WIDTH).state_dict().items()}
    differing = [k for k, v in four_band.state_dict().items() if rgb_shapes[k] != v.shape]
    assert differing == ["inconv.weight"]
    with torch.no_grad():
        assert four_band(torch.randn(1, 4, 32, 64)).shape == (1, 1, 32, 64)


def test_encoder_modules_cover_exactly_the_encoder(lite):
    encoder = lite.encoder_modules()
    assert len(encoder) == 12
    encoder_ids = {id(p) for module in encoder for p in module.parameters()}
    prefixes = ("inconv.", "inbn.", "encoder", "resb")
    named = {id(p) for name, p in lite.named_parameters() if name.startswith(prefixes)}
    assert encoder_ids == named
    for module in encoder:
        module.requires_grad_(False)
    trainable = [name for name, p in lite.named_parameters() if p.requires_grad]
    assert trainable and not any(name.startswith(prefixes) for name in trainable)
