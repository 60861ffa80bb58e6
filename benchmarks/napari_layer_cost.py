"""What adding a layer costs napari itself: the floor under the plugin's first results.

Times `viewer.add_labels` / `viewer.add_image` (a 1 x 1 layer and a 2048 x 2048 one) and
setting new 2048 x 2048 data on an existing layer, in a shown viewer, each followed by a
few event-loop turns. Main-thread milliseconds per call; round 0 includes the process's
first labels layer.

Usage (needs a display; Xvfb is fine)::

    xvfb-run -a python benchmarks/napari_layer_cost.py --rounds 3
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe  # noqa: E402

SIDE = 2048


def timed(app: QApplication, action: Callable[[], object]) -> tuple[float, object]:
    """Milliseconds ``action`` held the main thread, and what it returned."""
    started = time.perf_counter()
    result = action()
    elapsed = (time.perf_counter() - started) * 1000
    for _ in range(5):
        app.processEvents()
    return elapsed, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    rng = np.random.default_rng(0)
    viewer.add_image(rng.integers(0, 255, (SIDE, SIDE, 3), dtype=np.uint8))
    labels = (rng.random((SIDE, SIDE)) > 0.5).astype(np.uint8)
    image = rng.random((SIDE, SIDE), dtype=np.float32)
    print(f"Machine: {describe()}\n")
    print("| round | add labels 1x1 | set labels data | add labels 2048 | add image 1x1 "
          "| set image data |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for round_ in range(args.rounds):
        add_small, small = timed(app, lambda: viewer.add_labels(np.zeros((1, 1), np.uint8)))
        set_labels, _ = timed(app, functools.partial(setattr, small, "data", labels))
        add_big, _ = timed(app, lambda: viewer.add_labels(labels.copy()))
        add_image, plane = timed(app, lambda: viewer.add_image(np.zeros((1, 1), np.float32)))
        set_image, _ = timed(app, functools.partial(setattr, plane, "data", image))
        cells = (add_small, set_labels, add_big, add_image, set_image)
        print(f"| {round_} | " + " | ".join(f"{ms:.0f}" for ms in cells) + " |")
    viewer.close()


if __name__ == "__main__":
    main()
