"""``napari-segrefine predict``: outputs, options passed through, formats."""

from __future__ import annotations

import numpy as np
import tifffile

from napari_segrefine import load_checkpoint, predict
from napari_segrefine.io import read_image


def test_predict_folder_writes_mask_prob_and_boundary(cli, dataset, tmp_path):
    images, _ = dataset
    out = tmp_path / "out"

    result = cli("predict", images, "--out", out, "--save-prob", "--save-boundary")

    assert result.code == 0, result.err
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        f"{stem}_{kind}.tif" for stem in ("a", "b") for kind in ("boundary", "mask", "prob")
    ]
    for stem, shape in (("a", (64, 80)), ("b", (72, 64))):
        mask = read_image(out / f"{stem}_mask.tif").array
        prob = read_image(out / f"{stem}_prob.tif").array
        boundary = read_image(out / f"{stem}_boundary.tif").array
        assert mask.shape == prob.shape == boundary.shape == shape
        assert prob.dtype == np.float32 and prob.min() >= 0 and prob.max() <= 1
        np.testing.assert_array_equal(mask, prob > 0.5)
    # No staging folder or temporary file is left behind.
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_predict_default_model_uses_the_shipped_weights(cli, dataset, tmp_path):
    images, _ = dataset

    result = cli("predict", images / "a.png", "--out", tmp_path / "out")

    assert result.code == 0
    assert "UNTRAINED" not in result.err
    assert (tmp_path / "out" / "a_mask.tif").is_file()


def test_untrained_flag_runs_random_weights_with_a_warning(cli, dataset, tmp_path):
    images, _ = dataset
    argv = ["predict", images / "a.png", "--model", "bisenetv1_binary", "--out", tmp_path / "o"]

    refused = cli(*argv)
    nothing_written = not (tmp_path / "o").exists()
    allowed = cli(*argv, "--untrained")

    assert refused.code == 2 and "--untrained" in refused.err
    assert nothing_written
    assert allowed.code == 0, allowed.err
    assert "WARNING" in allowed.err and "bisenetv1_binary" in allowed.err
    assert "UNTRAINED" in allowed.err
    assert (tmp_path / "o" / "a_mask.tif").is_file()


def test_predict_skips_earlier_outputs_in_folders_but_not_named_files(cli, dataset, tmp_path):
    images, _ = dataset
    mask = np.zeros((64, 64), np.uint8)
    for kind in ("mask", "prob", "boundary", "refined"):
        tifffile.imwrite(images / f"a_{kind}.tif", mask)
    out = tmp_path / "out"

    from_folder = cli("predict", images, "--out", out)
    named = cli("predict", images / "a_prob.tif", "--out", tmp_path / "named")

    assert from_folder.code == 0, from_folder.err
    assert sorted(p.name for p in out.iterdir()) == ["a_mask.tif", "b_mask.tif"]
    assert named.code == 0, named.err
    assert [p.name for p in (tmp_path / "named").iterdir()] == ["a_prob_mask.tif"]


def test_predict_checkpoint_and_options_match_the_library(cli, dataset, tmp_path, checkpoints):
    images, _ = dataset
    out = tmp_path / "out"
    args = ["--tile", "32", "--overlap", "0.5", "--threshold", "0.3", "--batch-size", "2"]

    result = cli(
        "predict", images / "b.tif", "--out", out, "--checkpoint", checkpoints["basnet_lite"],
        "--device", "cpu", "--save-prob", *args,
    )  # fmt: skip

    assert result.code == 0, result.err
    assert "WARNING" not in result.err
    expected = predict(
        load_checkpoint(checkpoints["basnet_lite"]),
        read_image(images / "b.tif").array,
        tile_size=32,
        overlap=0.5,
        threshold=0.3,
        batch_size=2,
        device="cpu",
    )
    np.testing.assert_allclose(
        read_image(out / "b_prob.tif").array, expected.probabilities, atol=1e-6
    )
    np.testing.assert_array_equal(read_image(out / "b_mask.tif").array, expected.mask)


def test_predict_png_format_writes_viewable_masks(cli, dataset, tmp_path, checkpoints):
    images, _ = dataset
    out = tmp_path / "out"

    result = cli(
        "predict", images / "a.png", "--out", out, "--checkpoint", checkpoints["basnet_lite"],
        "--format", "png", "--threshold", "0",
    )  # fmt: skip

    assert result.code == 0, result.err
    mask = read_image(out / "a_mask.png").array
    assert mask.shape == (64, 80)
    assert set(np.unique(mask)) <= {0, 255}
    assert mask.max() == 255  # threshold 0: (almost) every pixel is foreground


def test_predict_replaces_earlier_outputs_and_keeps_other_files(cli, dataset, tmp_path):
    images, _ = dataset
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "a_mask.tif").write_bytes(b"old")

    result = cli("predict", images / "a.png", "--out", out)

    assert result.code == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert read_image(out / "a_mask.tif").array.shape == (64, 80)


def test_predict_says_when_the_model_finds_nothing_and_what_to_do(cli, dataset, tmp_path):
    images, _ = dataset

    found_nothing = cli("predict", images / "a.png", "--out", tmp_path / "o1", "--threshold", "1")
    found_some = cli("predict", images / "b.tif", "--out", tmp_path / "o2", "--threshold", "0.5")

    assert found_nothing.code == 0 and found_some.code == 0
    assert "a.png: the model marks nothing as foreground at threshold 1.00" in found_nothing.out
    assert (
        "lower the threshold" in found_nothing.out
        and "napari-segrefine train" in found_nothing.out
    )
    mask = read_image(tmp_path / "o2" / "b_mask.tif").array
    assert (0.001 <= mask.mean() <= 0.999) == ("marks" not in found_some.out)
    assert "marks" not in found_nothing.err  # advice, not an error
