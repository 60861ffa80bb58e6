from __future__ import annotations

import pickle

import pytest
import torch

from napari_segrefine import SegRefineError, create_model, load_checkpoint, save_checkpoint
from napari_segrefine.models import model_config


def _same_outputs(a, b, x):
    with torch.no_grad():
        out_a, out_b = a(x), b(x)
    out_a = out_a if isinstance(out_a, tuple) else (out_a,)
    out_b = out_b if isinstance(out_b, tuple) else (out_b,)
    return all(
        (p is None and q is None) or torch.equal(p, q) for p, q in zip(out_a, out_b, strict=True)
    )


@pytest.mark.parametrize(
    ("name", "x"),
    [
        ("basnet_lite", torch.randn(1, 3, 64, 64)),
        ("bisenetv2_binary", torch.randn(1, 3, 64, 64)),
        ("prn_p64_lite", torch.rand(1, 1, 64, 64)),
    ],
)
def test_save_load_round_trip_gives_identical_outputs(tmp_path, name, x):
    model = create_model(name)
    path = save_checkpoint(model, tmp_path / "ckpt", note="round trip")
    assert path.suffix == ".safetensors"
    loaded = load_checkpoint(path)
    config = model_config(loaded)
    assert config.arch == name
    assert config.provenance["note"] == "round trip"
    assert _same_outputs(model, loaded, x)


def test_half_precision_checkpoint_is_smaller_and_close(tmp_path):
    model = create_model("basnet_lite")
    full = save_checkpoint(model, tmp_path / "full.safetensors")
    half = save_checkpoint(model, tmp_path / "half.safetensors", half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_checkpoint(half)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x), atol=5e-2)


def _upstream_layout(model, drop_tracked=True, wrap="model"):
    state = {
        k: v.clone()
        for k, v in model.state_dict().items()
        if not (drop_tracked and k.endswith("num_batches_tracked"))
    }
    return {wrap: state} if wrap else state


@pytest.mark.parametrize("wrap", ["model", "state_dict", None])
def test_upstream_bisenet_with_aux_keys_loads_strictly(tmp_path, wrap):
    source = create_model("bisenetv2", aux=True)
    torch.save(_upstream_layout(source, wrap=wrap), tmp_path / "model_final_v2_city.pth")
    loaded = load_checkpoint(tmp_path / "model_final_v2_city.pth")
    config = model_config(loaded)
    assert config.arch == "bisenetv2"
    assert config.kwargs["aux"] is True and config.kwargs["num_classes"] == 19
    assert config.normalization.mean[0] == pytest.approx(0.3257)  # Cityscapes stats
    assert _same_outputs(source, loaded, torch.randn(1, 3, 64, 64))


def test_aux_keys_are_dropped_when_asking_for_an_inference_model(tmp_path):
    source = create_model("bisenetv1", aux=True)
    torch.save(_upstream_layout(source), tmp_path / "v1.pth")
    loaded = load_checkpoint(tmp_path / "v1.pth", aux=False)
    assert not any(k.startswith("conv_out16") for k in loaded.state_dict())
    assert _same_outputs(source, loaded, torch.randn(1, 3, 64, 64))


def test_coco_class_count_brings_coco_normalization(tmp_path):
    source = create_model("bisenetv2", num_classes=171, aux=False)
    torch.save(_upstream_layout(source, wrap=None), tmp_path / "model_final_v2_coco.pth")
    config = model_config(load_checkpoint(tmp_path / "model_final_v2_coco.pth"))
    assert config.num_classes == 171
    assert config.normalization.mean[0] == pytest.approx(0.46962251)


def test_legacy_ffm_layout_is_recognized(tmp_path):
    source = create_model("bisenetv1", ffm_layout="legacy", aux=False)
    torch.save(_upstream_layout(source), tmp_path / "model_final_v1_city.pth")
    loaded = load_checkpoint(tmp_path / "model_final_v1_city.pth")
    assert model_config(loaded).kwargs["ffm_layout"] == "legacy"


