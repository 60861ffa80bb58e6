"""Segment's "run on a Dask cluster": a zarr-backed layer, segmented chunk by chunk."""

from __future__ import annotations

import time
from collections.abc import Iterator

import dask.array as da
import numpy as np
import pytest

from napari_segrefine import predict
from napari_segrefine.data import make_sample
from napari_segrefine.engine import Progress
from napari_segrefine.errors import Cancelled
from napari_segrefine.io.zarr_io import write_zarr
from napari_segrefine.widgets._state import state_for

from .conftest import open_widget, wait_for

pytestmark = pytest.mark.gui

TILE, CHUNK = 64, 64


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    """An in-process scheduler with two worker threads, reached by its address."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def lazy_layer(viewer, tmp_path):
    pixels = make_sample("salient", (160, 192), seed=2).image
    path = tmp_path / "big.zarr"
    write_zarr(path, pixels)
    layer = viewer.add_image(da.from_zarr(str(path)), name="big", rgb=True)
    return layer, pixels, tmp_path


def _cluster_dock(viewer, layer, address, out):
    widget = open_widget(viewer, "Segment")
    widget.image.value, widget.device.value = layer, "cpu"
    widget.picker.weights.value = "random init (untrained)"
    widget.tile_size.value = TILE
    settings = widget.cluster
    settings.enabled.value = True
    settings.scheduler.value, settings.chunk.value = address, CHUNK
    settings.out.line_edit.value = str(out)
    return widget


def test_a_zarr_layer_segments_on_the_cluster_into_a_multiscale_layer(
    qtbot, viewer, lazy_layer, address, notifications
):
    layer, pixels, tmp_path = lazy_layer
    widget = _cluster_dock(viewer, layer, address, tmp_path / "out.zarr")
    assert widget.cluster.enabled.enabled

    assert widget.run() is not None
    wait_for(qtbot, widget.runner)

    assert not notifications.errors, notifications.errors
    result = viewer.layers["big cluster mask"]
    assert result.multiscale and result.data[0].shape == (160, 192)
    expected = predict(
        state_for(viewer).model, pixels, tile_size=TILE, overlap=0.25, device="cpu"
    ).mask
    np.testing.assert_array_equal(np.asarray(result.data[0]), expected)
    assert "big" not in state_for(viewer).views  # the pixels were never loaded here
    assert "9 chunk(s) computed, 0 already done" in widget.status.value  # 3 x 3 chunks

    assert widget.run() is not None  # a rerun finds every chunk done
    wait_for(qtbot, widget.runner)
    assert "0 chunk(s) computed, 9 already done" in widget.status.value


def test_an_in_memory_layer_is_not_offered_the_cluster(viewer, image_layer, notifications):
    widget = open_widget(viewer, "Segment")
    widget.image.value = image_layer
    assert not widget.cluster.enabled.enabled
    widget.cluster.enabled.value = True  # set from a script anyway
    assert widget.run() is None
    assert any("held in memory" in m for m in notifications.errors)


def test_an_unreachable_scheduler_is_one_message(qtbot, viewer, lazy_layer, notifications):
    layer, _, tmp_path = lazy_layer
    widget = _cluster_dock(viewer, layer, "tcp://127.0.0.1:9", tmp_path / "out.zarr")
    assert widget.run() is not None
    wait_for(qtbot, widget.runner)
    assert any("cannot reach the Dask scheduler" in m for m in notifications.errors)
    assert "cannot reach the Dask scheduler" in widget.status.value  # what to do, there too
    assert "big cluster mask" not in viewer.layers


def test_without_a_file_the_output_must_be_chosen(viewer, lazy_layer, notifications):
    layer, _, _ = lazy_layer
    widget = _cluster_dock(viewer, layer, "local", "")
    assert widget.run() is None
    assert any("choose an output .zarr" in m for m in notifications.errors)


def test_deleting_the_image_cancels_its_cluster_run(
    qtbot, viewer, lazy_layer, monkeypatch, notifications
):
    import napari_segrefine.distributed as distributed

    def waits_for_stop(inputs, out, model, *, stop, **options):
        yield Progress(0, 4, "0 chunk(s) already done")
        while not stop.is_set():
            time.sleep(0.01)
        raise Cancelled("stopped between chunks; rerun to finish")

    monkeypatch.setattr(distributed, "iter_predict_to_zarr", waits_for_stop)
    layer, _, tmp_path = lazy_layer
    widget = _cluster_dock(viewer, layer, "local", tmp_path / "out.zarr")
    assert widget.run() is not None
    qtbot.waitUntil(lambda: "already done" in widget.status.value, timeout=30_000)

    viewer.layers.remove(layer)
    wait_for(qtbot, widget.runner, timeout=10_000)

    assert widget.status.value == "Segment: cancelled"
    assert not notifications.errors
