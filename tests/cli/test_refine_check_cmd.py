"""``napari-segrefine refine --corrected``: refinement checked against the user's mask."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_segrefine.io import read_image
from napari_segrefine.refine import refine


@pytest.fixture
def faint(tmp_path):
    """A map with a faint object the fallback keeps, and a corrected mask without it."""
    prob = np.full((64, 64), 0.05, np.float32)
    prob[8:24, 8:24] = 0.4
    prob[40:56, 40:56] = 0.9
    tifffile.imwrite(tmp_path / "m_prob.tif", prob)
    tifffile.imwrite(tmp_path / "fixed.tif", (prob > 0.5).astype(np.uint8) * 255)
    valid = np.zeros(prob.shape, np.uint8)
    valid[:32, :32] = 1
    tifffile.imwrite(tmp_path / "valid.tif", valid)
    return prob


def _run(cli, tmp_path, *extra):
    return cli(
        "refine", tmp_path / "m_prob.tif", "--out", tmp_path / "out", "--patch-size", "16",
        "--corrected", tmp_path / "fixed.tif", "--valid", tmp_path / "valid.tif", *extra,
    )  # fmt: skip


def test_refine_that_lowers_the_corrections_writes_the_plain_mask_and_says_so(
    cli, tmp_path, faint
):
    result = _run(cli, tmp_path)
    assert result.code == 0, result.err
    (line,) = [x for x in result.out.splitlines() if x.startswith("m_prob.tif:")]
    assert "NOT applied" in line and "--apply-anyway" in line
    written = read_image(tmp_path / "out" / "m_refined.tif").array
    np.testing.assert_array_equal(written, (faint > 0.5).astype(np.uint8))


def test_apply_anyway_writes_the_refined_mask(cli, tmp_path, faint):
    result = _run(cli, tmp_path, "--apply-anyway")
    assert result.code == 0, result.err
    assert "written anyway" in result.out
    written = read_image(tmp_path / "out" / "m_refined.tif").array
    np.testing.assert_array_equal(written, refine(faint, patch_size=16))


def test_corrections_options_are_checked(cli, tmp_path, faint):
    alone = cli("refine", tmp_path / "m_prob.tif", "--out", tmp_path / "o1", "--valid",
                tmp_path / "valid.tif")  # fmt: skip
    assert alone.code == 2 and "go with --corrected" in alone.err
    tifffile.imwrite(tmp_path / "n_prob.tif", faint)
    two = cli("refine", tmp_path / "m_prob.tif", tmp_path / "n_prob.tif", "--out",
              tmp_path / "o2", "--corrected", tmp_path / "fixed.tif")  # fmt: skip
    assert two.code == 2 and "one probability map" in two.err
    tifffile.imwrite(tmp_path / "small.tif", np.zeros((8, 8), np.uint8))
    wrong = cli("refine", tmp_path / "m_prob.tif", "--out", tmp_path / "o3", "--corrected",
                tmp_path / "small.tif")  # fmt: skip
    assert wrong.code == 2 and "shape" in wrong.err and "Traceback" not in wrong.err
