"""File stems and folder expansion."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine import io
from napari_segrefine.errors import SegRefineError


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.ome.tif", "a"),
        ("b.ome.zarr", "b"),
        ("c.TIFF", "c"),
        ("d.zarr", "d"),
        ("scan.2024.png", "scan.2024"),
        ("notes.txt", "notes"),
    ],
)
def test_stem(name, expected):
    assert io.stem(f"/data/{name}") == expected


def test_folder_gives_its_images_sorted_without_hidden_or_other_files(tmp_path):
    for name in ["b.png", "a.tif", ".a.tif.part", "notes.txt", "c.npy"]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "d.zarr").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.tif").write_bytes(b"")
    names = [path.name for path in io.list_images(tmp_path)]
    assert names == ["a.tif", "b.png", "c.npy", "d.zarr"]


def test_named_files_keep_their_order_and_a_zarr_folder_is_one_image(tmp_path):
    zarr_image = io.write_labels(tmp_path / "x.zarr", np.zeros((4, 4), np.uint8))
    (tmp_path / "b.tif").write_bytes(b"")
    assert io.list_images([tmp_path / "b.tif", zarr_image]) == [tmp_path / "b.tif", zarr_image]
    assert io.list_images(zarr_image) == [zarr_image]


def test_list_images_errors(tmp_path):
    with pytest.raises(SegRefineError, match=r"no images found in .* \(looked for \.tif"):
        io.list_images(tmp_path)
    with pytest.raises(SegRefineError, match="no such file or folder"):
        io.list_images([tmp_path / "gone.tif"])
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(SegRefineError, match="unsupported file type '.txt'"):
        io.list_images([tmp_path / "notes.txt"])
