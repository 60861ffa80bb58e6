"""Main-thread stalls of the plugin in a real napari viewer, per action, at 512 and 2048 px.

A heartbeat QTimer fires every 5 ms on the main thread; the longest gap between two
ticks while an action runs (until its background job has finished and its result is
shown) is the worst stall a user would feel. It includes napari's own work (drawing
the canvas, uploading textures). The longest *plugin callback* is timed apart: every
main-thread function of the plugin that the action calls (button and slider handlers,
a job's result shown, progress events, autosave scheduling).

Usage (needs a display; Xvfb is fine)::

    xvfb-run -a python benchmarks/gui_responsiveness.py --sizes 512 2048 \\
        --out benchmarks/results/gui_responsiveness.md

Prints a markdown table and writes it (with the machine and its load) to ``--out``.
``--layers-ab N`` adds an A/B of how the first results are shown (N rounds each, on a
prediction made up in memory, so only the layer work is timed): the plugin's way (one
new layer per event-loop turn) against all four layers in one callback.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import napari
import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication

from napari_segrefine.data import make_sample
from napari_segrefine.engine import Prediction, boundary_map
from napari_segrefine.widgets import _common, _views, correct, finetune, refine, segment
from napari_segrefine.widgets._state import all_settled

HEARTBEAT_MS = 5
SETTLE_S = 0.3  # keep measuring this long after the job ends (late redraws)


class Heartbeat:
    """Main-thread ticks, and how long each plugin callback took."""

    def __init__(self) -> None:
        self.ticks: list[float] = []
        self.callbacks: list[tuple[str, float]] = []
        self.timer = QTimer()
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def time_callbacks(self, owner: object, names: list[str]) -> None:
        """Wrap ``owner``'s methods so their main-thread durations are recorded."""
        for name in names:
            real = getattr(owner, name)

            @functools.wraps(real)
            def timed(*args, _real=real, _name=name, **kwargs):
                if threading.current_thread() is not threading.main_thread():
                    return _real(*args, **kwargs)
                start = time.perf_counter()
                try:
                    return _real(*args, **kwargs)
                finally:
                    self.callbacks.append((_name, time.perf_counter() - start))

            setattr(owner, name, timed)

    def measure(self, action: Callable[[], object], busy: Callable[[], bool]) -> tuple:
        """(longest stall, longest plugin callback, its name) while ``action`` runs."""
        app = QApplication.instance()
        self.ticks, self.callbacks = [time.perf_counter()], []
        self.timer.start()
        action()
        while busy() or not all_settled():  # the job, then the layers it shows
            app.processEvents()
            time.sleep(0.001)
        end = time.perf_counter() + SETTLE_S
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.001)
        self.timer.stop()
        stall = max(b - a for a, b in zip(self.ticks, self.ticks[1:]))
        name, longest = max(self.callbacks, key=lambda c: c[1], default=("-", 0.0))
        return stall, longest, name


def instrument(beat: Heartbeat) -> None:
    """Time the plugin's main-thread entry points."""
    beat.time_callbacks(_common.TaskRunner, ["_on_event", "_on_returned", "_on_finished"])
    beat.time_callbacks(segment.SegmentWidget, ["run", "_rethreshold"])
    beat.time_callbacks(refine.RefineWidget, ["run"])
    beat.time_callbacks(correct.CorrectWidget, ["next_patch", "confirm_patch", "_on_valid"])
    beat.time_callbacks(finetune.FinetuneWidget, ["train"])
    beat.time_callbacks(
        _views.SessionView, ["_on_mask_stroke", "_show_mask", "_make_next", "autosave"]
    )


