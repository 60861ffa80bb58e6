"""Hostile checkpoints: bad configs, absurd sizes, zip bombs and NaN weights are refused."""

from __future__ import annotations

import json
import zipfile

import pytest
import torch
from safetensors.torch import save_file

from napari_segrefine import create_model, load_checkpoint, save_checkpoint
from napari_segrefine.errors import SegRefineError
from napari_segrefine.models import checkpoint, model_config
from napari_segrefine.models.checkpoint import META_KEY


@pytest.fixture
def lite_state() -> dict[str, torch.Tensor]:
    return {k: v.contiguous() for k, v in create_model("prn_p64_lite").state_dict().items()}


@pytest.fixture
def no_model_building(monkeypatch):
    """Fail the test if any real (non-meta) model were built."""
    monkeypatch.setattr(checkpoint, "build_model", pytest.fail)


HOSTILE_HEADERS = {
    "not JSON": ("{arch: prn", "not valid JSON"),
    "a list": (json.dumps(["prn_p64_lite"]), "expected a JSON object"),
    "no arch": (json.dumps({"kwargs": {}}), "no architecture"),
    "unknown arch": (json.dumps({"arch": "resnet9000"}), "unknown model"),
    "non-numeric mean": (
        json.dumps({"arch": "prn_p64_lite", "normalization": {"mean": ["a"]}}),
        "finite numbers",
    ),
    "width 4000": (json.dumps({"arch": "prn_p64_lite", "kwargs": {"width": 4000}}), "1..1024"),
    "width 1e6": (json.dumps({"arch": "prn_p64_lite", "kwargs": {"width": 1e6}}), "wrong type"),
    "num_classes 1e9": (
        json.dumps({"arch": "bisenetv2", "kwargs": {"num_classes": 10**9}}),
        "1..10000",
    ),
    "unknown setting": (json.dumps({"arch": "prn_p64_lite", "kwargs": {"depth": 3}}), "depth"),
    "kwargs a list": (json.dumps({"arch": "prn_p64_lite", "kwargs": [1]}), "'kwargs'"),
}


@pytest.mark.parametrize("case", HOSTILE_HEADERS, ids=list(HOSTILE_HEADERS))
def test_hostile_config_is_refused_before_any_model_is_built(
    tmp_path, lite_state, no_model_building, case
):
    raw, expected = HOSTILE_HEADERS[case]
    path = tmp_path / "m.safetensors"
    save_file(lite_state, str(path), metadata={META_KEY: raw})
    with pytest.raises(SegRefineError, match=expected):
        load_checkpoint(path)


def test_absurd_but_in_range_model_is_sized_on_the_meta_device(
    tmp_path, lite_state, monkeypatch, no_model_building
):
    monkeypatch.setenv("NAPARI_SEGREFINE_MAX_MEMORY", "100M")
    path = tmp_path / "m.safetensors"
    header = {"arch": "basnet", "kwargs": {"width": 1024}}
    save_file(lite_state, str(path), metadata={META_KEY: json.dumps(header)})
    with pytest.raises(SegRefineError, match="NAPARI_SEGREFINE_MAX_MEMORY"):
        load_checkpoint(path)


def test_zip_bomb_is_refused_before_torch_load(tmp_path, monkeypatch):
    path = tmp_path / "bomb.pth"
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("archive/data/0", "w", force_zip64=True) as member,
    ):
        for _ in range(64):  # 64 MiB of zeros, stored in about 64 KiB
            member.write(bytes(2**20))
    monkeypatch.setattr(checkpoint.torch, "load", pytest.fail)
    with pytest.raises(SegRefineError, match="zip bomb"):
        load_checkpoint(path)


def test_nan_weights_are_refused_on_save_and_on_load(tmp_path, lite_state):
    model = create_model("prn_p64_lite")
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")
    with pytest.raises(SegRefineError, match="NaN or infinite"):
        save_checkpoint(model, tmp_path / "nan.safetensors")
    assert not (tmp_path / "nan.safetensors").exists()

    key = next(iter(lite_state))
    lite_state[key] = torch.full_like(lite_state[key], float("inf"))
    header = json.dumps({"arch": "prn_p64_lite", "kwargs": {"variant": "p64", "width": 16}})
    save_file(lite_state, str(tmp_path / "inf.safetensors"), metadata={META_KEY: header})
    with pytest.raises(SegRefineError, match=f"NaN or infinite weights.*{key}"):
        load_checkpoint(tmp_path / "inf.safetensors")


def test_a_valid_checkpoint_still_loads(tmp_path):
    model = create_model("prn_p64_lite")
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "ok.safetensors"))
    assert model_config(loaded).kwargs == model_config(model).kwargs
