"""Screenshots of the napari-segrefine docks at work, for docs/gui.md.

Opens all five docks together in a 1280 x 800 window (the smallest screen they must
fit), drives them on a synthetic sample (the loop a user goes through: segment,
refine, correct, fine-tune, export) and saves ``docs/images/gui_<step>.png``. Needs
a display with OpenGL; on a headless machine run it under Xvfb:

    xvfb-run -a -s "-screen 0 1400x1000x24" .venv/bin/python scripts/make_screenshots.py

The model is ``basnet_lite`` with the shipped demo weights (random weights, with a
warning, where they are missing); the refiner is ``prn_p64_lite`` with its demo weights
(adaptive thresholds where they are missing). The
"user's" corrections are copied from the sample's ground truth, patch by patch, in the
order the Correct widget proposes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication

from napari_segrefine.widgets._models import CHECKPOINT, DEMO, NO_PRN, RANDOM, weight_choices
from napari_segrefine.widgets._state import all_settled, state_for

PLUGIN = "napari-segrefine"
PRN = "prn_p64_lite"
WINDOW = (1280, 800)
DOCKS = ("Segment", "Refine", "Correct", "Fine-tune", "Export")


def settle(seconds: float = 0.4) -> None:
    """Let Qt process events (repaint, queued signals) for a moment."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def wait(runner) -> None:
    """Wait until a widget's background job has finished and its layers are made."""
    while runner.busy or not all_settled():
        QApplication.processEvents()
        time.sleep(0.02)
    settle()


def choose_weights(picker, checkpoint: Path | None) -> None:
    """The checkpoint if given, else demo weights when shipped, else random ones."""
    if checkpoint is not None:
        picker.weights.value = CHECKPOINT
        picker.checkpoint.value = checkpoint
    elif DEMO in picker.weights.choices:
        picker.weights.value = DEMO
    else:
        print(f"no demo weights for {picker.arch.value}: using random ones")
        picker.weights.value = RANDOM


