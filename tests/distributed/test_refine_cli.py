"""``napari-segrefine refine --scheduler``: results, and one clear line with exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_segrefine import refine
from napari_segrefine.cli import main
from napari_segrefine.distributed import cluster
from napari_segrefine.io.zarr_io import write_zarr

from .conftest import CHUNK, one_error_line, read_output, run_cli
from .test_refine import PATCH, prob_map


@pytest.fixture
def prob_zarr(tmp_path: Path) -> tuple[Path, np.ndarray]:
    prob = prob_map()
    path = tmp_path / "prob.zarr"
    write_zarr(path, prob)
    return path, prob


def _refine(path: Path, out: Path, *extra) -> list:
    return ["refine", path, "--out", out, "--patch-size", PATCH, *extra]


@pytest.mark.slow
def test_local_cluster_of_two_processes_refines_and_resumes(capsys, prob_zarr, tmp_path):
    path, prob = prob_zarr
    out = tmp_path / "refined.zarr"
    argv = _refine(path, out, "--scheduler", "local", "--workers", 2, "--chunk", CHUNK)
    code, err = run_cli(capsys, *argv)
    assert code == 0, err
    np.testing.assert_array_equal(read_output(out), refine(prob, patch_size=PATCH))
    capsys.readouterr()
    assert main([str(arg) for arg in argv]) == 0
    assert "refined 0 of 12 chunk(s)" in capsys.readouterr().out


def test_unreachable_scheduler_is_one_line(capsys, prob_zarr, tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "1s")
    path, _ = prob_zarr
    argv = _refine(path, tmp_path / "o.zarr", "--scheduler", "tcp://127.0.0.1:9")
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in one_error_line(capsys, *argv)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (("--scheduler", "sched.example"), "neither 'local' nor an address"),
        (("--scheduler", "local", "--chunk", 40), "chunk 40 does not fit patch 16"),
        (
            ("--scheduler", "local", "--chunk", 256, "--prn", "prn_p64_lite", "--untrained"),
            "at least PRN's window (512)",
        ),
        (("--workers", 2), "--workers needs --scheduler"),
        (("--scheduler", "local", "--overwrite"), "--overwrite is not available"),
        (("--scheduler", "local", "--workers", 0), "--workers must be a positive number"),
    ],
)
def test_bad_options_are_one_line(capsys, prob_zarr, tmp_path, extra, expected):
    path, _ = prob_zarr
    assert expected in one_error_line(capsys, *_refine(path, tmp_path / "o.zarr", *extra))
    assert not (tmp_path / "o.zarr").exists()


def test_unwritable_output_is_one_line(capsys, prob_zarr, tmp_path):
    path, _ = prob_zarr
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    argv = _refine(path, blocker / "out.zarr", "--scheduler", "local", "--chunk", CHUNK)
    line = one_error_line(capsys, *argv)
    assert "cannot write" in line and "choose an output folder" in line
