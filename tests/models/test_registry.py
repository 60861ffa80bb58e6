from __future__ import annotations

import pytest
import torch

from napari_segrefine import SegRefineError, create_model, list_models
from napari_segrefine.models import get_spec, model_config

# Small models run forward/backward in every test run; the full-size ones are
# covered at 64x64 in their own test files.
SMALL = ["basnet_lite", "bisenetv2_binary", "prn_p64_lite", "prn_p0"]


def test_registry_names_the_documented_models():
    names = set(list_models())
    assert {"basnet", "bisenetv1", "bisenetv2", "prn_p64", "prn_p4", "prn_p0"} <= names
    assert "basnet_lite" in names


@pytest.mark.parametrize("name", list_models())
def test_every_model_builds_with_its_config(name):
    model = create_model(name)
    config = model_config(model)
    assert config.arch == name
    assert config.input_kind == get_spec(name).input_kind
    assert not model.training


def _input_for(name: str) -> torch.Tensor:
    if get_spec(name).input_kind == "probability":
        return torch.rand(2, 1, 64, 64)
    return torch.randn(2, 3, 64, 64)


def _logits(output):
    return [o for o in (output if isinstance(output, tuple) else (output,)) if o is not None]


GRADIENT_TRAINED = [n for n in list_models() if get_spec(n).family != "adapted"]


@pytest.mark.parametrize("name", GRADIENT_TRAINED)  # the adapted head's trees are grown
def test_every_model_runs_forward_and_backward_at_64(name):
    model = create_model(name).train()
    x = _input_for(name)
    outputs = _logits(model(x))
    assert all(o.shape[-2:] == (64, 64) and torch.isfinite(o).all() for o in outputs)
    sum(o.mean() for o in outputs).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", SMALL)
def test_eval_output_follows_the_call_contract(name):
    model = create_model(name)
    with torch.no_grad():
        out = model(_input_for(name))
    if get_spec(name).input_kind == "probability":
        assert isinstance(out, tuple) and len(out) == 2
        assert out[0].shape == (2, 1, 64, 64)
    else:
        assert isinstance(out, torch.Tensor) and out.shape == (2, 1, 64, 64)


def test_num_classes_override():
    model = create_model("bisenetv2", num_classes=5, aux=False)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 5, 64, 64)
    assert model_config(model).num_classes == 5


def test_unknown_model_is_a_clear_error():
    with pytest.raises(SegRefineError, match="unknown model 'basnett'.*basnet_lite"):
        create_model("basnett")


def test_bad_constructor_setting_is_a_clear_error():
    with pytest.raises(SegRefineError, match="does not accept"):
        create_model("basnet_lite", colour="blue")


def test_foreign_module_has_no_config():
    with pytest.raises(SegRefineError, match="not built by napari-segrefine"):
        model_config(torch.nn.Conv2d(1, 1, 1))
