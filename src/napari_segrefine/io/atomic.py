"""Atomic outputs: write into a hidden temporary sibling, then rename it into place.

An error (or Ctrl-C) in the middle of a write removes the temporary and leaves any file
that was already at the destination untouched, so no half-written output is ever seen.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import SegRefineError


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def give_default_permissions(path: Path) -> None:
    """The mode a plain ``open``/``mkdir`` would give (writers such as safetensors use 0600)."""
    path.chmod((0o777 if path.is_dir() else 0o666) & ~_umask())


def _make_temporary(path: Path, directory: bool) -> Path:
    """A hidden sibling with the permissions a plain ``open``/``mkdir`` would give."""
    prefix, suffix = f".{path.name}.", ".part"
    if directory:
        temporary = Path(tempfile.mkdtemp(dir=path.parent, prefix=prefix, suffix=suffix))
    else:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
        os.close(handle)
        temporary = Path(name)
    give_default_permissions(temporary)
    return temporary


def _move_into_place(temporary: Path, path: Path) -> None:
    if not path.exists():
        temporary.rename(path)
        return
    if not temporary.is_dir() and not path.is_dir():
        os.replace(temporary, path)
        return
    # Directories cannot be replaced in one step: park the old one, then drop it.
    parked = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.old")
    path.rename(parked)
    try:
        temporary.rename(path)
    except BaseException:
        parked.rename(path)
        raise
    _remove(parked)


@contextmanager
def atomic_output(
    path: Path, *, overwrite: bool = True, directory: bool = False
) -> Iterator[Path]:
    """Give a temporary sibling of ``path`` to write into; it becomes ``path`` on success.

    Args:
        path: the final output (a file, or a directory such as ``x.zarr``).
        overwrite: replace an existing ``path``; when False an existing one is an error.
        directory: the output is a directory (zarr) rather than a file.

    Raises:
        SegRefineError: ``path`` exists and ``overwrite`` is False.
    """
    if path.exists() and not overwrite:
        raise SegRefineError(
            f"{path} already exists; allow overwriting or choose another output name"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _make_temporary(path, directory)
    try:
        yield temporary
        _move_into_place(temporary, path)
    except BaseException:
        _remove(temporary)
        raise
