"""``napari-segrefine bench``: the tiny correctness run CI makes, and bad options."""

from __future__ import annotations

import pytest

from napari_segrefine.cli import bench_cmd
from napari_segrefine.cli.bench_cases import Row, paths_on
from napari_segrefine.engine.device import resolve_device


def _table_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| case"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


def test_tiny_run_prints_and_writes_the_machine_and_every_case(cli, tmp_path):
    out = tmp_path / "bench.md"
    result = cli("bench", "--tiny", "--device", "cpu", "--out", out)
    assert result.code == 0, result.err
    written = out.read_text(encoding="utf-8")
    assert written.strip() == result.out.strip()
    for fact in ("cpu:", "load average (1, 5, 15 min):", "torch threads:", "OMP_WAIT_POLICY:"):
        assert fact in written
    rows = _table_rows(written)
    expected = {
        "forward basnet_lite",
        "forward bisenetv2_binary",
        "forward prn_p64_lite",
        "predict basnet_lite",
        "refine prn_p64_lite",
        "boundary_map",
        "rank_patches",
    }
    assert set(rows) == expected
    paths = paths_on(resolve_device("cpu"))
    for name in ("forward basnet_lite", "predict basnet_lite"):
        times = rows[name][2 : 2 + len(paths)]
        assert all(float(t) > 0 for t in times)
        fp32_diff = float(rows[name][2 + len(paths) + len(paths) - 1])
        assert fp32_diff <= bench_cmd.FP32_TOLERANCE
    assert float(rows["predict basnet_lite"][-1]) > 0  # bytes per pixel were measured


def test_an_existing_out_needs_overwrite(cli, tmp_path):
    out = tmp_path / "bench.md"
    out.write_text("mine", encoding="utf-8")
    result = cli("bench", "--tiny", "--out", out)
    assert result.code == 2 and len(result.err_lines) == 1
    assert "already exists" in result.err
    assert out.read_text(encoding="utf-8") == "mine"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--models", "basnet,nope", "unknown model"),
        ("--predict-sizes", "2048,big", "comma-separated integers"),
        ("--predict-sizes", "32", "a side of 64"),
        ("--refine-size", "-5", "a side of 64"),
        ("--batch", "0", "at least 1"),
        ("--threads", "0", "at least 1"),
        ("--device", "tpu", "unknown device"),
    ],
)
def test_bad_options_fail_in_one_line(cli, option, value, message):
    result = cli("bench", option, value)  # refused before any work starts
    assert result.code == 2
    assert len(result.err_lines) == 1 and message in result.err


def test_a_tuned_fp32_output_beyond_the_tolerance_fails_the_run(capsys):
    good = Row("forward a", "1", diff={"tuned fp32": bench_cmd.FP32_TOLERANCE / 2})
    bad = Row("forward b", "1", diff={"tuned fp32": bench_cmd.FP32_TOLERANCE * 2})
    assert bench_cmd._check_tolerance([good]) == 0
    assert bench_cmd._check_tolerance([good, bad]) == 1
    assert "more than the tolerance" in capsys.readouterr().err
