from __future__ import annotations

import pytest
import torch

from napari_segrefine.engine import resolve_device
from napari_segrefine.engine.device import autocast_dtype
from napari_segrefine.errors import SegRefineError


@pytest.fixture
def cpu_only(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def one_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_auto_falls_back_to_cpu(cpu_only):
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_prefers_cuda(one_gpu):
    assert resolve_device() == torch.device("cuda")


def test_auto_takes_mps_without_cuda(cpu_only, monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")


def test_explicit_devices(one_gpu):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CUDA:0 ") == torch.device("cuda:0")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "mps"])
def test_missing_device_is_a_clear_error(cpu_only, name):
    with pytest.raises(SegRefineError, match="use device='auto' or 'cpu'"):
        resolve_device(name)


def test_missing_gpu_index(one_gpu):
    with pytest.raises(SegRefineError, match="1 CUDA device"):
        resolve_device("cuda:3")


def test_unknown_device_name():
    with pytest.raises(SegRefineError, match="unknown device"):
        resolve_device("gpu please")


def test_precision_auto_is_fp32_on_cpu():
    assert autocast_dtype(torch.device("cpu"), "auto") is None
    assert autocast_dtype(torch.device("cpu"), "fp32") is None
    assert autocast_dtype(torch.device("cpu"), "bf16") is torch.bfloat16


@pytest.mark.parametrize(("bf16", "expected"), [(True, torch.bfloat16), (False, torch.float16)])
def test_precision_auto_on_cuda(monkeypatch, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
    assert autocast_dtype(torch.device("cuda"), "auto") is expected
    assert autocast_dtype(torch.device("cuda"), "fp16") is torch.float16


def test_unknown_precision():
    with pytest.raises(SegRefineError, match="precision"):
        autocast_dtype(torch.device("cpu"), "fp64")
