"""BiSeNet V1/V2: upstream state-dict layout, parameter counts and the call contract."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from napari_segrefine.errors import SegRefineError
from napari_segrefine.models.bisenetv1 import BiSeNetV1
from napari_segrefine.models.bisenetv2 import BiSeNetV2, GatherExpand, GatherExpandDown

V1_AUX_PREFIXES = ("conv_out16.", "conv_out32.")
V2_AUX_PREFIXES = ("aux2.", "aux3.", "aux4.", "aux5_4.")


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """One intra-op thread: on a small shared CPU, OpenMP spin-waiting makes these 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def without_aux(state: dict[str, torch.Tensor], prefixes: tuple[str, ...]) -> dict:
    return {k: v for k, v in state.items() if not k.startswith(prefixes)}


@pytest.mark.parametrize(
    ("build", "num_classes", "aux", "expected"),
    [
        (BiSeNetV1, 19, False, 13_275_539),
        (BiSeNetV1, 171, False, 13_314_603),
        (BiSeNetV1, 19, True, 13_425_721),
        (BiSeNetV2, 19, False, 3_358_627),
        (BiSeNetV2, 171, False, 3_514_427),
        (BiSeNetV2, 150, False, 3_492_902),
        (BiSeNetV2, 19, True, 5_231_487),
    ],
)
def test_parameter_count_matches_upstream(build, num_classes, aux, expected):
    assert param_count(build(num_classes, aux=aux)) == expected


# 34 BatchNorms x 5 tensors (incl. num_batches_tracked) + 35 conv weights + 1 head bias.
V1_KEYS = {
    "cp.resnet.conv1.weight": (64, 3, 7, 7),
    "cp.resnet.layer2.0.downsample.0.weight": (128, 64, 1, 1),
    "cp.resnet.layer4.1.bn2.running_var": (512,),
    "cp.arm16.conv.conv.weight": (128, 256, 3, 3),
    "cp.arm32.conv_atten.weight": (128, 128, 1, 1),
    "cp.arm32.bn_atten.num_batches_tracked": (),
    "cp.conv_avg.conv.weight": (128, 512, 1, 1),
    "cp.conv_head16.bn.weight": (128,),
    "sp.conv1.conv.weight": (64, 3, 7, 7),
    "sp.conv_out.conv.weight": (128, 64, 1, 1),
    "ffm.convblk.conv.weight": (256, 256, 1, 1),
    "ffm.conv.weight": (256, 256, 1, 1),
    "ffm.bn.running_mean": (256,),
    "conv_out.conv.conv.weight": (256, 256, 3, 3),
    "conv_out.conv_out.weight": (19, 256, 1, 1),
    "conv_out.conv_out.bias": (19,),
}
V2_KEYS = {
    "detail.S1.0.conv.weight": (64, 3, 3, 3),
    "detail.S3.2.bn.running_var": (128,),
    "segment.S1S2.conv.conv.weight": (16, 3, 3, 3),
    "segment.S1S2.left.0.conv.weight": (8, 16, 1, 1),
    "segment.S1S2.fuse.conv.weight": (16, 32, 3, 3),
    "segment.S3.0.dwconv1.0.weight": (96, 1, 3, 3),
    "segment.S3.0.dwconv2.0.weight": (96, 1, 3, 3),
    "segment.S3.0.shortcut.2.weight": (32, 16, 1, 1),
    "segment.S3.1.dwconv.0.weight": (192, 1, 3, 3),
    "segment.S5_4.3.conv2.1.weight": (128,),
    "segment.S5_5.bn.weight": (128,),
    "segment.S5_5.conv_last.conv.weight": (128, 128, 3, 3),
    "bga.left1.2.weight": (128, 128, 1, 1),
    "bga.left2.0.weight": (128, 128, 3, 3),
    "bga.right2.0.weight": (128, 1, 3, 3),
    "bga.conv.1.running_mean": (128,),
    "head.conv.conv.weight": (1024, 128, 3, 3),
    "head.conv_out.1.weight": (19, 1024, 1, 1),
    "head.conv_out.1.bias": (19,),
}


@pytest.mark.parametrize(
    ("build", "tensors", "keys"),
    [(BiSeNetV1, 206, V1_KEYS), (BiSeNetV2, 327, V2_KEYS)],
)
def test_eval_state_dict_has_upstream_keys_and_shapes(build, tensors, keys):
    state = build(19, aux=False).state_dict()
    assert len(state) == tensors
    assert {k: tuple(state[k].shape) for k in keys} == keys


