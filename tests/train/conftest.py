"""Fixtures of the head tests: a tiny untrained base and a disk to correct."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine import create_model


@pytest.fixture(scope="module")
def base():
    return create_model("basnet_lite", width=4)


@pytest.fixture(scope="module")
def disk_sample():
    """A bright disk on a dark, noisy background, with its exact mask."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :96]
    label = ((yy - 48) ** 2 + (xx - 40) ** 2 < 20**2).astype(np.uint8)
    image = (label * 120 + 60 + rng.normal(0, 12, label.shape)).clip(0, 255).astype(np.uint8)
    valid = np.zeros(label.shape, bool)
    valid[16:80, 16:48] = True  # the left half of the disk and background around it
    return image, label, valid
