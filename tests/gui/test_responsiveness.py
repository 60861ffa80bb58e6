"""Heavy work runs off the main thread: each library call records the thread it ran on.

No durations here (they depend on the machine and its load); the stalls themselves
are measured by ``benchmarks/gui_responsiveness.py``.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from napari_segrefine.correction import session as session_module
from napari_segrefine.correction import store as store_module
from napari_segrefine.correction import updates as updates_module
from napari_segrefine.widgets import _common, _views
from napari_segrefine.widgets import export as export_module
from napari_segrefine.widgets import finetune as finetune_module
from napari_segrefine.widgets import refine as refine_module
from napari_segrefine.widgets._state import state_for

from .conftest import open_widget, segment, wait_for

pytestmark = pytest.mark.gui

HEAVY = [
    (session_module, "iter_predict"),
    (session_module, "iter_refine"),
    (updates_module, "fit_head"),
    (session_module, "rank_patches"),
    (refine_module, "change_grid"),
    (finetune_module, "iter_finetune"),
    (session_module, "change_map"),
    (store_module.SessionStore, "save"),
    (export_module, "write_labels"),
]


@pytest.fixture
def threads(monkeypatch) -> dict[str, list[threading.Thread]]:
    """The threads each heavy function ran on."""
    seen: dict[str, list[threading.Thread]] = {}
    for owner, name in HEAVY:
        real = getattr(owner, name)
        calls = seen.setdefault(name, [])

        def spy(*args, _real=real, _calls=calls, **kwargs):
            _calls.append(threading.current_thread())
            return _real(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)
    return seen


def test_every_heavy_step_of_the_loop_runs_in_a_worker(
    qtbot, viewer, image_layer, threads, tmp_path
):
    segment(qtbot, viewer, image_layer)
    refine = open_widget(viewer, "Refine")
    refine.patch_size.value = 32
    refine.run()
    wait_for(qtbot, refine.runner)
    correct = open_widget(viewer, "Correct")
    correct.next_patch()
    wait_for(qtbot, correct.runner)
    correct.confirm_patch()
    wait_for(qtbot, correct.runner)
    session = state_for(viewer).existing("salient")
    session.paint((slice(0, 16), slice(0, 16)), 1)  # both classes corrected
    correct.update_now()
    wait_for(qtbot, correct.updater)
    view = state_for(viewer).views["salient"]
    worker = view.autosave()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=30_000)
    finetune = open_widget(viewer, "Fine-tune")
    finetune.images.value = [image_layer]
    finetune.steps.value, finetune.batch_size.value, finetune.crop.value = 2, 1, 64
    finetune.device.value = "cpu"
    finetune.train()
    wait_for(qtbot, finetune.runner)
    export = open_widget(viewer, "Export")
    export.labels_layer.value = viewer.layers["salient mask"]
    export.folder.value = tmp_path / "out"
    export.export()
    wait_for(qtbot, export.runner)

    main = threading.main_thread()
    assert "Fine-tune done" in finetune.status.value
    for name, ran_on in threads.items():
        assert ran_on, f"{name} never ran: the loop above missed a step"
        assert main not in ran_on, f"{name} ran on the main thread"


def test_a_threshold_move_does_not_touch_the_record_or_save(qtbot, viewer, image_layer, threads):
    widget = segment(qtbot, viewer, image_layer)
    session = state_for(viewer).existing("salient")
    record = session.valid
    saves = len(threads["save"])

    for value in (0.3, 0.6, 0.45):
        widget.threshold.value = value

    assert session.valid is record and not record.any()
    assert session.history.counts == (0, 0)
    assert len(threads["save"]) == saves
    assert np.array_equal(session.mask, session.prediction.mask)


def test_the_first_results_are_added_one_layer_per_event_loop_turn(
    qtbot, viewer, image_layer, monkeypatch
):
    """Adding a napari layer is slow, so no single main-thread callback adds two."""
    added_by: list[tuple[str, int]] = []

    def counting(owner: type, name: str) -> None:
        real = getattr(owner, name)

        def spy(self, *args, **kwargs):
            before = len(viewer.layers)
            result = real(self, *args, **kwargs)
            added_by.append((name, len(viewer.layers) - before))
            return result

        monkeypatch.setattr(owner, name, spy)

    counting(_common.TaskRunner, "_on_returned")
    counting(_views.SessionView, "_make_next")
    segment(qtbot, viewer, image_layer)

    roles = ("probability", "boundary", "mask", "corrections")
    assert all(f"salient {role}" in viewer.layers for role in roles)
    assert ("_on_returned", 0) in added_by
    assert sum(count for _, count in added_by) == len(roles)
    assert max(count for _, count in added_by) == 1
    assert viewer.layers.selection.active is viewer.layers["salient mask"]