def test_aux_heads_have_upstream_keys():
    v1 = BiSeNetV1(19).state_dict()
    v2 = BiSeNetV2(19).state_dict()
    assert v1["conv_out16.conv.conv.weight"].shape == (64, 128, 3, 3)
    assert v1["conv_out32.conv_out.weight"].shape == (19, 64, 1, 1)
    assert v2["aux2.conv_out.0.1.conv.weight"].shape == (16, 128, 3, 3)
    assert v2["aux5_4.conv_out.0.1.conv.weight"].shape == (1024, 128, 3, 3)
    assert v2["aux4.conv_out.1.weight"].shape == (19, 256, 1, 1)


def test_legacy_ffm_layout_has_two_layer_gate():
    state = BiSeNetV1(19, aux=False, ffm_layout="legacy").state_dict()
    assert state["ffm.conv1.weight"].shape == (64, 256, 1, 1)
    assert state["ffm.conv2.weight"].shape == (256, 64, 1, 1)
    assert not any(k in state for k in ("ffm.conv.weight", "ffm.bn.weight", "ffm.conv1.bias"))
    assert len(state) == 206 - 6 + 2


def test_unknown_ffm_layout_raises():
    with pytest.raises(SegRefineError, match="ffm_layout"):
        BiSeNetV1(ffm_layout="newest")


@pytest.mark.parametrize(
    ("build", "prefixes"), [(BiSeNetV1, V1_AUX_PREFIXES), (BiSeNetV2, V2_AUX_PREFIXES)]
)
def test_checkpoint_with_aux_keys_loads_strictly_without_aux(build, prefixes):
    trained = build(3, aux=True).state_dict()
    plain = build(3, aux=False)
    stripped = without_aux(trained, prefixes)
    assert len(stripped) < len(trained)
    result = plain.load_state_dict(stripped, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    with pytest.raises(RuntimeError, match="Unexpected key"):
        plain.load_state_dict(trained, strict=True)


@pytest.mark.parametrize("build", [BiSeNetV1, BiSeNetV2])
@pytest.mark.parametrize(("num_classes", "in_channels"), [(1, 1), (19, 3)])
def test_eval_returns_logits_at_input_size(build, num_classes, in_channels):
    model = build(num_classes, in_channels=in_channels).eval()
    x = torch.randn(1, in_channels, 64, 64, requires_grad=True)
    logits = model(x)
    assert isinstance(logits, torch.Tensor)
    assert logits.shape == (1, num_classes, 64, 64)
    logits.sum().backward()
    assert torch.isfinite(logits).all() and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize(("build", "n_aux"), [(BiSeNetV1, 2), (BiSeNetV2, 4)])
@pytest.mark.parametrize(("num_classes", "aux"), [(1, False), (19, True)])
def test_train_returns_main_then_aux_logits(build, n_aux, num_classes, aux):
    model = build(num_classes, aux=aux).train()
    outputs = model(torch.randn(2, 3, 64, 64))
    assert isinstance(outputs, tuple) and len(outputs) == 1 + (n_aux if aux else 0)
    assert all(out.shape == (2, num_classes, 64, 64) for out in outputs)
    sum(out.mean() for out in outputs).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("build", [BiSeNetV1, BiSeNetV2])
@pytest.mark.parametrize("shape", [(1, 3, 64, 70), (1, 3, 48, 64), (3, 64, 64), (1, 4, 64, 64)])
def test_bad_input_raises(build, shape):
    with pytest.raises(SegRefineError):
        build(1).eval()(torch.randn(*shape))


@pytest.mark.parametrize("build", [BiSeNetV1, BiSeNetV2])
def test_nonpositive_classes_raise(build):
    with pytest.raises(SegRefineError, match="num_classes"):
        build(0)


def test_encoder_modules_are_the_backbones():
    v1, v2 = BiSeNetV1(1), BiSeNetV2(1)
    assert v1.encoder_modules() == [v1.cp.resnet]
    assert v2.encoder_modules() == [v2.detail, v2.segment]


def test_gather_expand_projection_bn_starts_at_zero():
    model = BiSeNetV2(1)
    ge_layers = (GatherExpand, GatherExpandDown)
    last_bns = [m.conv2[1] for m in model.segment.modules() if isinstance(m, ge_layers)]
    assert len(last_bns) == 8
    assert all(torch.count_nonzero(bn.weight) == 0 for bn in last_bns)
    assert torch.all(model.segment.S3[0].shortcut[3].weight == 1)
