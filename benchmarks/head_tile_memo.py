"""Does the head's tile memo (`train.head._memo_bound`) run each tile once?

`fit_head` takes the base's outputs for each training window from `predict`'s default
tiles, keeping the outputs of the last `_memo_bound` tiles. This runs the real
`_prediction_outputs` over the windows `_windows` gives, in their order, for images
`predict` tiles and several layouts of corrected pixels, with a stand-in network that
counts its calls (one output channel: the count does not depend on the network), and
compares the calls with the distinct tiles, which an unbounded memo would run once
each; also with a memo of one window's tiles only (3 x 3), to show why the bound
holds rows of the grid. Context windows (visited last, at random) are left out.
No timing.

    python benchmarks/head_tile_memo.py > benchmarks/results/head_tile_memo.md
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import torch

from napari_segrefine.engine.default_tiling import default_tile_shape
from napari_segrefine.engine.preprocess import pad_to_multiple
from napari_segrefine.train import head_pixels as pixels_module

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe  # noqa: E402

HEIGHTS = (1056, 1504, 2048, 2720, 3392)
WIDTHS = (1056, 2048, 3000, 4160)
LAYOUTS = {  # corrected share of blocks, block side
    "all": (1.0, 64),
    "blobs 30%": (0.3, 64),
    "blobs 10%": (0.1, 64),
    "strokes 5%": (0.05, 32),
    "large 60%": (0.6, 128),
}


class CountingNetwork:
    """Stands in for a head: one output map of zeros per tile; counts calls and tiles."""

    def __init__(self) -> None:
        self.calls = 0
        self.tiles: set[bytes] = set()

    def base_outputs(self, batch: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.tiles.add(hashlib.blake2b(batch.numpy().tobytes(), digest_size=16).digest())
        return torch.zeros(batch.shape[0], 1, *batch.shape[2:])


def layout(shape: tuple[int, int], share: float, block: int, rng) -> np.ndarray:
    cells = rng.random((shape[0] // block + 1, shape[1] // block + 1)) < share
    return np.kron(cells, np.ones((block, block), bool))[: shape[0], : shape[1]]


def runs(x: np.ndarray, valid: np.ndarray) -> CountingNetwork:
    """The network after `_prediction_outputs` of every window of ``valid``, in order."""
    network = CountingNetwork()
    outputs_of = pixels_module._prediction_outputs(network, x, "cpu")
    for window, _ in pixels_module._windows(valid):
        outputs_of(window)
    return network


def one_case(shape: tuple[int, int], valid: np.ndarray, rng) -> tuple[int, int, int, int]:
    """(distinct tiles, runs, runs with a one-window memo, bound) of one layout."""
    x = rng.random((1, *shape), dtype=np.float32)  # every tile's bytes differ
    network = runs(x, valid)
    bound = pixels_module._memo_bound(pad_to_multiple(x).shape[1:], default_tile_shape(shape))
    chosen = pixels_module._memo_bound
    pixels_module._memo_bound = lambda padded, tile: 3 * 3
    try:
        small = runs(x, valid).calls
    finally:
        pixels_module._memo_bound = chosen
    return len(network.tiles), network.calls, small, bound


def main() -> None:
    rng = np.random.default_rng(0)
    print("# The head's tile memo: tiles run per distinct tile, windows in order\n")
    print("| image | layout | tiles touched | runs | memo bound (tiles) | runs, 9-tile memo |")
    print("|---|---|---|---|---|---|")
    worst, small_worst, cases = 1.0, 1.0, 0
    for height in HEIGHTS:
        for width in WIDTHS:
            for name, (share, block) in LAYOUTS.items():
                valid = layout((height, width), share, block, rng)
                if not valid.any():
                    continue
                tiles, calls, small, bound = one_case((height, width), valid, rng)
                worst, cases = max(worst, calls / tiles), cases + 1
                small_worst = max(small_worst, small / tiles)
                row = f"| {height} x {width} | {name} | {tiles} | {calls} | {bound} | {small} |"
                print(row)
    print(
        f"\n{cases} layouts; most runs per distinct tile: {worst:.3f} with the bound, "
        f"{small_worst:.3f} with a 9-tile memo.\n"
    )
    print(f"Machine: {describe()}")


if __name__ == "__main__":
    main()
