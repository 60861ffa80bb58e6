"""Peak memory of a tiled CPU prediction: it holds a few tiles of activations, not the image's.

Each measurement runs in a fresh subprocess (peak RSS is a high-water mark). For every
image size it records the tile count, the wall time, the peak RSS over the baseline
taken just before `predict` (model loaded, input image allocated), and the tracemalloc
peak (numpy arrays: the stitching accumulators and outputs). One extra run measures a
single tile's forward pass, and the table sets it against what running the whole image
at once would need (that, scaled by the image's area over the tile's).

Usage::

    python benchmarks/predict_memory.py                  # 1024, 2048, 4096 px, tile 512
    python benchmarks/predict_memory.py --sizes 4096 --batch-size 2

Prints a markdown table. Uses ``basnet_lite`` from the registry, or a small stand-in
convolutional model when the registry model cannot be built.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import torch
from torch import nn

MIB = 2**20


def build_model(name: str) -> tuple[nn.Module, str]:
    """The registry model, or a stand-in of a few convolutions if it cannot be built."""
    try:
        from napari_segrefine import create_model

        return create_model(name), name
    except Exception as err:  # noqa: BLE001 - any failure means "use the stand-in"
        print(f"({name} unavailable: {err}; using the stand-in)", file=sys.stderr)
    from napari_segrefine.models.config import ModelConfig
    from napari_segrefine.models.normalization import BASNET_NORM

    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(), nn.Conv2d(16, 1, 1),
    )  # fmt: skip
    model.segrefine_config = ModelConfig(name, {"num_classes": 1}, BASNET_NORM, "image")
    return model.eval(), "stand-in (3 convs)"


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_predict(size: int, tile: int, batch_size: int, model_name: str) -> dict:
    from napari_segrefine.engine import predict, tile_grid

    model, label = build_model(model_name)
    image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    baseline = peak_rss_mib()
    tracemalloc.start()
    start = time.perf_counter()
    predict(model, image, tile_size=tile, batch_size=batch_size, device="cpu")
    seconds = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "model": label,
        "size": size,
        "tiles": len(tile_grid((size, size), tile, 0.25)),
        "seconds": seconds,
        "peak_rss": peak_rss_mib(),
        "over_baseline": peak_rss_mib() - baseline,
        "traced_peak": traced_peak / MIB,
    }


def measure_one_tile(tile: int, batch_size: int, model_name: str) -> dict:
    """Peak RSS added by one forward pass over a batch of tiles."""
    model, _ = build_model(model_name)
    x = torch.randn(batch_size, 3, tile, tile)
    baseline = peak_rss_mib()
    with torch.inference_mode():
        model(x)
    return {"tile_forward": peak_rss_mib() - baseline}


def run_child(args: list[str]) -> dict:
    command = [sys.executable, __file__, "--child", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[dict], tile_forward: float, tile: int, batch_size: int) -> str:
    lines = [
        f"Model: {rows[0]['model']}; tile {tile}, overlap 0.25, batch {batch_size}, CPU, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads. "
        f"One forward over {batch_size} tile(s) adds {tile_forward:.0f} MiB of peak RSS.",
        "",
        "| image | tiles | wall s | peak RSS MiB | RSS over baseline MiB "
        "| numpy (tracemalloc) peak MiB | whole image at once, est. MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        whole = tile_forward / batch_size * (row["size"] / tile) ** 2
        lines.append(
            f"| {row['size']}x{row['size']} | {row['tiles']} | {row['seconds']:.1f} "
            f"| {row['peak_rss']:.0f} | {row['over_baseline']:.0f} "
            f"| {row['traced_peak']:.0f} | {whole:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--model", default="basnet_lite")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *values = args.child
        if kind == "tile":
            result = measure_one_tile(args.tile, args.batch_size, args.model)
        else:
            result = measure_predict(int(values[0]), args.tile, args.batch_size, args.model)
        print(json.dumps(result))
        return
    common = ["--tile", str(args.tile), "--batch-size", str(args.batch_size)]
    common += ["--model", args.model]
    tile_forward = run_child(["tile", *common])["tile_forward"]
    rows = [run_child(["predict", str(size), *common]) for size in args.sizes]
    print(table(rows, tile_forward, args.tile, args.batch_size))


if __name__ == "__main__":
    main()
