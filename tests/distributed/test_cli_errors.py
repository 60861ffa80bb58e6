"""The CLI with --scheduler: results, and one clear line with exit 2 for mistakes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_segrefine import save_checkpoint
from napari_segrefine.cli import main
from napari_segrefine.distributed import cluster, predict_to_zarr
from napari_segrefine.errors import SegRefineError

from .conftest import CHUNK, TILE, one_error_line, read_output


@pytest.fixture(scope="module")
def weights(model, tmp_path_factory) -> Path:
    return save_checkpoint(model, tmp_path_factory.mktemp("weights") / "model.safetensors")


def _predict(image: Path, out: Path, weights: Path, *extra) -> list:
    return ["predict", image, "--out", out, "--checkpoint", weights, "--tile", TILE, *extra]


@pytest.mark.slow
def test_local_cluster_of_two_processes_writes_and_resumes(capsys, weights, image_zarr, tmp_path):
    path, _ = image_zarr
    out = tmp_path / "out.zarr"
    argv = _predict(path, out, weights, "--scheduler", "local", "--workers", 2, "--chunk", CHUNK)
    capsys.readouterr()
    assert main([str(arg) for arg in argv]) == 0, capsys.readouterr().err
    assert "wrote 16 of 16 chunk(s)" in capsys.readouterr().out
    assert read_output(out).shape == (200, 232)
    assert main([str(arg) for arg in argv]) == 0
    assert "wrote 0 of 16 chunk(s)" in capsys.readouterr().out


def test_unreachable_scheduler_is_one_line(capsys, weights, image_zarr, tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "1s")
    path, _ = image_zarr
    argv = _predict(path, tmp_path / "o.zarr", weights, "--scheduler", "tcp://127.0.0.1:9")
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in one_error_line(capsys, *argv)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (("--scheduler", "sched.example"), "neither 'local' nor an address"),
        (("--scheduler", "local", "--chunk", 48), "chunk 48 does not fit tile 64x64"),
        (("--scheduler", "local", "--chunk", 32), "at least as large as the tile"),
        (("--workers", 2), "--workers needs --scheduler"),
        (("--scheduler", "local", "--save-boundary"), "--save-boundary is not available"),
        (("--scheduler", "local", "--overwrite"), "--overwrite is not available"),
    ],
)
def test_bad_options_are_one_line(capsys, weights, image_zarr, tmp_path, extra, expected):
    path, _ = image_zarr
    assert expected in one_error_line(
        capsys, *_predict(path, tmp_path / "o.zarr", weights, *extra)
    )


def test_unwritable_output_is_one_line(capsys, weights, image_zarr, tmp_path):
    path, _ = image_zarr
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    argv = _predict(path, blocker / "out.zarr", weights, "--scheduler", "local")
    line = one_error_line(capsys, *argv)
    assert "cannot write" in line and "choose an output folder" in line


def test_output_of_another_run_or_kind_is_refused(client, model, image_zarr, tmp_path):
    path, _ = image_zarr
    out = tmp_path / "out.zarr"
    predict_to_zarr(path, out, model, scheduler=client, tile_size=TILE, chunk=CHUNK)
    with pytest.raises(SegRefineError, match="holds a run with other settings"):
        predict_to_zarr(path, out, model, scheduler=client, tile_size=TILE, chunk=128)
    stranger = tmp_path / "notes"
    stranger.mkdir()
    with pytest.raises(SegRefineError, match="is not a zarr group written by a distributed"):
        predict_to_zarr(path, stranger, model, scheduler=client, tile_size=TILE, chunk=CHUNK)


def test_stacks_are_refused_with_a_way_out(model, tmp_path):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((12, 64, 64), np.uint8))
    with pytest.raises(SegRefineError, match="save its slices as a folder"):
        predict_to_zarr(path, tmp_path / "o.zarr", model, tile_size=TILE, chunk=CHUNK)
