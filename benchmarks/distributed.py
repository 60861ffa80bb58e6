"""Distributed prediction on a local Dask cluster: throughput and memory per worker.

For each configuration (image side, workers) it writes a synthetic RGB mosaic to zarr,
starts a `LocalCluster` of worker processes (one thread each, torch threads = cores /
workers, as ``--scheduler local`` does), builds the model on every worker, records each
worker's resident memory (high-water mark) as the baseline, runs `predict_to_zarr`,
and records each worker's high-water mark again. The difference is what chunks and
tiles cost a worker; it should not grow with the image. "numpy peak" is the largest
allocation total tracemalloc saw on a worker during the run (numpy arrays: chunk input,
accumulators, outputs; torch's own buffers are not traced). A run given a third number
(``8192:2:6``) is interrupted once that many chunks are finished, as a Ctrl+C would:
on a busy 2-core machine a whole 16384 x 16384 run takes hours, and every chunk is the
same kind of task, so a worker's high-water mark is reached within its first chunks.
"Steady Mpx/s" is measured between the first and the last finished chunk.

The mosaic is one rendered 2048 x 2048 block of `LazyMosaic("salient")` repeated over
the image (rendering every pixel of a 16384 x 16384 mosaic takes longer than the
prediction here); the content does not change the cost of a tile.

Usage::

    python benchmarks/distributed.py                    # 8192 (1, 2 workers), 16384 (2)
    python benchmarks/distributed.py --runs 8192:1 8192:2 --tile 512 --chunk 2048

Prints a markdown table (and the machine, with its load) to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

MIB = 2**20
BLOCK = 2048


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_mosaic(path: Path, side: int) -> None:
    """A ``side`` x ``side`` RGB zarr: one rendered salient block, repeated, block by block."""
    import zarr

    from napari_segrefine.data.mosaic import LazyMosaic

    block = LazyMosaic("salient", (BLOCK, BLOCK), chunk=512, seed=1).image[:, :]
    stored = zarr.create_array(
        store=str(path), shape=(side, side, 3), chunks=(512, 512, 3), dtype=np.uint8,
        zarr_format=2,
    )  # fmt: skip
    for y in range(0, side, BLOCK):
        for x in range(0, side, BLOCK):
            stored[y : y + BLOCK, x : x + BLOCK] = block[: side - y, : side - x]


def build_model(width: int):
    from napari_segrefine import create_model

    return create_model("basnet_lite", width=width).eval()


def run_once(source: Path, side: int, workers: int, stop_after: int, threads: int, args) -> dict:
    """One run on a fresh cluster; times exclude starting the cluster and the model.

    ``stop_after`` > 0: the run is interrupted once that many chunks are finished (as a
    Ctrl+C would); the memory high-water marks then cover those chunks.
    """
    import torch
    from distributed import Client, LocalCluster

    from napari_segrefine.distributed import make_plan
    from napari_segrefine.distributed.cluster import local_torch_threads
    from napari_segrefine.distributed.model_cache import ModelPayload, install

    model = build_model(args.width)
    payload = ModelPayload.from_model(model)
    threads = threads or local_torch_threads(workers)
    out = source.parent / f"out-{side}-{workers}.zarr"
    shutil.rmtree(out, ignore_errors=True)
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    with cluster, Client(cluster) as client:
        client.run(torch.set_num_threads, threads)
        client.run(install, payload)  # the run's plugin then finds the model built
        baseline = client.run(peak_rss_mib)
        client.run(tracemalloc.start)
        load_before = os.getloadavg()
        start = time.perf_counter()
        done = _predict(client, source, out, model, stop_after, args)
        seconds = time.perf_counter() - start
        peaks = client.run(peak_rss_mib)
        traced = client.run(lambda: tracemalloc.get_traced_memory()[1] / MIB)
    plan = make_plan((side, side), args.tile, 0.25, args.chunk)
    regions = plan.regions()
    steady = _steady_rate(out, plan)
    shutil.rmtree(out, ignore_errors=True)
    return {
        "side": side,
        "workers": workers,
        "threads": threads,
        "chunks": f"{done} of {len(regions)}",
        "tiles": sum(plan.tiles_in(region) for region in list(regions.values())[:done]),
        "grid_tiles": _grid_tiles(plan),
        "seconds": seconds,
        "mpx_per_s": side * side * done / len(regions) / 1e6 / seconds,
        "steady": steady,
        "baseline": max(baseline.values()),
        "peak": max(peaks.values()),
        "grow": max(peaks[w] - baseline[w] for w in peaks),
        "traced": max(traced.values()),
        "load": (load_before, os.getloadavg()),
        "working_set": _working_set(plan),
    }


def _predict(client, source: Path, out: Path, model, stop_after: int, args) -> int:
    """Run `predict_to_zarr`; with ``stop_after``, cancel it after that many chunks."""
    from napari_segrefine.distributed import predict_to_zarr
    from napari_segrefine.distributed.output import DONE_FOLDER

    options = {"scheduler": client, "tile_size": args.tile, "chunk": args.chunk}
    if not stop_after:
        return predict_to_zarr(source, out, model, **options).computed
    worker = threading.Thread(
        target=lambda: _quietly(predict_to_zarr, source, out, model, **options), daemon=True
    )
    worker.start()
    records = out / DONE_FOLDER
    while not records.is_dir() or len(list(records.iterdir())) < stop_after:
        time.sleep(0.1)
    done = len(list(records.iterdir()))
    client.cancel(list(client.futures.values()))  # what a Ctrl+C of the client leaves
    return done


def _quietly(function, *args, **kwargs) -> None:
    with contextlib.suppress(Exception):  # the run is cancelled on purpose
        function(*args, **kwargs)


def _steady_rate(out: Path, plan) -> float:
    """Mpx/s between the first and the last chunk finished (completion records' times):
    the rate once the cluster is busy, without the start and the divisor's pass."""
    from napari_segrefine.distributed.output import DONE_FOLDER

    times = sorted(entry.stat().st_mtime for entry in (out / DONE_FOLDER).iterdir())
    if len(times) < 2 or times[-1] <= times[0]:
        return float("nan")
    return (len(times) - 1) * plan.chunk**2 / 1e6 / (times[-1] - times[0])


def _grid_tiles(plan) -> int:
    from napari_segrefine.engine import tile_grid

    return len(tile_grid(plan.padded, plan.tile, plan.overlap))


def _working_set(plan) -> float:
    """MiB of arrays one chunk task holds: its input with halo (float32, 3 channels), the
    chunk's float64 accumulator, float32 probabilities and uint8 mask (largest chunk)."""
    reaches = (plan.window(region)[1] for region in plan.regions().values())
    reach = max((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in reaches)
    return (3 * 4 * reach + (8 + 4 + 1) * plan.chunk**2) / MIB


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, {platform.platform()}"


def _unshadow_dask() -> None:
    """This file is named like Dask's ``distributed``: take its folder off the import path
    (worker processes inherit the path), so ``import distributed`` finds Dask."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]


def main() -> None:
    _unshadow_dask()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs",
        nargs="+",
        default=["8192:1:3", "8192:2:6", "16384:2:6"],
        help="SIDE:WORKERS[:STOP_AFTER_CHUNKS[:TORCH_THREADS]] ... (0 = all chunks / "
        "cores divided by workers)",
    )
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2, help="basnet_lite width (8 = shipped)")
    args = parser.parse_args()
    runs = [tuple(int(part) for part in f"{run}:0:0".split(":")[:4]) for run in args.runs]
    print(f"machine: {machine()}")
    print(f"load average at start: {os.getloadavg()}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="segrefine-bench-") as folder:
        for side in sorted({run[0] for run in runs}):
            source = Path(folder) / f"mosaic-{side}.zarr"
            start = time.perf_counter()
            write_mosaic(source, side)
            print(f"wrote the {side} mosaic in {time.perf_counter() - start:.0f} s")
            for _, workers, stop_after, threads in [run for run in runs if run[0] == side]:
                row = run_once(source, side, workers, stop_after, threads, args)
                rows.append(row)
                print(row, flush=True)
            shutil.rmtree(source)
    print()
    print(
        f"basnet_lite width {args.width}, tile {args.tile}, overlap 0.25, chunk {args.chunk}, "
        "CPU, mask only"
    )
    print()
    print(
        "| image | workers | torch threads/worker | chunks done | tiles run (whole grid) | "
        "time (s) | Mpx/s | steady Mpx/s | worker RSS before (MiB) | "
        "worker peak RSS (MiB) | peak growth (MiB) | numpy peak (MiB) | "
        "chunk working set (MiB) | "
        "load avg before -> after |"
    )
    print("|---" * 14 + "|")
    for r in rows:
        load = f"{r['load'][0][0]:.1f} -> {r['load'][1][0]:.1f}"
        print(
            f"| {r['side']}x{r['side']} | {r['workers']} | {r['threads']} | {r['chunks']} | "
            f"{r['tiles']} ({r['grid_tiles']}) | {r['seconds']:.0f} | {r['mpx_per_s']:.3f} | "
            f"{r['steady']:.3f} | "
            f"{r['baseline']:.0f} | {r['peak']:.0f} | {r['grow']:.0f} | {r['traced']:.0f} | "
            f"{r['working_set']:.0f} | {load} |"
        )


if __name__ == "__main__":
    main()
