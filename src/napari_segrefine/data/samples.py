"""Seeded sample images with exact labels, one generator per domain, and folders of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SegRefineError
from .polyps import make_polyps
from .roads import make_roads
from .salient import make_salient

DOMAINS = ("roads", "polyps", "salient")
"""Sample domains: aerial roads (DeepGlobe-like), endoscopy polyps (Kvasir-SEG-like) and
salient objects (DUTS-like)."""

MIN_SIZE = 16

SampleGenerator = Callable[[tuple[int, int], int], tuple[np.ndarray, np.ndarray]]
GENERATORS: dict[str, SampleGenerator] = {
    "roads": make_roads,
    "polyps": make_polyps,
    "salient": make_salient,
}


@dataclass(frozen=True, eq=False)
class Sample:
    """One synthetic image and its exact ground truth.

    Attributes:
        image: uint8 ``(H, W, 3)`` RGB image.
        label: uint8 ``(H, W)`` mask, 1 on the foreground (road, polyp, salient object).
        domain: one of `DOMAINS`.
        seed: the seed that reproduces it: ``make_sample(domain, size, seed)``.
    """

    image: np.ndarray
    label: np.ndarray
    domain: str
    seed: int


def check_domain(domain: str) -> str:
    """Return ``domain`` if known, else raise `SegRefineError`."""
    if domain not in DOMAINS:
        raise SegRefineError(
            f"unknown sample domain {domain!r}: expected one of {', '.join(DOMAINS)}"
        )
    return domain


def check_size(size: int | tuple[int, int], name: str = "size") -> tuple[int, int]:
    """Normalize ``size`` (an int for a square, or ``(height, width)``) to two ints."""
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(np.atleast_1d(size))
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise SegRefineError(f"{name} must be an int or (height, width) of ints, got {size!r}")
    if min(pair) < MIN_SIZE:
        raise SegRefineError(f"{name} {pair} is too small: use at least {MIN_SIZE} pixels a side")
    return int(pair[0]), int(pair[1])


def check_seed(seed: int) -> int:
    """Return ``seed`` as an int if it is a non-negative integer, else raise."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise SegRefineError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def make_sample(domain: str, size: int | tuple[int, int] = (256, 256), seed: int = 0) -> Sample:
    """Generate one sample; the same ``(domain, size, seed)`` always gives the same arrays.

    Args:
        domain: ``roads``, ``polyps`` or ``salient``.
        size: ``(height, width)`` in pixels (or one int for a square). Features scale with
            the shorter side; at 256 roads are 3-10 px wide.
        seed: non-negative integer.

    Returns:
        The `Sample`.
    """
    domain, size, seed = check_domain(domain), check_size(size), check_seed(seed)
    image, label = GENERATORS[domain](size, seed)
    return Sample(image, label, domain, seed)


def dataset_seed(seed: int, index: int) -> int:
    """Seed of sample ``index`` of the dataset with ``seed`` (a 31-bit integer)."""
    state = np.random.SeedSequence([check_seed(seed), index]).generate_state(1)[0]
    return int(state >> np.uint32(1))


def make_dataset(
    domain: str, n: int, size: int | tuple[int, int] = (256, 256), seed: int = 0
) -> list[Sample]:
    """Generate ``n`` samples; sample ``i`` uses ``dataset_seed(seed, i)``."""
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise SegRefineError(f"n must be a non-negative int, got {n!r}")
    return [make_sample(domain, size, dataset_seed(seed, i)) for i in range(n)]


def write_sample_folder(
    folder: str | Path,
    domain: str,
    n: int,
    size: int | tuple[int, int] = (256, 256),
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write a small dataset as PNGs: ``images/<domain>_<i>.png`` and ``labels/<same>.png``.

    Labels are written as 0/255 greyscale PNGs.

    Args:
        folder: created if missing.
        domain: sample domain.
        n: number of samples.
        size: image size.
        seed: dataset seed (see `make_dataset`).

    Returns:
        ``(images_dir, labels_dir)``.
    """
    import imageio.v3 as iio

    images_dir, labels_dir = Path(folder) / "images", Path(folder) / "labels"
    images_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    for i, sample in enumerate(make_dataset(domain, n, size, seed)):
        iio.imwrite(images_dir / f"{domain}_{i}.png", sample.image)
        iio.imwrite(labels_dir / f"{domain}_{i}.png", sample.label * np.uint8(255))
    return images_dir, labels_dir
