"""Sample data for napari's File > Open Sample menu: synthetic domains and a real photo."""

from __future__ import annotations

from typing import Any

from ..data import make_sample

SAMPLE_SIZE = 512
LayerData = list[tuple[Any, dict[str, Any], str]]


def _synthetic(domain: str) -> LayerData:
    sample = make_sample(domain, SAMPLE_SIZE, seed=0)
    return [
        (sample.image, {"name": domain}, "image"),
        (sample.label, {"name": f"{domain} ground truth", "visible": False}, "labels"),
    ]


def roads() -> LayerData:
    """A synthetic aerial scene with its road mask (DeepGlobe-like)."""
    return _synthetic("roads")


def polyps() -> LayerData:
    """A synthetic endoscopy frame with its polyp mask (Kvasir-SEG-like)."""
    return _synthetic("polyps")


def salient() -> LayerData:
    """A synthetic salient-object picture with its mask (DUTS-like)."""
    return _synthetic("salient")


def coins() -> LayerData:
    """scikit-image's coins photograph (shipped with scikit-image, works offline)."""
    from skimage import data

    return [(data.coins(), {"name": "coins"}, "image")]
