"""The package against DESIGN.md's "Public API" list (names written out here, not __all__)."""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest

import napari_segrefine

# (module, name, parameters in order: (name, kind, default); None: not checked) from
# DESIGN.md "Public API". A change here is a change of the promise: update DESIGN too.
P = inspect.Parameter
EMPTY = P.empty
DESIGN_API = [
    ("napari_segrefine", "SegRefineError", None),
    ("napari_segrefine", "list_models", []),
    (
        "napari_segrefine",
        "create_model",
        [
            ("name", P.POSITIONAL_OR_KEYWORD, EMPTY),
            ("num_classes", P.KEYWORD_ONLY, None),
            ("pretrained", P.KEYWORD_ONLY, False),
            ("kwargs", P.VAR_KEYWORD, EMPTY),
        ],
    ),
    (
        "napari_segrefine",
        "load_checkpoint",
        [
            ("path", P.POSITIONAL_OR_KEYWORD, EMPTY),
            ("arch", P.POSITIONAL_OR_KEYWORD, None),
            ("kwargs", P.VAR_KEYWORD, EMPTY),
        ],
    ),
    ("napari_segrefine", "save_checkpoint", None),
    (
        "napari_segrefine",
        "predict",
        [
            ("model", P.POSITIONAL_OR_KEYWORD, EMPTY),
            ("image", P.POSITIONAL_OR_KEYWORD, EMPTY),
            ("tile_size", P.KEYWORD_ONLY, None),
            ("overlap", P.KEYWORD_ONLY, 0.25),
            ("batch_size", P.KEYWORD_ONLY, None),
            ("device", P.KEYWORD_ONLY, "auto"),
            ("precision", P.KEYWORD_ONLY, "auto"),
            ("progress", P.KEYWORD_ONLY, None),
        ],
    ),
    ("napari_segrefine", "Prediction", None),
    (
        "napari_segrefine",
        "refine",
        [
            ("prob", P.POSITIONAL_OR_KEYWORD, EMPTY),
            ("patch_size", P.KEYWORD_ONLY, 64),
            ("prn", P.KEYWORD_ONLY, None),
        ],
    ),
    (
        "napari_segrefine.engine",
        "sliding_window",
        [
            ("fn", P.POSITIONAL_OR_KEYWORD, EMPTY),
            ("x", P.POSITIONAL_OR_KEYWORD, EMPTY),
            ("tile_size", P.POSITIONAL_OR_KEYWORD, EMPTY),
            ("overlap", P.POSITIONAL_OR_KEYWORD, 0.25),
            ("blend", P.POSITIONAL_OR_KEYWORD, "gaussian"),
        ],
    ),
    (
        "napari_segrefine.refine",
        "patch_optimal_thresholds",
        [
            ("prob", P.POSITIONAL_OR_KEYWORD, EMPTY),
            ("target", P.POSITIONAL_OR_KEYWORD, EMPTY),
            ("patch_size", P.POSITIONAL_OR_KEYWORD, EMPTY),
            ("thresholds", P.POSITIONAL_OR_KEYWORD, None),
        ],
    ),
    ("napari_segrefine.correction", "CorrectionSession", None),
]
DESIGN_MODELS = {"basnet", "bisenetv1", "bisenetv2", "prn_p64", "prn_p4", "prn_p0"}


@pytest.mark.parametrize(
    ("module", "name", "parameters"), DESIGN_API, ids=[f"{m}.{n}" for m, n, _ in DESIGN_API]
)
def test_design_names_exist_with_their_parameters(module, name, parameters):
    value = getattr(importlib.import_module(module), name)
    if parameters is None:
        return
    actual = list(inspect.signature(value).parameters.values())
    assert [(p.name, p.kind, p.default) for p in actual[: len(parameters)]] == parameters


def test_errors_are_value_errors_and_models_are_listed():
    assert issubclass(napari_segrefine.SegRefineError, ValueError)
    assert set(napari_segrefine.list_models()) >= DESIGN_MODELS | {"basnet_lite"}


def test_every_name_in_all_is_importable():
    for name in napari_segrefine.__all__:
        assert getattr(napari_segrefine, name) is not None


def test_refine_is_the_function_even_after_its_package_is_imported():
    importlib.import_module("napari_segrefine.refine.pipeline")
    from napari_segrefine import patch_optimal_thresholds, refine

    assert inspect.isfunction(refine) and napari_segrefine.refine is refine
    prob = np.zeros((16, 16), np.float32)
    prob[4:12, 4:12] = 0.9
    mask = refine(prob, patch_size=8)
    assert mask.dtype == np.uint8 and mask[8, 8] == 1 and mask[0, 0] == 0
    tau, pseudo = patch_optimal_thresholds(prob, prob > 0.5, 8)
    assert tau.shape == (2, 2) and pseudo.shape == (16, 16)


def test_predict_from_the_package_root():
    from napari_segrefine import Prediction, create_model, predict

    result = predict(create_model("basnet_lite"), np.zeros((40, 50, 3), np.uint8))
    assert isinstance(result, Prediction)
    assert result.probabilities.shape == result.mask.shape == (40, 50)
