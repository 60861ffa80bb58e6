"""CPU timings of the refinement step: patch-optimal thresholds and `refine`.

Times `patch_optimal_thresholds` on a large random map (default 4096 x 4096, 64-px
patches), the PRN-free fallback of `refine`, and `refine` with ``prn_p64_lite``
(random weights: the speed does not depend on them) on a smaller map in 512-px
windows. Prints a markdown table of the best and median of a few repeats (PRN: one run).

Usage::

    python benchmarks/thresholds.py
    python benchmarks/thresholds.py --threshold-size 2048 --refine-size 1024 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy import ndimage

from napari_segrefine import create_model
from napari_segrefine.refine import patch_optimal_thresholds, refine


def timings(run: Callable[[], object], repeats: int, warm_up: bool) -> tuple[float, float]:
    """Best and median wall time of ``repeats`` runs, after one warm-up run if asked."""
    if warm_up:
        run()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return min(seconds), statistics.median(seconds)


def probability_map(size: int, seed: int = 0) -> np.ndarray:
    """A smooth random map with blob-shaped objects, like a segmenter's output."""
    rng = np.random.default_rng(seed)
    small = ndimage.gaussian_filter(rng.random((size // 8, size // 8)), sigma=2)
    blobs = ndimage.zoom(small, 8, order=1)
    return np.clip((blobs - blobs.min()) / np.ptp(blobs), 0, 1).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold-size", type=int, default=4096)
    parser.add_argument("--refine-size", type=int, default=2048)
    parser.add_argument("--patch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    large = probability_map(args.threshold_size)
    target = large > 0.45
    medium = probability_map(args.refine_size, seed=1)
    prn = create_model("prn_p64_lite")
    cases = [
        (
            f"patch_optimal_thresholds {args.threshold_size}^2",
            lambda: patch_optimal_thresholds(large, target, args.patch_size),
            args.repeats,
            True,
        ),
        (
            f"refine (no PRN, Otsu fallback) {args.threshold_size}^2",
            lambda: refine(large, patch_size=args.patch_size),
            args.repeats,
            True,
        ),
        (
            f"refine (prn_p64_lite, 512-px windows) {args.refine_size}^2",
            lambda: refine(medium, patch_size=args.patch_size, prn=prn, device="cpu"),
            1,
            False,  # minutes per run on a laptop CPU; torch has no costly first call here
        ),
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads\n")
    print("| step | best (s) | median (s) | runs |")
    print("|---|---:|---:|---:|")
    for name, run, repeats, warm_up in cases:
        best, median = timings(run, repeats, warm_up)
        print(f"| {name} | {best:.3f} | {median:.3f} | {repeats} |")


if __name__ == "__main__":
    main()
