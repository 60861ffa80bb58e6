"""The adapted model's parts: filter bank, tree ensemble, checkpoint schema."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from scipy.ndimage import gaussian_filter
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

from napari_segrefine import create_model, load_checkpoint
from napari_segrefine.errors import SegRefineError
from napari_segrefine.models.adapted import AdaptedModel, base_config_dict
from napari_segrefine.models.filter_bank import FilterBank
from napari_segrefine.models.trees import ROWS_PER_CHUNK
from napari_segrefine.train.head import HeadConfig, new_head, set_trees


def test_filter_bank_smoothing_matches_scipy_away_from_the_border():
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    features = FilterBank(1, sigmas=(2.0,))(torch.from_numpy(image)[None, None])[0]
    assert features.shape == (4, 64, 64)
    expected = gaussian_filter(image, 2.0, mode="reflect", truncate=3.0)
    np.testing.assert_allclose(features[0, 8:-8, 8:-8], expected[8:-8, 8:-8], atol=1e-5)


def test_filter_bank_sees_edges_and_blobs():
    image = torch.zeros(1, 1, 48, 48)
    image[..., 16:32, 16:32] = 1.0
    smooth, gradient, large, small = FilterBank(1, sigmas=(2.0,))(image)[0]
    assert gradient[24, 16] > 10 * gradient[24, 24]  # the edge, not the flat middle
    assert small[24, 24] < 0 and large.max() > 0  # a bright blob is a Hessian minimum
    assert torch.all(large >= small)


def test_filter_bank_on_a_constant_image_gives_no_structure():
    features = FilterBank(3)(torch.full((1, 3, 40, 40), 0.5))[0]
    assert features.shape == (3 * 5 * 4, 40, 40)
    assert torch.allclose(features[0::4], torch.full_like(features[0::4], 0.5), atol=1e-6)
    assert features[1::4].abs().max() < 1e-5


def _forest(seed=0, kind=RandomForestClassifier):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(600, 6)).astype(np.float32)
    y = x[:, 0] + x[:, 3] * x[:, 4] > 0.2
    return x, kind(12, max_depth=6, random_state=seed).fit(x, y)


@pytest.mark.parametrize("kind", [RandomForestClassifier, ExtraTreesClassifier])
def test_tree_ensemble_equals_scikit_learn(kind):
    x, forest = _forest(kind=kind)
    head = create_model("adapted_head")
    set_trees(head, forest)
    rows = np.random.default_rng(1).normal(size=(6, 2 * ROWS_PER_CHUNK + 5)).astype(np.float32).T
    ours = head.trees(torch.from_numpy(rows)).numpy()  # rows in strides, over three chunks
    np.testing.assert_allclose(ours, forest.predict_proba(rows)[:, 1], atol=1e-6)


def test_tree_ensemble_refuses_inputs_with_too_few_features():
    _, forest = _forest()
    head = create_model("adapted_head")
    set_trees(head, forest)
    with pytest.raises(ValueError, match="test feature"):
        head.trees(torch.zeros(3, 2))


def test_untrained_head_predicts_background_with_the_image_size():
    model = create_model("adapted_head", deep="outputs").eval()
    out = model(torch.zeros(1, 3, 64, 96))
    assert out.shape == (1, 1, 64, 96)
    assert torch.all(torch.sigmoid(out) < 0.5)


def test_unknown_feature_set_is_refused():
    with pytest.raises(ValueError, match="deep must be one of"):
        AdaptedModel(deep="everything")


def _header_file(tmp_path, kwargs):
    header = {"arch": "adapted_head", "kwargs": kwargs, "input_kind": "image"}
    path = tmp_path / "hostile.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={"segrefine": json.dumps(header)})
    return path


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": {"arch": "adapted_head", "kwargs": {}}}, "cannot itself be adapted"),
        ({"base": base_config_dict(), "sigmas": [1e9]}, "wrong type"),
        ({"base": base_config_dict(), "num_trees": 10**9}, "outside"),
        ({"base": "basnet"}, "wrong type"),
    ],
)
def test_hostile_adapted_configs_are_refused_before_building(tmp_path, kwargs, message):
    with pytest.raises(SegRefineError, match=message):
        load_checkpoint(_header_file(tmp_path, kwargs))


@pytest.mark.parametrize("arch", ["basnet_lite", "bisenetv2_binary", "bisenetv1_binary"])
def test_the_encoder_features_of_a_stopped_pass_equal_a_whole_pass(arch):
    """`encoder_features` ends the base's pass after its last fine encoder activation
    (whatever order a network computes them in) and gives what a whole pass reads."""
    head = new_head(create_model(arch), HeadConfig(deep="encoder"))
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    head.encoder_features(x)  # its first call counts the activations, on a small input
    calls = {"whole": 0, "stopped": 0}
    part = "whole"
    modules = head.base.modules()
    hooks = [
        m.register_forward_hook(lambda *_: calls.update({part: calls[part] + 1})) for m in modules
    ]
    whole = head.pixel_features(x)
    part = "stopped"
    encoded = head.encoder_features(x)
    for hook in hooks:
        hook.remove()
    stopped = torch.cat([head.bank(x), head.base_outputs(x), *encoded], 1)
    torch.testing.assert_close(stopped, whole, rtol=0, atol=0)
    assert 0 < calls["stopped"] < calls["whole"]
