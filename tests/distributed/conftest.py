"""Tiny images, a tiny model and an in-process 2-worker Dask cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from napari_segrefine import create_model, predict
from napari_segrefine.io.zarr_io import write_zarr

TILE, CHUNK = 64, 64


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("basnet_lite")


@pytest.fixture(scope="module")
def client() -> Iterator:
    """Two worker threads in this process: fast to start, a real scheduler."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as dask_client,
    ):
        yield dask_client


def rgb_image(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """uint8 RGB: smooth blobs plus noise, so tiles differ."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    blobs = np.sin(rows / 11.0 + seed) * np.cos(cols / 7.0) * 80 + 120
    noise = rng.normal(0, 25, (*shape, 3))
    return np.clip(blobs[..., None] + noise, 0, 255).astype(np.uint8)


@pytest.fixture
def image_zarr(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A 200 x 232 RGB image as a plain zarr array (sides not multiples of 32)."""
    image = rgb_image((200, 232))
    path = tmp_path / "big.zarr"
    write_zarr(path, image)
    return path, image


def read_output(path: Path, kind: str = "mask", level: int = 0) -> np.ndarray:
    return zarr.open_group(str(path), mode="r")[f"{kind}/{level}"][...]


def assert_equals_predict(out: Path, model, image: np.ndarray, *, with_prob: bool = True) -> None:
    """The stored result is `predict`'s with the same tiling (masks may differ only where
    the probability sits within float tolerance of the threshold)."""
    expected = predict(model, image, tile_size=TILE, overlap=0.25)
    mask = read_output(out, "mask")
    near = np.abs(expected.probabilities - 0.5) < 1e-5
    np.testing.assert_array_equal(mask[~near], expected.mask[~near])
    if with_prob:
        np.testing.assert_allclose(read_output(out, "prob"), expected.probabilities, atol=1e-5)


def run_cli(capsys, *argv) -> tuple[int, list[str]]:
    """Exit code and stderr lines of ``napari-segrefine ARGV``."""
    from napari_segrefine.cli import main

    capsys.readouterr()
    code = main([str(arg) for arg in argv])
    return code, capsys.readouterr().err.strip().splitlines()


def one_error_line(capsys, *argv) -> str:
    """The command fails with exit 2 and one line (besides --untrained's warning)."""
    code, err = run_cli(capsys, *argv)
    errors = [line for line in err if "UNTRAINED" not in line]
    assert code == 2, err
    assert len(errors) == 1, err
    return errors[0]
