"""The names DESIGN.md promises are importable from the package and behave."""

from __future__ import annotations

import importlib

import numpy as np

import napari_segrefine


def test_promised_names_are_exported():
    for name in napari_segrefine.__all__:
        assert getattr(napari_segrefine, name) is not None


def test_refine_is_the_function_even_after_its_package_is_imported():
    importlib.import_module("napari_segrefine.refine.pipeline")
    from napari_segrefine import patch_optimal_thresholds, refine

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
