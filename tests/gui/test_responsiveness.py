"""The main thread keeps running while a prediction and a fine-tune work in the background."""

from __future__ import annotations

import time

import pytest
from qtpy.QtCore import QTimer

from napari_segrefine.data import make_sample

from .conftest import open_widget, wait_for

pytestmark = pytest.mark.gui

HEARTBEAT_MS = 10
GENEROUS_BOUND_S = 2.0  # catches a blocking implementation; not a benchmark


class Heartbeat:
    """A QTimer on the main thread; the longest gap between its ticks is the worst stall."""

    def __init__(self) -> None:
        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def __enter__(self) -> Heartbeat:
        self.ticks.append(time.perf_counter())
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.stop()

    @property
    def longest_stall(self) -> float:
        return max(b - a for a, b in zip(self.ticks, self.ticks[1:]))


def test_main_thread_stays_responsive_during_prediction_and_finetuning(qtbot, viewer, tmp_path):
    image = viewer.add_image(make_sample("polyps", (128, 128), seed=4).image, name="polyps")
    segment = open_widget(viewer, "Segment")
    finetune = open_widget(viewer, "Fine-tune")
    segment.image.value, segment.device.value = image, "cpu"

    with Heartbeat() as predicting:
        segment.run()
        wait_for(qtbot, segment.runner)
    viewer.layers["polyps corrections"].data[:64] = 1
    finetune.images.value = [image]
    finetune.steps.value, finetune.batch_size.value, finetune.crop.value = 4, 2, 64
    finetune.device.value = "cpu"
    with Heartbeat() as training:
        finetune.train()
        wait_for(qtbot, finetune.runner)

    report = (
        f"longest main-thread stall: prediction {predicting.longest_stall * 1000:.0f} ms "
        f"({len(predicting.ticks)} ticks), fine-tune {training.longest_stall * 1000:.0f} ms "
        f"({len(training.ticks)} ticks), heartbeat every {HEARTBEAT_MS} ms"
    )
    print(report)
    (tmp_path / "main_thread_stall.txt").write_text(report + "\n")
    assert "Fine-tune done" in finetune.status.value
    assert predicting.longest_stall < GENEROUS_BOUND_S
    assert training.longest_stall < GENEROUS_BOUND_S
