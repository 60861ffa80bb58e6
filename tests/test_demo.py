from __future__ import annotations

import numpy as np

from napari_segrefine.cli import main
from napari_segrefine.demo import DemoSettings, format_table, run_demo
from napari_segrefine.io import read_image


def test_demo_runs_the_whole_loop_and_writes_its_outputs(tmp_path):
    lines = []
    result = run_demo(tmp_path, _small("salient"), log=lines.append)
    steps = [line[:3] for line in lines if line[1:3] == "/6"]
    assert steps == ["1/6", "2/6", "3/6", "4/6", "5/6", "6/6"]
    assert len(result.patches) == 2
    assert "    adopted: IoU " in "\n".join(lines)
    updates = [line for line in lines if line.startswith(("    adopted", "    not adopted"))]
    assert len(updates) == 1  # 2 patches, an update after every 2
    assert result.rows["after update"]["IoU"] > result.rows["before"]["IoU"] + 0.3
    chosen = np.zeros((96, 96), bool)
    for patch in result.patches:  # the simulated user corrected exactly these
        chosen[patch.slices] = True
    corrected = read_image(tmp_path / "corrected_pixels.tif").array > 0
    np.testing.assert_array_equal(corrected, chosen)
    assert {"before", "PRN refined", "after update", "held-out, head"} <= set(result.rows)
    assert {"held-out, 2 patches, own", "held-out, 2 patches, both"} <= set(result.rows)
    assert all(0 <= row["IoU"] <= 1 for row in result.rows.values())
    names = {p.name for p in result.files}
    assert {"mask_before.tif", "mask_after.tif", "overview.png"} <= names
    assert all(p.stat().st_size > 0 for p in result.files)
    table = format_table(result.rows)
    assert "held-out before" in table and "boundary F1" in table


def _small(domain: str) -> DemoSettings:
    return DemoSettings(
        domain=domain, size=96, corrected_patches=2, review_patch=32, prn_patch=16, trees=4
    )


def test_demo_goes_on_when_its_corrections_hold_one_class(tmp_path):
    lines = []
    result = run_demo(tmp_path, _small("polyps"), log=lines.append)
    # the queue's first two patches hold the dark border and tissue, both background:
    # no head can be fitted, and the demo says so and goes on with the starting model
    assert "    no update yet: the corrected pixels are all background" in "\n".join(lines)
    assert result.rows["after update"] == result.rows["before"]


def test_demo_command(tmp_path, capsys):
    code = main(
        ["demo", "--out", str(tmp_path), "--size", "64", "--trees", "4", "--domain", "salient"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "after update" in out and "overview.png" in out
    assert "corrected patches (64 px, top-left): (0,0)\n" in out  # the one patch there is
