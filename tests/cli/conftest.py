"""Small synthetic inputs and helpers for the CLI tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_segrefine import create_model, save_checkpoint
from napari_segrefine.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.strip().splitlines()


@pytest.fixture
def cli(capsys) -> Callable[..., Result]:
    """Run ``napari-segrefine ARGS...`` in-process; returns code, stdout and stderr."""

    def run(*argv: str | Path) -> Result:
        capsys.readouterr()
        code = main([str(arg) for arg in argv])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def blob_mask(height: int, width: int, seed: int) -> np.ndarray:
    """uint8 0/1 mask of one ellipse."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:height, :width]
    cy, cx = rng.uniform(0.3, 0.7, 2) * (height, width)
    ry, rx = rng.uniform(0.15, 0.3, 2) * (height, width)
    return (((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 < 1).astype(np.uint8)


def blob_image(mask: np.ndarray, seed: int) -> np.ndarray:
    """uint8 RGB image: a bright blob on a noisy background."""
    rng = np.random.default_rng(seed)
    base = 60 + 120 * mask[..., None] + rng.normal(0, 20, (*mask.shape, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path]:
    """``images/`` (a PNG and a TIFF of different sizes) and ``labels/`` (0/255 PNGs)."""
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    for index, (name, shape) in enumerate((("a.png", (64, 80)), ("b.tif", (72, 64)))):
        mask = blob_mask(*shape, seed=index)
        image = blob_image(mask, seed=index)
        if name.endswith(".png"):
            Image.fromarray(image).save(images / name)
        else:
            tifffile.imwrite(images / name, image, photometric="rgb")
        Image.fromarray(mask * 255).save(labels / f"{Path(name).stem}.png")
    return images, labels


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Random-init ``basnet_lite`` and ``prn_p64_lite`` saved as checkpoints."""
    folder = tmp_path_factory.mktemp("checkpoints")
    return {
        name: save_checkpoint(create_model(name), folder / f"{name}.safetensors")
        for name in ("basnet_lite", "prn_p64_lite")
    }


def snapshot(folder: Path) -> dict[str, bytes] | None:
    """Every entry of ``folder`` (hidden ones too) with its bytes; None when absent."""
    if not folder.exists():
        return None
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else b""
        for path in sorted(folder.rglob("*"))
    }


@pytest.fixture
def folder_snapshot() -> Callable[[Path], dict[str, bytes] | None]:
    """`snapshot`, for tests that check a folder did not change."""
    return snapshot
