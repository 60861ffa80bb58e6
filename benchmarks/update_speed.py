"""How long one instant update takes: a head fitted to k corrected 64 px patches of a
512 x 512 image (or ``--size``), then the whole image predicted with it (what "Update
now" runs). Images over 1024 px a side are predicted in tiles, and the head learns the
network's outputs from the tiles that touch its corrections; the Correct dock predicts
the part in view first (``iter_predict(first=...)``), so the time to see the update
there is also measured, for two views around the last corrected patch: a review patch
(Next patch zooms a 128 px patch to 60 % of a 3:4 canvas: 213 x 284 px in view) and a
screenful at 1:1 (800 x 1000 px).

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

from napari_segrefine import create_model, iter_predict, predict
from napari_segrefine.data import make_sample
from napari_segrefine.engine import FirstPart
from napari_segrefine.generators import drain
from napari_segrefine.train.head import fit_head

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe  # noqa: E402

PATCH = 64
VIEWS = {"review patch": (213, 284), "screenful": (800, 1000)}


def corrected(k: int, label: np.ndarray, seed: int = 0) -> tuple[np.ndarray, tuple]:
    """k patches, those holding both classes first (a user corrects around objects),
    and the centre of the last one."""
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
    last = cells[order[k - 1]]
    return valid, ((last[0].start + last[0].stop) // 2, (last[1].start + last[1].stop) // 2)


def view_around(centre: tuple[int, int], view: tuple[int, int], shape) -> tuple[int, ...]:
    """``(y0, y1, x0, x1)`` of a ``view`` (h, w) centred on ``centre``, inside the image."""
    box = []
    for middle, side, length in zip(centre, view, shape):
        start = min(max(0, middle - side // 2), max(0, length - side))
        box += [start, min(length, start + side)]
    return tuple(box)


def time_prediction(model, image, first) -> tuple[float | None, float]:
    """Seconds until the ``first`` part came (None: it came with the whole) and in all."""
    started, seen = time.perf_counter(), []

    def note(event) -> None:
        if isinstance(event, FirstPart):
            seen.append(time.perf_counter() - started)

    drain(iter_predict(model, image, first=first), note)
    return (seen[0] if seen else None), time.perf_counter() - started


def time_updates(sample, model) -> list[tuple]:
    rows = []
    for k in (1, 4, 16):
        valid, centre = corrected(k, sample.label)
        started = time.perf_counter()
        result = fit_head(model, [(sample.image, sample.label, valid)])
        fit = time.perf_counter() - started
        views = []
        for view in VIEWS.values():
            first = view_around(centre, view, sample.label.shape)
            views.append(time_prediction(result.model, sample.image, first))
        rows.append((k, fit, [part for part, _ in views], views[0][1]))
    return rows


def time_train_command(sample) -> float:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name in ("images", "labels", "valid"):
            (root / name).mkdir()
        Image.fromarray(sample.image).save(root / "images" / "a.png")
        Image.fromarray(sample.label.astype(np.uint8)).save(root / "labels" / "a.png")
        valid = corrected(16, sample.label)[0].astype(np.uint8) * 255
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
    seen = " | ".join(f"update seen in the {name} (s)" for name in VIEWS)
    print(f"| corrected 64 px patches | fit (s) | predict the image (s) | update (s) | {seen} |")
    print("|---|---|---|---|" + "---|" * len(VIEWS))
    for k, fit, parts, pred in rows:
        whole = fit + pred
        firsts = " | ".join("(whole)" if p is None else f"{fit + p:.1f}" for p in parts)
        print(f"| {k} | {fit:.1f} | {pred:.1f} | {whole:.1f} | {firsts} |")
    print(
        "\n(whole): the view touches every tile of the image, so it is seen with the whole update."
    )
    print(
        f"\n`napari-segrefine train` with its defaults (a head) on 16 corrected patches "
        f"of one {size} x {size} image, process start to saved checkpoint: "
        f"{train_seconds:.1f} s."
    )


if __name__ == "__main__":
    main()
