"""Draw docs/images/samples_<domain>.png: synthetic samples next to their labels.

Run from the repository root:

    python scripts/make_sample_figures.py [--size 256] [--count 3] [--seed 0]

Each figure has one row per sample: the image, the label (white = foreground) and the
label's outline drawn over the image.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from scipy import ndimage

from napari_segrefine import data

OUT_DIR = Path(__file__).resolve().parent.parent / "docs" / "images"
GAP = 4


def outline_overlay(image: np.ndarray, label: np.ndarray) -> np.ndarray:
    """The image with the label's boundary drawn in yellow."""
    mask = label.astype(bool)
    boundary = mask & ~ndimage.binary_erosion(mask)
    boundary |= ndimage.binary_dilation(boundary)
    overlay = image.copy()
    overlay[boundary] = (255, 230, 0)
    return overlay


def figure(samples: list[data.Sample]) -> np.ndarray:
    """Rows of image | label | outline, separated by white gaps."""
    rows = []
    for sample in samples:
        label_rgb = np.repeat(sample.label[..., None] * np.uint8(255), 3, axis=2)
        panels = [sample.image, label_rgb, outline_overlay(sample.image, sample.label)]
        gap = np.full((sample.image.shape[0], GAP, 3), 255, np.uint8)
        rows.append(np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1))
    gap = np.full((GAP, rows[0].shape[1], 3), 255, np.uint8)
    stacked = [part for row in rows for part in (row, gap)][:-1]
    return np.concatenate(stacked, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for domain in data.DOMAINS:
        samples = data.make_dataset(domain, args.count, args.size, args.seed)
        path = OUT_DIR / f"samples_{domain}.png"
        iio.imwrite(path, figure(samples))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
