"""Each user mistake is one clear SegRefineError; a failed write leaves nothing behind."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine import io
from napari_segrefine.errors import SegRefineError
from napari_segrefine.io import write as write_module

MASK = np.zeros((16, 16), dtype=np.uint8)


def test_missing_file(tmp_path):
    with pytest.raises(SegRefineError, match="no such file: .*nothing.tif"):
        io.read_image(tmp_path / "nothing.tif")


def test_unsupported_extension_lists_the_supported_ones(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SegRefineError, match=r"notes.txt: unsupported file type '.txt'.*\.tif"):
        io.read_image(tmp_path / "notes.txt")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("broken.tif", "a TIFF image"),
        ("broken.png", "a PNG, JPEG or BMP image"),
        ("broken.npy", "a NumPy .npy array"),
    ],
)
def test_damaged_file_names_the_file_and_the_expected_format(tmp_path, name, expected):
    (tmp_path / name).write_bytes(b"this is not an image")
    with pytest.raises(SegRefineError, match=f"cannot read {name}: expected {expected}"):
        io.read_image(tmp_path / name)


def test_directory_that_is_not_zarr(tmp_path):
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(SegRefineError, match="cannot read empty.zarr: expected a zarr array"):
        io.read_image(tmp_path / "empty.zarr")


def test_empty_image(tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((0, 8)))
    with pytest.raises(SegRefineError, match=r"empty.npy holds an empty image \(shape \(0, 8\)\)"):
        io.read_image(tmp_path / "empty.npy")


@pytest.mark.parametrize(
    ("name", "labels", "message"),
    [
        ("mask.jpg", MASK, "unsupported output type '.jpg'"),
        ("mask.tif", MASK.astype(float), "labels must be integers or booleans"),
        ("mask.tif", MASK.astype(np.int16) - 1, "labels must not be negative"),
        ("mask.tif", MASK[0], "labels must be a non-empty 2-D"),
        ("mask.png", MASK.astype(np.uint16) + 256, "a PNG holds label ids up to 255"),
        ("mask.png", np.stack([MASK, MASK]), "a PNG holds one 2-D image"),
    ],
)
def test_bad_labels(tmp_path, name, labels, message):
    with pytest.raises(SegRefineError, match=message):
        io.write_labels(tmp_path / name, labels)
    assert list(tmp_path.iterdir()) == []


def test_bad_scale_and_geo(tmp_path):
    with pytest.raises(SegRefineError, match="scale .* has 3 entries, expected 2"):
        io.write_labels(tmp_path / "mask.tif", MASK, scale=(1, 1, 1))
    with pytest.raises(SegRefineError, match="positive pixel sizes"):
        io.write_labels(tmp_path / "mask.tif", MASK, scale=(1, 0))
    with pytest.raises(SegRefineError, match="unknown GeoTIFF tag.*Projection"):
        io.write_labels(tmp_path / "mask.tif", MASK, geo={"Projection": "EPSG:4326"})
    assert list(tmp_path.iterdir()) == []


def test_probability_must_be_real_numbers(tmp_path):
    with pytest.raises(SegRefineError, match="real numbers"):
        io.write_probability(tmp_path / "p.tif", np.zeros((4, 4), dtype=complex))


def test_existing_output_is_kept_unless_overwrite(tmp_path):
    path = io.write_labels(tmp_path / "mask.tif", MASK)
    with pytest.raises(SegRefineError, match="already exists"):
        io.write_labels(path, MASK + 1, overwrite=False)
    np.testing.assert_array_equal(io.read_image(path).array, MASK)


def _fail_after(real_writer):
    def writer(target, array, **kwargs):
        real_writer(target, array, **kwargs)  # the temporary output is complete ...
        raise RuntimeError("disk full")  # ... and then the write fails

    return writer


@pytest.mark.parametrize(
    ("name", "writer"), [("mask.tif", "write_tiff"), ("mask.ome.zarr", "write_ome_zarr")]
)
def test_failed_write_leaves_no_output_and_keeps_the_old_one(tmp_path, monkeypatch, name, writer):
    monkeypatch.setattr(write_module, writer, _fail_after(getattr(write_module, writer)))
    with pytest.raises(RuntimeError, match="disk full"):
        io.write_labels(tmp_path / name, MASK)
    assert list(tmp_path.iterdir()) == []

    monkeypatch.undo()
    io.write_labels(tmp_path / name, MASK + 1)
    monkeypatch.setattr(write_module, writer, _fail_after(getattr(write_module, writer)))
    with pytest.raises(RuntimeError, match="disk full"):
        io.write_labels(tmp_path / name, MASK + 2)
    assert [p.name for p in tmp_path.iterdir()] == [name]
    np.testing.assert_array_equal(io.read_image(tmp_path / name).array, MASK + 1)
