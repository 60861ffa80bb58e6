"""Atomic outputs: write into a hidden temporary sibling, then rename it into place.

An error (or Ctrl-C) in the middle of a write removes the temporary and leaves any file
that was already at the destination untouched, so no half-written output is ever seen.
Only an earlier output of the same kind is replaced (a file by a file, a zarr folder by
a zarr folder): a folder, link or device that happens to carry the output's name is
never removed. Operating-system errors (permission, read-only or full disk, file-size
limit ...) become one-line `SegRefineError` messages.
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
from .oserror import is_os_error, output_error

ZARR_MARKERS = (".zarray", ".zgroup", ".zattrs", "zarr.json")


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


def is_replaceable(path: Path, directory: bool) -> bool:
    """Whether ``path`` looks like an earlier output of the same kind (safe to replace).

    A regular file for file outputs; a folder holding zarr metadata for zarr outputs.
    Links, devices and folders of other kinds are never taken for outputs.
    """
    if path.is_symlink():
        return False
    if directory:
        return path.is_dir() and any((path / marker).exists() for marker in ZARR_MARKERS)
    return path.is_file()


def check_replaceable(path: Path, *, overwrite: bool, directory: bool) -> None:
    """Refuse an existing ``path`` unless ``overwrite`` and it is an output of the same kind.

    Raises:
        SegRefineError: naming what is in the way.
    """
    if not os.path.lexists(path):
        return
    if not overwrite:
        raise SegRefineError(
            f"{path} already exists; allow overwriting or choose another output name"
        )
    if not is_replaceable(path, directory):
        kind = "a zarr folder" if directory else "a file"
        raise SegRefineError(
            f"{path} is in the way and is not {kind} written earlier (a folder, link or "
            "device of that name); move it away or choose another output name"
        )


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
        SegRefineError: ``path`` exists and ``overwrite`` is False, something other
            than an earlier output of the same kind is in the way, or the operating
            system refused the write (the message says why and what to do).
    """
    check_replaceable(path, overwrite=overwrite, directory=directory)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = _make_temporary(path, directory)
    except OSError as err:
        raise output_error(err, path) from None
    try:
        yield temporary
        _move_into_place(temporary, path)
    except BaseException as err:
        _remove(temporary)
        if isinstance(err, Exception) and not isinstance(err, SegRefineError) and is_os_error(err):
            raise output_error(err, path) from None
        raise
