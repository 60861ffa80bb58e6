"""Hostile and unusual inputs: size bombs, FIFOs, colour spaces, odd GeoTIFF tags."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_segrefine import limits
from napari_segrefine.errors import SegRefineError
from napari_segrefine.io import read_image, write_labels


@pytest.fixture
def no_big_allocations(monkeypatch):
    """Fail the test if numpy is asked for more than 1 GiB at once."""
    for name in ("zeros", "empty", "ones", "full"):
        real = getattr(np, name)

        def guarded(shape, *args, _real=real, **kwargs):
            dtype = np.dtype(kwargs.get("dtype", args[0] if args else float))
            if np.prod(shape, dtype=np.float64) * dtype.itemsize > 2**30:
                pytest.fail(f"np.{_real.__name__}{shape} allocated before the size check")
            return _real(shape, *args, **kwargs)

        monkeypatch.setattr(np, name, guarded)


def test_zarr_header_claiming_100000_squared_is_refused(zarr_bomb, no_big_allocations):
    path = zarr_bomb
    with pytest.raises(SegRefineError, match=limits.MAX_PIXELS_ENV):
        read_image(path, lazy=False)
    lazy = read_image(path)  # stays on disk; the CLI checks it before whole-image work
    assert lazy.shape == (100000, 100000)


def test_npy_header_claiming_more_than_the_file_holds_is_refused(tmp_path, no_big_allocations):
    path = tmp_path / "bomb.npy"
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(
            file, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
        )
    with pytest.raises(SegRefineError, match="truncated or damaged"):
        read_image(path)


def test_tiff_claim_over_the_memory_limit_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, np.zeros((256, 256), np.uint8))
    monkeypatch.setenv(limits.MAX_MEMORY_ENV, "32K")
    with pytest.raises(SegRefineError, match="limit is 32.0 KiB"):
        read_image(path)
    monkeypatch.setenv(limits.MAX_MEMORY_ENV, "1M")
    assert read_image(path).shape == (256, 256)


@pytest.mark.timeout(30)
def test_fifo_is_refused_instead_of_blocking(tmp_path):
    os.mkfifo(tmp_path / "x.png")
    with pytest.raises(SegRefineError, match="not a regular file"):
        read_image(tmp_path / "x.png")


def test_cmyk_jpeg_is_converted_to_rgb_not_taken_as_rgba(tmp_path):
    path = tmp_path / "c.jpg"
    Image.new("CMYK", (16, 8), (0, 255, 255, 0)).save(path)  # pure red in CMYK
    data = read_image(path)
    assert data.shape == (8, 16, 3) and data.channel_axis == 2
    assert data.array[4, 8, 0] > 200 and data.array[4, 8, 1:].max() < 60


def test_la_png_gives_its_grey_plane(tmp_path):
    Image.new("LA", (16, 8), (100, 30)).save(tmp_path / "la.png")
    data = read_image(tmp_path / "la.png")
    assert data.shape == (8, 16) and data.channel_axis is None and data.array.max() == 100


def test_palette_png_gives_indices(tmp_path):
    picture = Image.new("P", (4, 4), 2)
    picture.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0])
    picture.save(tmp_path / "p.png")
    assert np.array_equal(read_image(tmp_path / "p.png").array, np.full((4, 4), 2, np.uint8))


def test_16_bit_png_keeps_16_bits_in_grey_and_colour(tmp_path):
    import cv2

    grey = (np.arange(64 * 64).reshape(64, 64) * 15).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "g.png")
    assert np.array_equal(read_image(tmp_path / "g.png").array, grey)

    colour = np.stack([grey, grey // 2, grey // 3], axis=-1)
    cv2.imwrite(str(tmp_path / "c.png"), colour[..., ::-1])  # OpenCV writes BGR
    data = read_image(tmp_path / "c.png")
    assert data.array.dtype == np.uint16 and np.array_equal(data.array, colour)


def test_odd_geotiff_tags_are_kept_or_dropped_with_a_warning(tmp_path):
    geo = {
        "ModelPixelScaleTag": "1.0 1.0 0",  # text where numbers belong: dropped
        "ModelTiepointTag": (0, 0, 0, 10.0, 20.0, 0),
        "GeoAsciiParamsTag": "CH1903 / Zürich|",  # not 7-bit ASCII: kept as UTF-8
    }
    with pytest.warns(UserWarning) as caught:
        write_labels(tmp_path / "m.tif", np.ones((8, 8), np.uint8), geo=geo)
    messages = " ".join(str(w.message) for w in caught)
    assert "ModelPixelScaleTag dropped" in messages and "kept as UTF-8" in messages
    written = read_image(tmp_path / "m.tif").geo
    assert written["GeoAsciiParamsTag"] == "CH1903 / Zürich|"
    assert written["ModelTiepointTag"] == (0, 0, 0, 10.0, 20.0, 0)
    assert "ModelPixelScaleTag" not in written


def test_user_folder_with_an_output_name_is_never_replaced(tmp_path):
    folder = tmp_path / "a_mask.tif"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(SegRefineError, match="is in the way"):
        write_labels(folder, np.ones((4, 4), np.uint8))
    assert (folder / "notes.txt").read_text() == "mine"
