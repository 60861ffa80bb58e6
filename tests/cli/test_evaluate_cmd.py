"""``napari-segrefine evaluate``: matching by name, table and JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_segrefine.metrics import evaluate_pairs


@pytest.fixture
def folders(tmp_path):
    """``gt/`` with two 0/255 masks; ``pred/`` with a perfect mask and a shifted one."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    truth = np.zeros((64, 72), np.uint8)
    truth[16:48, 20:52] = 1
    shifted = np.roll(truth, 8, axis=1)
    for name, prediction in (("p", truth), ("q", shifted)):
        Image.fromarray(truth * 255).save(gt / f"{name}.png")
        tifffile.imwrite(pred / f"{name}_mask.tif", prediction)
    tifffile.imwrite(pred / "p_boundary.tif", np.zeros((64, 72), np.float32))  # skipped
    return pred, gt, truth, shifted


def test_evaluate_prints_table_and_writes_json(cli, folders, tmp_path):
    pred, gt, truth, shifted = folders
    report = tmp_path / "metrics.json"

    result = cli("evaluate", "--pred", pred, "--gt", gt, "--json", report)

    assert result.code == 0, result.err
    data = json.loads(report.read_text())
    expected = evaluate_pairs([truth, shifted], [truth, truth])
    assert [row["name"] for row in data["per_image"]] == ["p", "q"]
    assert data["per_image"][0]["iou"] == 1.0
    assert data["per_image"][1]["iou"] == pytest.approx(expected["per_image"][1]["iou"])
    assert data["pooled_over_pixels"] == pytest.approx(expected["pooled_over_pixels"])
    assert data["pairs"][1] == {"name": "q", "pred": "q_mask.tif", "gt": "q.png"}
    table = result.out.splitlines()
    p_row = next(line for line in table if line.startswith("p "))
    assert p_row.split()[1] == "1.0000"
    assert any(line.startswith("pooled") for line in table)
    assert any(line.startswith("mean/image") for line in table)


def test_evaluate_unmatched_files_can_be_skipped(cli, folders):
    pred, gt, *_ = folders
    Image.fromarray(np.zeros((64, 72), np.uint8)).save(gt / "lonely.png")

    refused = cli("evaluate", "--pred", pred, "--gt", gt)
    allowed = cli("evaluate", "--pred", pred, "--gt", gt, "--allow-unmatched")

    assert refused.code == 2
    assert "lonely" in refused.err and "--allow-unmatched" in refused.err
    assert allowed.code == 0
    assert "skipped 1 unmatched" in allowed.err
    assert not any(line.startswith("lonely") for line in allowed.out.splitlines())


def test_evaluate_pred_suffix_picks_one_kind(cli, folders):
    pred, gt, truth, _ = folders
    tifffile.imwrite(pred / "p_prob.tif", truth.astype(np.float32) * 0.9)
    tifffile.imwrite(pred / "q_prob.tif", truth.astype(np.float32) * 0.9)

    masks = cli("evaluate", "--pred", pred, "--gt", gt)
    probs = cli("evaluate", "--pred", pred, "--gt", gt, "--pred-suffix", "_prob")

    assert masks.code == 0, masks.err
    assert "_mask" in masks.err and "--pred-suffix" in masks.err
    assert iou_of("q", masks.out) < 1  # q_mask is the shifted prediction
    assert probs.code == 0, probs.err
    assert iou_of("q", probs.out) == 1  # the probability maps are perfect masks above 0.5


def test_evaluate_still_refuses_kinds_without_a_mask_to_prefer(cli, folders):
    pred, gt, truth, _ = folders
    tifffile.imwrite(pred / "p_prob.tif", truth.astype(np.float32))
    tifffile.imwrite(pred / "p_refined.tif", truth)
    (pred / "p_mask.tif").unlink()

    result = cli("evaluate", "--pred", pred, "--gt", gt)

    assert result.code == 2
    assert "p_prob.tif" in result.err and "--pred-suffix" in result.err


def test_readme_predict_then_evaluate(cli, dataset, tmp_path):
    images, labels = dataset
    masks = tmp_path / "masks"

    predicted = cli("predict", images, "--out", masks, "--save-prob", "--save-boundary")
    scored = cli("evaluate", "--pred", masks, "--gt", labels)

    assert predicted.code == 0, predicted.err
    assert scored.code == 0, scored.err
    assert 0 <= iou_of("a", scored.out) <= 1 and 0 <= iou_of("b", scored.out) <= 1
    assert "2 image(s)" in scored.out


def iou_of(name: str, table: str) -> float:
    """The IoU column of ``name``'s row in the printed table."""
    return float(next(row for row in table.splitlines() if row.startswith(f"{name} ")).split()[1])
