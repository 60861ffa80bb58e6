"""Fixtures for the GUI tests: a real viewer (under Xvfb), a small image, notifications."""

from __future__ import annotations

import numpy as np
import pytest
from napari.utils.notifications import NotificationSeverity, notification_manager

from napari_segrefine.data import make_sample
from napari_segrefine.widgets._state import all_settled, state_for

PLUGIN = "napari-segrefine"
WAIT_MS = 60_000


@pytest.fixture(autouse=True)
def _no_autosave_next_to_the_sources(tmp_path, monkeypatch):
    """Autosaves of images without a file go to the system temp dir: send them here."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))


@pytest.fixture
def viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    yield viewer
    state_for(viewer).flush_autosaves()  # while the temp dir still points at tmp_path


@pytest.fixture
def sample():
    return make_sample("salient", (96, 96), seed=1)


@pytest.fixture
def image_layer(viewer, sample):
    return viewer.add_image(sample.image, name="salient")


class Notifications:
    """Notifications shown since the fixture was made."""

    def __init__(self) -> None:
        self.start = len(notification_manager.records)

    def messages(self, severity: NotificationSeverity | None = None) -> list[str]:
        return [
            str(n.message)
            for n in notification_manager.records[self.start :]
            if severity is None or n.severity == severity
        ]

    @property
    def errors(self) -> list[str]:
        return self.messages(NotificationSeverity.ERROR)


@pytest.fixture
def notifications():
    return Notifications()


def open_widget(viewer, name: str):
    """Open a dock widget through the manifest, as the Plugins menu does."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def wait_for(qtbot, runner, timeout: int = WAIT_MS) -> None:
    """Wait until a widget's background job has finished and its layers are made."""
    qtbot.waitUntil(lambda: not runner.busy and all_settled(), timeout=timeout)


def segment(qtbot, viewer, layer, **settings):
    """Run Segment on ``layer`` with ``basnet_lite`` (random weights unless told)."""
    widget = open_widget(viewer, "Segment")
    widget.image.value = layer
    widget.device.value = "cpu"
    for name, value in settings.items():
        getattr(widget, name).value = value
    assert widget.run() is not None
    wait_for(qtbot, widget.runner)
    assert state_for(viewer).existing(layer.name).prediction is not None
    return widget


def foreground_share(layer) -> float:
    return float(np.count_nonzero(layer.data)) / layer.data.size
