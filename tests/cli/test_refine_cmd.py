"""``napari-segrefine refine``: probability maps in, refined masks out."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from napari_segrefine import create_model, load_checkpoint
from napari_segrefine.io import read_image
from napari_segrefine.models.weights import CACHE_ENV, PUBLISHED_WEIGHTS, manual_path
from napari_segrefine.refine import refine


@pytest.fixture
def prob_map() -> np.ndarray:
    """A soft 96 x 80 blob with noise, float32 in [0, 1]."""
    rng = np.random.default_rng(3)
    rows, cols = np.mgrid[:96, :80]
    blob = np.exp(-(((rows - 40) / 25.0) ** 2 + ((cols - 44) / 18.0) ** 2))
    return np.clip(blob + rng.normal(0, 0.1, blob.shape), 0, 1).astype(np.float32)


def test_refine_without_prn_matches_the_library_fallback(cli, tmp_path, prob_map):
    maps = tmp_path / "maps"
    maps.mkdir()
    tifffile.imwrite(maps / "x_prob.tif", prob_map)
    tifffile.imwrite(maps / "x_mask.tif", (prob_map > 0.5).astype(np.uint8))  # skipped
    out = tmp_path / "out"

    result = cli("refine", maps, "--out", out, "--patch-size", "16", "--threshold", "0.4")

    assert result.code == 0, result.err
    assert sorted(p.name for p in out.iterdir()) == ["x_refined.tif"]
    expected = refine(prob_map, patch_size=16, threshold=0.4)
    np.testing.assert_array_equal(read_image(out / "x_refined.tif").array, expected)


def test_refine_8bit_png_with_prn_checkpoint(cli, tmp_path, prob_map, checkpoints):
    eight_bit = np.round(prob_map * 255).astype(np.uint8)
    Image.fromarray(eight_bit).save(tmp_path / "y.png")
    out = tmp_path / "out"

    result = cli(
        "refine", tmp_path / "y.png", "--out", out, "--prn", checkpoints["prn_p64_lite"],
        "--device", "cpu",
    )  # fmt: skip

    assert result.code == 0, result.err
    assert "PRN" in result.out
    prn = load_checkpoint(checkpoints["prn_p64_lite"])
    expected = refine(eight_bit / np.float32(255), patch_size=64, prn=prn, device="cpu")
    np.testing.assert_array_equal(read_image(out / "y_refined.tif").array, expected)


def test_refine_untrained_prn_warns(cli, tmp_path, prob_map):
    tifffile.imwrite(tmp_path / "z.tif", prob_map)

    result = cli(
        "refine", tmp_path / "z.tif", "--out", tmp_path / "out", "--prn", "prn_p0",
        "--untrained", "--format", "png",
    )  # fmt: skip

    assert result.code == 0, result.err
    assert "UNTRAINED" in result.err
    assert read_image(tmp_path / "out" / "z_refined.png").array.shape == prob_map.shape


def test_refine_prn_name_uses_published_weights_from_the_cache(
    cli, tmp_path, prob_map, monkeypatch
):
    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    weights = create_model("prn_p64")
    manual = manual_path(PUBLISHED_WEIGHTS["prn_p64_duts"])
    manual.parent.mkdir(parents=True)
    torch.save(weights.state_dict(), manual)  # as if downloaded by hand from Google Drive
    tifffile.imwrite(tmp_path / "w_prob.tif", prob_map)

    result = cli(
        "refine", tmp_path / "w_prob.tif", "--out", tmp_path / "out", "--prn", "prn_p64",
        "--device", "cpu",
    )  # fmt: skip

    assert result.code == 0, result.err
    assert "WARNING" not in result.err
    expected = refine(prob_map, patch_size=64, prn=weights.eval(), device="cpu")
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "w_refined.tif").array, expected)
