"""Operating-system errors on outputs, said in one line with what to do about them."""

from __future__ import annotations

import errno
import re
from pathlib import Path

from ..errors import SegRefineError

_WHY = {
    errno.EACCES: "permission denied; choose a place you can write to or fix its permissions",
    errno.EPERM: "operation not permitted; choose a place you can write to",
    errno.EROFS: "the file system is read-only; choose an output on a writable disk",
    errno.ENOSPC: "no space left on the device; free some space or write to another disk",
    errno.EDQUOT: "the disk quota is used up; free some space or write to another disk",
    errno.EFBIG: "the file is larger than the file system or the file-size limit (ulimit -f) "
    "allows; write to another disk or raise the limit",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another output",
    errno.EISDIR: "a folder is in the way; choose another output name",
    errno.ENOENT: "a folder on the way does not exist or is a broken symbolic link",
    errno.ELOOP: "the path loops through symbolic links; choose another output",
    errno.ENAMETOOLONG: "the name is too long for the file system; choose a shorter one",
    errno.EEXIST: "something is already there; choose another output name",
}
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")
_RUST_OS_ERROR = re.compile(r"os error (\d+)")


def error_number(err: BaseException) -> int | None:
    """The errno of an OS error, also when a library reports it only in its message."""
    number = getattr(err, "errno", None)
    if isinstance(number, int):
        return number
    found = _RUST_OS_ERROR.search(str(err))
    return int(found.group(1)) if found else None


def is_os_error(err: BaseException) -> bool:
    """An `OSError`, or a library's error that wraps one (safetensors says ``os error N``)."""
    return isinstance(err, OSError) or error_number(err) is not None


def output_error(err: BaseException, path: str | Path, verb: str = "write") -> SegRefineError:
    """A `SegRefineError` saying, in one line, why ``path`` could not be written (``verb``)."""
    number = error_number(err)
    where = getattr(err, "filename", None) or path
    if number in _WHY:
        why = _WHY[number]
    elif _SHORT_WRITE.search(str(err)):
        why = "the write stopped short: the disk is full or a file-size limit was reached"
    else:
        why = getattr(err, "strerror", None) or (str(err).strip().splitlines() or [""])[0]
        why = why or type(err).__name__
    return SegRefineError(f"cannot {verb} {where}: {why}")