class Shots:
    """One viewer, one sample image, and a dock per screenshot."""

    def __init__(self, domain: str, out: Path) -> None:
        self.out = out
        self.viewer = napari.Viewer(title="napari-segrefine")
        self.viewer.window.resize(*WINDOW)
        self.viewer.open_sample(PLUGIN, domain)
        self.image = self.viewer.layers[domain]
        self.truth = self.viewer.layers[f"{domain} ground truth"].data
        self.name = domain
        self.docks = {
            name: self.viewer.window.add_plugin_dock_widget(PLUGIN, name)[1] for name in DOCKS
        }
        settle()

    def open(self, widget_name: str):
        """The dock ``widget_name``, given most of the height (the others stay open)."""
        window = self.viewer.window
        docks = [window._dock_widgets[name] for name in window._dock_widgets]
        sizes = [480 if widget_name in dock.name else 40 for dock in docks]
        window._qt_window.resizeDocks(docks, sizes, Qt.Orientation.Vertical)
        settle()
        return self.docks[widget_name]

    def save(self, name: str) -> None:
        settle(0.6)
        path = self.out / f"gui_{name}.png"
        self.viewer.screenshot(str(path), canvas_only=False, flash=False)
        print(f"wrote {path}")

    def layer(self, role: str):
        return self.viewer.layers[f"{self.name} {role}"]

    def hide(self, *roles: str) -> None:
        for role in roles:
            name = f"{self.name} {role}"
            if name in self.viewer.layers:
                self.viewer.layers[name].visible = False

    def segment(self, checkpoint: Path | None) -> None:
        widget = self.open("Segment")
        widget.image.value = self.image
        choose_weights(widget.picker, checkpoint)
        widget.run()
        wait(widget.runner)
        widget.threshold.value = 0.45
        self.viewer.reset_view()
        self.save("segment")

    def refine(self) -> None:
        widget = self.open("Refine")
        widget.image.value = self.image
        widget.patch_size.value = 64
        if DEMO in weight_choices(PRN):
            widget.picker.arch.value = PRN
            widget.picker.weights.value = DEMO
        else:
            print(f"no demo weights for {PRN}: refining with adaptive thresholds")
            widget.picker.arch.value = NO_PRN
        widget.run()
        wait(widget.runner)
        self.hide("boundary")
        self.save("refine")

    def correct(self, patches: int) -> None:
        widget = self.open("Correct")
        widget.image.value = self.image
        widget.patch_size.value = 64
        widget.start_editing()
        self.hide("refine changes")
        mask = self.layer("mask")
        session = state_for(self.viewer).existing(self.name)
        widget.next_patch()
        wait(widget.runner)
        for _ in range(patches):
            if session.current is None:
                break
            patch = session.current[1]
            wrong = np.nonzero(mask.data[patch.slices] != self.truth[patch.slices])
            index = (wrong[0] + patch.top, wrong[1] + patch.left)
            mask.data_setitem(index, self.truth[index])  # as the user's brush would
            widget.confirm_patch()
            wait(widget.runner)
        widget.update_now()  # a head fitted to the corrections, shown when adopted
        wait(widget.updater)
        self.hide("probability")
        self.save("correct")

    def finetune(self, steps: int) -> None:
        widget = self.open("Fine-tune")
        widget.images.value = [self.image]
        widget.steps.value, widget.batch_size.value, widget.crop.value = steps, 2, 128
        widget.train()
        wait(widget.runner)
        self.viewer.reset_view()
        self.hide("next patch")
        self.save("finetune")

    def channels(self) -> None:
        """A 4-band (4, H, W) image read as one image of bands 0, 1, 2, not 4 slices."""
        pixels = np.asarray(self.image.data)
        bands = np.stack([*np.moveaxis(pixels, -1, 0), pixels.mean(-1).astype(pixels.dtype)])
        layer = self.viewer.add_image(bands, name="four bands", colormap="gray")
        widget = self.open("Segment")
        widget.image.value = layer
        widget.channels.box.expand(animate=False)
        widget.channel_axis.value = 0
        widget.bands.value = "0, 1, 2"
        widget.run()
        wait(widget.runner)
        self.save("channels")
        for name in [other.name for other in self.viewer.layers]:
            if name.startswith("four bands"):
                self.viewer.layers.remove(name)

    def cluster(self, folder: Path) -> None:
        """The image as a zarr opened lazily, segmented on a local Dask cluster."""
        import dask.array as da

        from napari_segrefine.io.zarr_io import write_zarr

        write_zarr(folder / "polyps.zarr", np.asarray(self.image.data))
        pixels = da.from_zarr(str(folder / "polyps.zarr"))
        layer = self.viewer.add_image(pixels, name="lazy", rgb=True)
        widget = self.open("Segment")
        widget.image.value = layer
        widget.channels.box.collapse(animate=False)
        widget.cluster_box.box.expand(animate=False)
        widget.cluster.enabled.value = True
        widget.cluster.chunk.value = 256
        widget.tile_size.value = 256
        widget.cluster.out.line_edit.value = str(folder / "lazy_mask.zarr")
        widget.run()
        wait(widget.runner)
        for other in self.viewer.layers:
            other.visible = other.name in ("lazy", "lazy cluster mask")
        self.save("cluster")

    def export(self, folder: Path) -> None:
        widget = self.open("Export")
        widget.labels_layer.value = self.layer("mask")
        widget.folder.value = folder
        widget.probability.value = True
        widget.export()
        wait(widget.runner)
        self.hide("changes")
        self.save("export")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--domain", default="polyps", choices=["roads", "polyps", "salient"])
    parser.add_argument("--patches", type=int, default=8, help="patches to correct")
    parser.add_argument("--steps", type=int, default=30, help="fine-tuning steps")
    parser.add_argument(
        "--checkpoint", type=Path, help="segment with this basnet_lite file, not demo weights"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        tempfile.tempdir = folder  # autosaves of the sample go here, not into earlier runs
        shots = Shots(args.domain, args.out)
        shots.segment(args.checkpoint)
        shots.refine()
        shots.correct(args.patches)
        shots.finetune(args.steps)
        shots.export(Path(folder))
        shots.channels()
        shots.cluster(Path(folder))
        shots.viewer.close()


if __name__ == "__main__":
    main()