def run_size(beat: Heartbeat, size: int, steps: int) -> list[tuple[str, float, float, str]]:
    """Every action once on a ``size`` x ``size`` RGB image; one row per action."""
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1280, 800)
    image = make_sample("roads", (size, size), seed=3).image
    layer = viewer.add_image(image, name="bench")
    docks = {}
    for name in ("Segment", "Refine", "Correct", "Fine-tune", "Export"):
        docks[name] = viewer.window.add_plugin_dock_widget("napari-segrefine", name)[1]
    seg, ref, cor, fin = (docks[n] for n in ("Segment", "Refine", "Correct", "Fine-tune"))
    seg.image.value, seg.device.value = layer, "cpu"
    ref.image.value, ref.patch_size.value = layer, 64
    cor.image.value, cor.patch_size.value = layer, 128
    fin.steps.value, fin.batch_size.value, fin.crop.value = steps, 2, 256
    fin.device.value, fin.val_fraction.value = "cpu", 0.0
    mask_layer = lambda: viewer.layers["bench mask"]  # noqa: E731
    view = lambda: seg.state.views["bench"]  # noqa: E731
    seg.state.set_project_root(Path(tempfile.mkdtemp(prefix="segrefine-bench-")))
    export = docks["Export"]
    export.folder.value = Path(os.environ.get("TMPDIR", "/tmp")) / "segrefine-bench-export"
    idle = lambda: False  # noqa: E731 - a synchronous action

    def stroke() -> None:
        mask = mask_layer()
        mask.brush_size = 20
        with mask.block_history():
            for x in range(100, 200, 10):
                mask.paint((size // 2, x), 1)

    def autosave() -> None:
        view().autosave()

    def train() -> None:
        fin.images.reset_choices()
        fin.images.value = [layer]
        fin.train()

    def exporting() -> None:
        export.labels_layer.value = mask_layer()
        export.export()

    actions = [
        ("segment", seg.run, lambda: seg.runner.busy),
        ("threshold (3 moves)",
         lambda: [setattr(seg.threshold, "value", v) for v in (0.4, 0.6, 0.5)], idle),
        ("refine", ref.run, lambda: ref.runner.busy),
        ("start editing", cor.start_editing, idle),
        ("paint a stroke", stroke, idle),
        ("undo the stroke", lambda: mask_layer().undo(), idle),
        ("next patch", cor.next_patch, lambda: cor.runner.busy),
        ("confirm patch + next", cor.confirm_patch, lambda: cor.runner.busy),
        ("autosave", autosave, lambda: view().saving is not None and view().saving.is_running),
        (f"fine-tune ({steps} steps) + re-predict", train, lambda: fin.runner.busy),
        ("export", exporting, lambda: export.runner.busy),
    ]  # fmt: skip
    rows = []
    for round_ in ("first", "again"):
        for action, do, busy in actions:
            stall, callback, name = beat.measure(do, busy)
            rows.append((f"{action} ({round_})", stall * 1000, callback * 1000, name))
            print(f"{size} px {action} ({round_}): stall {stall * 1000:.0f} ms, "
                  f"plugin callback {callback * 1000:.0f} ms ({name})", flush=True)  # fmt: skip
    viewer.close()
    return rows


def first_layers_ab(size: int, rounds: int) -> list[str]:
    """Longest main-thread callback showing a first result: staged vs all in one go."""
    prob = np.random.default_rng(0).random((size, size)).astype(np.float32)
    prediction = Prediction(prob, (prob > 0.5).astype(np.uint8), boundary_map(prob))
    image = make_sample("roads", (size, size), seed=3).image
    longest: dict[str, list[float]] = {"staged": [], "all at once": []}
    for _ in range(rounds):
        for way in longest:
            viewer = napari.Viewer(show=True)
            viewer.window._qt_window.resize(1280, 800)
            layer = viewer.add_image(image, name="ab")
            widget = viewer.window.add_plugin_dock_widget("napari-segrefine", "Segment")[1]
            view = widget.state.view(layer)
            restored = view.session.load_autosave()
            app = QApplication.instance()
            for _ in range(50):
                app.processEvents()
            start = time.perf_counter()
            widget._show(layer, widget.picker.request(), (None, prediction, restored))
            if way == "all at once":
                while not view.settled:
                    view._make_next()
            calls = [time.perf_counter() - start]
            while not view.settled:
                start = time.perf_counter()
                view._make_next()
                calls.append(time.perf_counter() - start)
                app.processEvents()
            longest[way].append(max(calls) * 1000)
            viewer.close()
    return [
        f"| {size} | {way} | {np.median(ms):.0f} | {max(ms):.0f} | {rounds} |"
        for way, ms in longest.items()
    ]


def machine() -> str:
    """The machine and its load, for the results file."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, load average (1/5/15 min) {load}; "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"napari {napari.__version__}, Qt platform {QApplication.platformName()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--steps", type=int, default=3, help="fine-tune steps")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--layers-ab", type=int, default=0, metavar="N", help="A/B rounds")
    parser.add_argument("--ab-only", action="store_true", help="only the A/B, no actions")
    args = parser.parse_args()
    beat = Heartbeat()
    instrument(beat)
    table = ["| size | action | longest main-thread stall (ms) | longest plugin callback (ms) "
             "| that callback |", "|---|---|---|---|---|"]  # fmt: skip
    for size in [] if args.ab_only else args.sizes:
        for action, stall, callback, name in run_size(beat, size, args.steps):
            table.append(f"| {size} | {action} | {stall:.0f} | {callback:.0f} | `{name}` |")
    if args.layers_ab:
        table += ["", "First results shown: longest plugin callback (ms)", "",
                  "| size | how | median | max | rounds |", "|---|---|---|---|---|"]  # fmt: skip
        for size in args.sizes:
            table += first_layers_ab(size, args.layers_ab)
    text = "\n".join(table)
    header = f"Machine: {machine()}\n\nHeartbeat every {HEARTBEAT_MS} ms.\n\n"
    print(header + text)
    if args.out is not None:
        args.out.write_text(header + text + "\n")


if __name__ == "__main__":
    main()
