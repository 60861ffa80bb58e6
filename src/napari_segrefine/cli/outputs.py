"""All-or-nothing outputs of the CLI, checked before the work starts.

A command first checks its ``--out`` (a folder it can write to, not a file, not a broken
link) and that no output name is taken by something other than an earlier output of the
same kind (`check_outputs`); only then does the work start. Outputs are written into a
hidden staging folder ``.segrefine-<pid>-*.part`` inside ``--out`` (`staged_outputs`) and
moved into place when every input succeeded. An error, Ctrl-C or SIGTERM removes the
staging folder; one left by a killed run (its process gone) is removed by the next run.
Nothing the user made is replaced without ``--overwrite``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..errors import SegRefineError
from ..io.atomic import is_replaceable
from ..io.oserror import output_error

STAGING_PREFIX = ".segrefine-"
_STAGING_NAME = re.compile(r"^\.segrefine-(?:(\d+)-)?[^/]*\.part$")


def add_overwrite_option(parser: argparse.ArgumentParser) -> None:
    """``--overwrite``: replace whatever carries an output's name (files, folders, links)."""
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace anything in --out that carries an output's name; without it only "
        "earlier outputs of the same kind (files, zarr folders) are replaced",
    )


def check_distinct_outputs(keys: Sequence[str], sources: Sequence[Path]) -> None:
    """Error when two inputs would write the same output name."""
    seen: dict[str, Path] = {}
    for key, source in zip(keys, sources):
        if key in seen:
            raise SegRefineError(
                f"{seen[key]} and {source} would both write {key}; rename one of them"
            )
        seen[key] = source


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path.cwd()


def check_writable_place(path: Path, option: str = "--out") -> None:
    """Refuse a ``path`` whose nearest existing folder cannot take new files.

    Raises:
        SegRefineError: ``path`` is a broken link, lies under a file, or its folder is
            read-only, not permitted, or otherwise refuses a new file (probed with a
            temporary file that is removed at once).
    """
    if path.is_symlink() and not path.exists():
        raise SegRefineError(
            f"{option} {path} is a broken symbolic link (to {os.readlink(path)}); fix or "
            "remove the link, or choose another path"
        )
    folder = _existing_ancestor(path if not path.exists() or path.is_dir() else path.parent)
    if not folder.is_dir():
        raise SegRefineError(
            f"{option} {path}: {folder} is a file, not a folder; choose another path"
        )
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=STAGING_PREFIX):
            pass
    except OSError as err:  # name the folder, not the probe's temporary name
        raise output_error(OSError(err.errno, err.strerror), folder) from None


def check_outputs(out: Path, names: Sequence[str], *, overwrite: bool) -> None:
    """Check ``--out`` and the output names in it before any work starts.

    Raises:
        SegRefineError: ``out`` is a file or cannot be written, or an output name is
            taken by something that is not an earlier output of its kind (unless
            ``overwrite``).
    """
    if out.exists() and not out.is_dir():
        raise SegRefineError(f"--out {out} is a file; give a folder")
    check_writable_place(out)
    if overwrite:
        return
    blocked = [
        name
        for name in names
        if os.path.lexists(out / name)
        and not is_replaceable(out / name, directory=name.endswith(".zarr"))
    ]
    if blocked:
        raise SegRefineError(
            f"{out} already holds {', '.join(blocked[:3])}{' ...' if len(blocked) > 3 else ''}"
            ", which is not an output written earlier (a folder, link or other kind of file "
            "of that name); move it away, choose another --out, or pass --overwrite"
        )


def remove_stale_staging(out: Path) -> None:
    """Remove staging folders of runs that were killed (their process is gone)."""
    for entry in out.glob(f"{STAGING_PREFIX}*.part"):
        found = _STAGING_NAME.match(entry.name)
        if found is None or not entry.is_dir() or entry.is_symlink():
            continue
        if found.group(1) and _alive(int(found.group(1))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        print(
            f"napari-segrefine: removed {entry.name}, left in {out} by an interrupted run",
            file=sys.stderr,
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


@contextmanager
def staged_outputs(out: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """A hidden folder inside ``out`` to write into; its files join ``out`` on success.

    On an error, Ctrl-C or SIGTERM (see `napari_segrefine.cli.main`) the staging folder
    is removed, as is ``out`` itself (and the parents made for it) when this call
    created it.

    Raises:
        SegRefineError: ``out`` is a file, or the operating system refused a write.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SegRefineError(f"--out {out} is a file; give a folder")
    created = _missing_ancestors(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(out)
        prefix = f"{STAGING_PREFIX}{os.getpid()}-"
        staging = Path(tempfile.mkdtemp(dir=out, prefix=prefix, suffix=".part"))
    except OSError as err:
        _remove_empty(created)
        raise output_error(err, out) from None
    try:
        yield staging
        for entry in sorted(staging.iterdir()):
            _replace(entry, out / entry.name, overwrite)
        staging.rmdir()
    except BaseException as err:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(created)
        if isinstance(err, OSError):
            raise output_error(err, out) from None
        raise


def _missing_ancestors(path: Path) -> list[Path]:
    """``path`` and its parents that do not exist yet, deepest first."""
    missing = []
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            break
        missing.append(candidate)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _replace(source: Path, target: Path, overwrite: bool) -> None:
    if os.path.lexists(target):
        if not (overwrite or is_replaceable(target, directory=source.is_dir())):
            raise SegRefineError(
                f"{target} appeared while this command ran and is not an earlier output; "
                "move it away or pass --overwrite"
            )
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif source.is_dir():
            target.unlink()
    os.replace(source, target)
