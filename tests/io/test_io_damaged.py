from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_segrefine import SegRefineError
from napari_segrefine.io import read_image


def test_garbage_behind_a_tiff_header_is_a_clear_error(tmp_path):
    path = tmp_path / "corrupt.tif"
    path.write_bytes(b"II*\x00garbage" * 10)
    with pytest.raises(SegRefineError, match="cannot read corrupt.tif"):
        read_image(path)


def test_truncated_compressed_tiff_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(
        path, np.random.default_rng(0).random((256, 256), np.float32), compression="zlib"
    )
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SegRefineError, match="cut.tif"):
        read_image(path)