def test_upstream_basnet_and_prn_files_are_recognized(tmp_path):
    torch.save(_upstream_layout(create_model("basnet_lite"), wrap=None), tmp_path / "b.pth")
    assert model_config(load_checkpoint(tmp_path / "b.pth")).arch == "basnet_lite"
    torch.save(_upstream_layout(create_model("prn_p64"), wrap=None), tmp_path / "p64.th")
    config = model_config(load_checkpoint(tmp_path / "p64.th"))
    assert config.arch == "prn_p64"
    assert config.kwargs["upstream_row7_quirk"] is True


def test_missing_file(tmp_path):
    with pytest.raises(SegRefineError, match="not found"):
        load_checkpoint(tmp_path / "nope.pth")


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello, I am text")
    with pytest.raises(SegRefineError, match="notes.pth is not a checkpoint"):
        load_checkpoint(path)
    path.write_bytes(b"notatorchfile")
    with pytest.raises(SegRefineError, match="not a checkpoint"):
        load_checkpoint(path)


def test_headerless_prn_gets_the_quirk_only_at_upstream_size(tmp_path):
    torch.save(_upstream_layout(create_model("prn_p64_lite"), wrap=None), tmp_path / "l.th")
    assert model_config(load_checkpoint(tmp_path / "l.th")).kwargs["upstream_row7_quirk"] is False


def test_saved_checkpoint_is_readable_by_others(tmp_path):
    path = save_checkpoint(create_model("prn_p0"), tmp_path / "shared")
    assert path.stat().st_mode & 0o044 == 0o044


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.pth"
    torch.save(_upstream_layout(create_model("basnet_lite")), path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(SegRefineError, match="cut.pth is not a readable checkpoint"):
        load_checkpoint(path)


def test_truncated_safetensors(tmp_path):
    path = save_checkpoint(create_model("prn_p64_lite"), tmp_path / "cut")
    path.write_bytes(path.read_bytes()[:4000])
    with pytest.raises(SegRefineError, match="cut.safetensors"):
        load_checkpoint(path)


class _Payload:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_code_is_never_run(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"model": _Payload()}, f)
    torch.save({"model": {"w": torch.zeros(1)}, "hook": _Payload()}, tmp_path / "evil2.pth")
    for bad in (path, tmp_path / "evil2.pth"):
        with pytest.raises(SegRefineError, match="pickled objects|not a readable"):
            load_checkpoint(bad)
    assert "pwned" not in capsys.readouterr().out


def test_checkpoint_of_another_architecture(tmp_path):
    torch.save(_upstream_layout(create_model("prn_p0")), tmp_path / "prn.th")
    with pytest.raises(SegRefineError, match="prn.th .*prn.*not basnet"):
        load_checkpoint(tmp_path / "prn.th", arch="basnet")


def test_unknown_keys_name_the_first_few(tmp_path):
    state = _upstream_layout(create_model("basnet_lite"), wrap=None)
    state["extra.weight"] = torch.zeros(3)
    del state["outconv1.weight"]
    torch.save(state, tmp_path / "odd.pth")
    with pytest.raises(SegRefineError) as info:
        load_checkpoint(tmp_path / "odd.pth")
    message = str(info.value)
    assert "odd.pth" in message and "basnet_lite" in message
    assert "outconv1.weight" in message and "extra.weight" in message
    assert "\n" not in message


def test_shape_mismatch_is_named(tmp_path):
    source = create_model("bisenetv2", num_classes=19, aux=False)
    torch.save(_upstream_layout(source), tmp_path / "v2.pth")
    with pytest.raises(SegRefineError, match="shape keys .*head.conv_out.1.weight"):
        load_checkpoint(tmp_path / "v2.pth", num_classes=3)


def test_foreign_state_dict(tmp_path):
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "resnet.pth")
    with pytest.raises(SegRefineError, match="not a BASNet, BiSeNet or PatchRefineNet"):
        load_checkpoint(tmp_path / "resnet.pth")
