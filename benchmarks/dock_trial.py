"""A user's session in the Correct dock, on one real image: whole-image IoU after each update.

Drives the napari docks in a real viewer: Segment with the shipped `basnet_lite`, then
in Correct, ``--rounds`` times: Next patch and paint the truth into it (through the
session, as a stroke on the mask layer records it), ``--per-round`` times, then Update
now. After each update it prints the guard's verdict, the share of the unchecked mask
the dock says it changed, and the whole image's IoU (which the tool cannot know), so an
update that fixes its patches and harms the rest shows. Needs a display (Xvfb is fine):

    xvfb-run -a python benchmarks/dock_trial.py --set food_plate
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import napari
import numpy as np

from napari_segrefine.widgets._state import state_for

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
from machine import describe  # noqa: E402
from make_screenshots import PLUGIN, choose_weights, wait  # noqa: E402
from real_data import SETS, iou  # noqa: E402
from real_fetch import cache_root  # noqa: E402


def trial(image: np.ndarray, truth: np.ndarray, rounds: int, per_round: int, patch: int):
    """Rows of (patches painted, verdict, share changed, whole-image IoU) per update."""
    viewer = napari.Viewer(show=False)
    layer = viewer.add_image(image, name="image", rgb=image.ndim == 3)
    segment = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")[1]
    segment.image.value = layer
    choose_weights(segment.picker, None)
    segment.run()
    wait(segment.runner)
    correct = viewer.window.add_plugin_dock_widget(PLUGIN, "Correct")[1]
    correct.image.value, correct.patch_size.value = layer, patch
    session = state_for(viewer).existing("image")
    rows = [(0, "start", "", iou(session.mask > 0, truth))]
    for done in range(rounds):
        for _ in range(per_round):
            correct.next_patch()
            wait(correct.runner)
            _, current = session.current
            session.paint(current.slices, truth[current.slices].astype(np.uint8))
        correct.update_now()
        wait(correct.updater)
        status = correct.update_status.value
        verdict = next((v for v in ("not adopted", "adopted") if v in status), status)
        changed = status.split("it changed ")[1].split(" ")[0] if "it changed" in status else ""
        rows.append(((done + 1) * per_round, verdict, changed, iou(session.mask > 0, truth)))
    viewer.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="food_plate", choices=sorted(SETS))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--per-round", type=int, default=2)
    parser.add_argument("--patch", type=int, default=64)
    args = parser.parse_args()
    image, truth = SETS[args.set](cache_root())[0]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        tempfile.tempdir = folder  # autosaves go here
        rows = trial(image, truth > 0, args.rounds, args.per_round, args.patch)
    print(f"# The Correct dock on {args.set} {image.shape}: whole-image IoU per update\n")
    print(
        f"Shipped `basnet_lite`; {args.patch} px patches from Next patch, the truth painted "
        f"in, Update now after every {args.per_round}. Machine: {describe()}; "
        f"{time.perf_counter() - started:.0f} s.\n"
    )
    print("| patches painted | update | unchecked mask changed | whole-image IoU |")
    print("|---|---|---|---|")
    for painted, verdict, changed, score in rows:
        print(f"| {painted} | {verdict} | {changed} | {score:.3f} |")


if __name__ == "__main__":
    main()
