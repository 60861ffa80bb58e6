"""How long one instant update takes: a head fitted to k corrected 64 px patches of a
512 x 512 image (or ``--size``), then the whole image predicted with it (what "Update
now" runs). Images over 1024 px a side are predicted in tiles, and the head learns the
network's outputs from the tiles that touch its corrections.

Also times ``napari-segrefine train`` with its defaults on 16 corrected patches.

    python benchmarks/update_speed.py > benchmarks/results/update_speed_cpu.md
    python benchmarks/update_speed.py --size 2048 > benchmarks/results/update_speed_2048_cpu.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from napari_segrefine import create_model, predict
from napari_segrefine.data import make_sample
from napari_segrefine.train.head import fit_head

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe  # noqa: E402

PATCH = 64


def corrected(k: int, label: np.ndarray, seed: int = 0) -> np.ndarray:
    """k patches, those holding both classes first (a user corrects around objects)."""
    rng = np.random.default_rng(seed)
    cells = [
        (slice(r, r + PATCH), slice(c, c + PATCH))
        for r in range(0, label.shape[0], PATCH)
        for c in range(0, label.shape[1], PATCH)
    ]
    order = sorted(rng.permutation(len(cells)), key=lambda i: not 0 < label[cells[i]].mean() < 1)
    valid = np.zeros(label.shape, bool)
    for index in order[:k]:
        valid[cells[index]] = True
    return valid


def time_updates(sample, model) -> list[tuple[int, float, float]]:
    rows = []
    for k in (1, 4, 16):
        valid = corrected(k, sample.label)
        started = time.perf_counter()
        result = fit_head(model, [(sample.image, sample.label, valid)])
        fitted = time.perf_counter()
        predict(result.model, sample.image)
        rows.append((k, fitted - started, time.perf_counter() - fitted))
    return rows


def time_train_command(sample) -> float:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name in ("images", "labels", "valid"):
            (root / name).mkdir()
        Image.fromarray(sample.image).save(root / "images" / "a.png")
        Image.fromarray(sample.label.astype(np.uint8)).save(root / "labels" / "a.png")
        valid = corrected(16, sample.label).astype(np.uint8) * 255
        Image.fromarray(valid).save(root / "valid" / "a.png")
        command = [
            sys.executable, "-m", "napari_segrefine.cli", "train", "--images",
            root / "images", "--labels", root / "labels", "--masks", root / "valid",
            "--out", root / "head.safetensors",
        ]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    size = parser.parse_args().size
    sample = make_sample("polyps", (size, size), seed=11)
    model = create_model("basnet_lite", pretrained=True)
    predict(model, sample.image)  # warm up
    rows = time_updates(sample, model)
    train_seconds = time_train_command(sample)
    print("# Instant update speed (CPU)\n")
    print(
        f"Machine: {describe()}, OMP_WAIT_POLICY="
        f"{os.environ.get('OMP_WAIT_POLICY', 'default')}. Image {size} x {size} RGB "
        f"(synthetic polyps), base `basnet_lite`, head defaults.\n"
    )
    print("| corrected 64 px patches | fit (s) | predict the image (s) | update (s) |")
    print("|---|---|---|---|")
    for k, fit, pred in rows:
        print(f"| {k} | {fit:.1f} | {pred:.1f} | {fit + pred:.1f} |")
    print(
        f"\n`napari-segrefine train` with its defaults (a head) on 16 corrected patches "
        f"of one {size} x {size} image, process start to saved checkpoint: "
        f"{train_seconds:.1f} s."
    )


if __name__ == "__main__":
    main()
