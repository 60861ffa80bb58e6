"""Every family is a SegRefineModel: its encoder can be frozen and unfrozen."""

from __future__ import annotations

import pytest

from napari_segrefine import create_model
from napari_segrefine.models import SegRefineModel, get_spec, list_models


@pytest.mark.parametrize("family_model", ["basnet_lite", "bisenetv1_binary", "prn_p0"])
def test_freezing_stops_gradients_and_holds_the_encoder_in_eval_mode(family_model):
    model = create_model(family_model)
    assert isinstance(model, SegRefineModel)
    encoder = model.encoder_modules()
    encoder_params = {id(p) for module in encoder for p in module.parameters()}
    assert encoder_params and len(encoder_params) < len(list(model.parameters()))
    model.freeze_encoder()
    model.train()
    assert model.training and all(not module.training for module in encoder)
    for param in model.parameters():
        assert param.requires_grad == (id(param) not in encoder_params)
    model.freeze_encoder(False)
    assert all(module.training for module in encoder)
    assert all(param.requires_grad for param in model.parameters())


def test_every_registered_family_implements_the_base():
    classes = {get_spec(name).model_class for name in list_models()}
    assert all(issubclass(cls, SegRefineModel) for cls in classes)


def test_the_encoder_of_prn_is_the_one_both_decoders_share():
    model = create_model("prn_p64_lite", width=4)
    assert model.encoder_modules() == [model.encoding]
