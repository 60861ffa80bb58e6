"""Runs resume: a killed client leaves finished chunks, a killed worker is retried."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from napari_segrefine import save_checkpoint
from napari_segrefine.distributed import iter_predict_to_zarr, model_cache, predict_to_zarr
from napari_segrefine.distributed.output import DONE_FOLDER
from napari_segrefine.errors import Cancelled
from napari_segrefine.io.zarr_io import write_zarr

from .conftest import CHUNK, TILE, assert_equals_predict, rgb_image

SHAPE = (384, 384)  # 36 chunks of 64: long enough to interrupt
TOTAL = 36


def _records(out: Path) -> int:
    folder = out / DONE_FOLDER
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def _wait_for_records(out: Path, count: int, deadline_s: float = 240) -> None:
    """Poll (not a timing assertion: the deadline only stops a hung test)."""
    end = time.monotonic() + deadline_s
    while _records(out) < count:
        if time.monotonic() > end:
            raise AssertionError(f"fewer than {count} chunks finished in {deadline_s} s")
        time.sleep(0.01)


@pytest.fixture
def big(tmp_path: Path) -> tuple[Path, np.ndarray]:
    image = rgb_image(SHAPE, seed=5)
    path = tmp_path / "big.zarr"
    write_zarr(path, image)
    return path, image


def test_rerun_computes_only_missing_chunks_and_rewrites_partial_ones(
    client, model, image_zarr, tmp_path
):
    path, image = image_zarr
    out = tmp_path / "out.zarr"
    run = dict(scheduler=client, tile_size=TILE, chunk=CHUNK, save_prob=True)
    predict_to_zarr(path, out, model, **run)
    again = predict_to_zarr(path, out, model, **run)
    assert (again.already_done, again.computed, again.tiles) == (16, 0, 0)
    # a chunk whose record is missing was (maybe) half written: damage it, drop its record
    (out / DONE_FOLDER / "r2_c3").unlink()
    zarr.open_group(str(out), mode="r+")["prob/0"][128:192, 192:232] = -1.0
    resumed = predict_to_zarr(path, out, model, **run)
    assert (resumed.already_done, resumed.computed) == (15, 1)
    assert_equals_predict(out, model, image)


_CLIENT_SCRIPT = f"""
import sys, torch
torch.set_num_threads(1)
from distributed import Client, LocalCluster
from napari_segrefine import load_checkpoint
from napari_segrefine.distributed import iter_predict_to_zarr, model_cache, predict_to_zarr
if __name__ == "__main__":
    model = load_checkpoint(sys.argv[1])
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        predict_to_zarr(sys.argv[2], sys.argv[3], model, scheduler=client,
                        tile_size={TILE}, chunk={CHUNK}, save_prob=True)
"""


@pytest.mark.slow
def test_resume_after_the_client_is_killed(client, model, big, tmp_path):
    path, image = big
    out = tmp_path / "out.zarr"
    weights = save_checkpoint(model, tmp_path / "model.safetensors")
    script = tmp_path / "client.py"
    script.write_text(_CLIENT_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, str(script), str(weights), str(path), str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_records(out, 2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    finished = _records(out)
    assert 2 <= finished < TOTAL, "the client finished before it was killed"
    resumed = predict_to_zarr(
        path, out, model, scheduler=client, tile_size=TILE, chunk=CHUNK, save_prob=True
    )
    assert resumed.already_done == finished
    assert resumed.computed == TOTAL - finished
    assert_equals_predict(out, model, image)


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_replaced_and_its_chunks_retried(model, big, tmp_path):
    from distributed import Client, LocalCluster

    path, image = big
    out = tmp_path / "out.zarr"
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as dask_client,
    ):
        result: dict = {}

        def run() -> None:
            result["summary"] = predict_to_zarr(
                path,
                out,
                model,
                scheduler=dask_client,
                tile_size=TILE,
                chunk=CHUNK,
                save_prob=True,
            )

        thread = threading.Thread(target=run)
        thread.start()
        _wait_for_records(out, 1)
        busy = [worker for worker, tasks in dask_client.processing().items() if tasks]
        assert busy, "no worker was busy"
        pids = dask_client.run(os.getpid)
        os.kill(pids[busy[0]], signal.SIGKILL)
        thread.join(timeout=600)
        alive = dask_client.run(os.getpid)
        builds = dask_client.run(lambda: model_cache.BUILDS["count"])
    assert "summary" in result, "the run did not finish after a worker was killed"
    assert result["summary"].computed == TOTAL
    assert pids[busy[0]] not in alive.values()
    # once per worker process: never twice (a worker still joining may not have it yet)
    assert max(builds.values()) == 1
    assert _records(out) == TOTAL
    assert_equals_predict(out, model, image)


def test_progress_per_chunk_and_stop_between_chunks(client, model, image_zarr, tmp_path):
    path, image = image_zarr
    out = tmp_path / "out.zarr"
    options = dict(scheduler=client, tile_size=TILE, chunk=CHUNK, save_prob=True)
    stop = threading.Event()
    events = []
    with pytest.raises(Cancelled):
        for event in iter_predict_to_zarr(path, out, model, stop=stop, **options):
            events.append((event.done, event.total))
            if event.done == 1:
                stop.set()
    assert events == [(0, 16), (1, 16)]
    assert _records(out) >= 1
    # chunks already running when it stopped may still finish: the rerun counts them
    rest = predict_to_zarr(path, out, model, **options)
    assert rest.already_done >= 1 and rest.already_done + rest.computed == 16
    assert_equals_predict(out, model, image)
