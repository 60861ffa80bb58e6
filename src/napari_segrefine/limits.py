"""Sane bounds on sizes a file or an option claims, checked before anything is allocated.

A 170-byte zarr header can claim a 100000 x 100000 image, a 4 MB ``.pth`` archive can
inflate to gigabytes, and ``--patch-size 1000000000`` asks for exabytes. Each check
here compares a claimed size with a fixed bound and with the memory the machine has
free, and fails with one line naming the limit and how to raise it:

=================================  ==========================================  ==========
limit                              default                                     raise with
=================================  ==========================================  ==========
pixels of an image held in memory  2**31 values (e.g. 46000 x 46000)          `MAX_PIXELS_ENV`
memory one step may claim          80 % of the memory free now                 `MAX_MEMORY_ENV`
inflated size of an archive        the memory limit; 20x its size when packed  `MAX_MEMORY_ENV`
=================================  ==========================================  ==========
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

from .errors import SegRefineError

MAX_PIXELS_ENV = "NAPARI_SEGREFINE_MAX_PIXELS"
MAX_MEMORY_ENV = "NAPARI_SEGREFINE_MAX_MEMORY"
DEFAULT_MAX_PIXELS = 2**31
MEMORY_SHARE = 0.8  # of the memory free now, when MAX_MEMORY_ENV is not set
MAX_PACKING_RATIO = 20  # inflated / stored bytes of a compressed archive member
LEVEL_PIXELS = 1_000_000  # values a grey-level histogram (Otsu's level) is taken over at most
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _env_number(name: str) -> int | None:
    """An integer from the environment, with an optional K/M/G/T suffix (powers of 1024)."""
    raw = os.environ.get(name, "").strip().upper().removesuffix("B")
    if not raw:
        return None
    unit = raw[-1] if raw[-1] in _UNITS else ""
    try:
        value = float(raw[: len(raw) - len(unit)]) * _UNITS[unit]
    except ValueError:
        raise SegRefineError(
            f"{name}={os.environ[name]!r} is not a number; use e.g. {name}=64G"
        ) from None
    return int(value)


def level_stride(values: int, axes: int) -> int:
    """The stride along each of ``axes`` axes that leaves at most `LEVEL_PIXELS` of
    ``values`` for a histogram."""
    return max(1, math.ceil((values / LEVEL_PIXELS) ** (1 / axes)))


def human(nbytes: float) -> str:
    """``nbytes`` as a short string in binary units (``3.5 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def _cgroup_free() -> int | None:
    """What a Linux cgroup (v2) memory limit still allows this process, if it sets one."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else max(int(limit) - used, 0)


def available_memory() -> int | None:
    """Bytes of memory free for new allocations now, or None when it cannot be told."""
    try:
        import psutil

        free: int | None = int(psutil.virtual_memory().available)
    except ImportError:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            free = None
    cgroup = _cgroup_free()
    if cgroup is not None:
        free = cgroup if free is None else min(free, cgroup)
    return free


def memory_limit() -> int | None:
    """The most memory one step may claim: `MAX_MEMORY_ENV`, else a share of what is free."""
    configured = _env_number(MAX_MEMORY_ENV)
    if configured is not None:
        return configured
    free = available_memory()
    return None if free is None else int(free * MEMORY_SHARE)


def check_memory(nbytes: float, what: str, fix: str) -> None:
    """Refuse a step that would claim more than `memory_limit` bytes.

    Args:
        nbytes: what the step would allocate (an estimate is fine).
        what: the step, for the message (``"reading a.tif (40000 x 40000 x 3 uint8)"``).
        fix: what the user can do instead (``"tile it into a zarr"``).

    Raises:
        SegRefineError: the estimate is over the limit.
    """
    limit = memory_limit()
    if limit is None or nbytes <= limit:
        return
    source = (
        f"set by {MAX_MEMORY_ENV}"
        if os.environ.get(MAX_MEMORY_ENV)
        else f"{MEMORY_SHARE:.0%} of the memory free now"
    )
    raise SegRefineError(
        f"{what} needs about {human(nbytes)} of memory but the limit is {human(limit)} "
        f"({source}); {fix}, or set {MAX_MEMORY_ENV} (e.g. "
        f"{MAX_MEMORY_ENV}=64G) if you mean it"
    )


def check_pixels(
    shape: Sequence[int], itemsize: int, what: str, *, work_bytes_per_value: float = 0
) -> None:
    """Refuse to hold an array of ``shape`` in memory when it is absurdly large.

    Args:
        shape: the claimed shape (from a file header or an option).
        itemsize: bytes per value as stored.
        what: the array, for the message (``"a.zarr"``).
        work_bytes_per_value: further bytes per value the work on it allocates
            (float copies, probability maps ...).

    Raises:
        SegRefineError: more values than `MAX_PIXELS_ENV` allows (default
            `DEFAULT_MAX_PIXELS`), or more memory than `check_memory` allows.
    """
    values = math.prod(int(size) for size in shape)
    largest = _env_number(MAX_PIXELS_ENV) or DEFAULT_MAX_PIXELS
    dims = " x ".join(str(int(size)) for size in shape)
    if values > largest:
        raise SegRefineError(
            f"{what} claims {dims} = {values:.3g} values, over the limit of {largest:.3g}; "
            f"check the file, process it in tiles (zarr), or set {MAX_PIXELS_ENV} if you "
            "mean it"
        )
    check_memory(
        values * (itemsize + work_bytes_per_value),
        f"{what} ({dims})",
        "process it in smaller pieces",
    )


def check_archive(path: Path) -> None:
    """Refuse a zip archive (a PyTorch ``.pth``) whose members would inflate absurdly.

    Reads only the central directory: the sizes each member claims, before any member
    is inflated. PyTorch stores its members uncompressed, so a compressed member that
    inflates more than `MAX_PACKING_RATIO` times is a zip bomb, not a checkpoint.

    Raises:
        SegRefineError: a member that inflates far more than it is stored, or members
            that together claim more memory than `check_memory` allows.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a readable zip: the loader reports the damage in its own words
    for member in members:
        if member.file_size > MAX_PACKING_RATIO * max(member.compress_size, 1) + 2**20:
            raise SegRefineError(
                f"{path.name} is not a plausible checkpoint: member {member.filename} "
                f"inflates from {human(member.compress_size)} to {human(member.file_size)} "
                "(a zip bomb?); refusing to load it. Re-save it with torch.save or as "
                "safetensors"
            )
    total = sum(member.file_size for member in members)
    check_memory(total, f"loading {path.name}", "use a smaller checkpoint")
