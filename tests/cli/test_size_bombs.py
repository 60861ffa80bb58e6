"""Size bombs through the CLI: refused in one line before anything large is allocated."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_segrefine import limits
from napari_segrefine.cli import predict_cmd, train_cmd
from napari_segrefine.errors import SegRefineError


def _refused(result, *words: str) -> None:
    assert result.code == 2, result.err
    assert len(result.err_lines) == 1 and "Traceback" not in result.err
    for word in words:
        assert word in result.err, result.err


def test_predict_refuses_a_lazy_zarr_claiming_100000_squared(
    cli, tmp_path, checkpoints, monkeypatch, zarr_bomb
):
    bomb = zarr_bomb
    monkeypatch.setattr(predict_cmd, "predict", pytest.fail)
    result = cli(
        "predict", bomb, "--out", tmp_path / "out", "--checkpoint", checkpoints["basnet_lite"]
    )
    _refused(result, "bomb.zarr", limits.MAX_PIXELS_ENV)
    assert not (tmp_path / "out").exists()


def test_refine_refuses_an_absurd_patch_size(cli, tmp_path, monkeypatch):
    tifffile.imwrite(tmp_path / "m_prob.tif", np.full((16, 16), 0.7, np.float32))
    monkeypatch.setattr(np, "pad", pytest.fail)
    result = cli("refine", tmp_path / "m_prob.tif", "--out", tmp_path / "out",
                 "--patch-size", "1000000000")  # fmt: skip
    _refused(result, "one patch", limits.MAX_PIXELS_ENV)


def test_train_refuses_a_batch_that_cannot_fit(cli, dataset, tmp_path, checkpoints, monkeypatch):
    monkeypatch.setattr(train_cmd, "iter_finetune", pytest.fail)
    result = cli(
        "train", "--images", dataset[0], "--labels", dataset[1], "--checkpoint",
        checkpoints["basnet_lite"], "--batch-size", "100000", "--out", tmp_path / "m",
    )  # fmt: skip
    _refused(result, "--batch-size", limits.MAX_MEMORY_ENV)


def test_memory_limit_from_the_environment(monkeypatch):
    monkeypatch.setenv(limits.MAX_MEMORY_ENV, "2G")
    assert limits.memory_limit() == 2 * 2**30
    limits.check_memory(2**30, "one GiB", "n/a")
    with pytest.raises(SegRefineError, match="3.0 GiB of memory but the limit is 2.0 GiB"):
        limits.check_memory(3 * 2**30, "three GiB", "n/a")
    monkeypatch.setenv(limits.MAX_MEMORY_ENV, "lots")
    with pytest.raises(SegRefineError, match="is not a number"):
        limits.memory_limit()
