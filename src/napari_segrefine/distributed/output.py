"""The output store, written chunk by chunk by the workers, and its completion record.

Layout of one image's output (a zarr v2 group, OME-Zarr 0.4 inside)::

    out.zarr/            attrs: the run's settings ("segrefine-distributed"), GeoTIFF tags
      mask/0, 1, ...     OME-Zarr multiscale label image (uint8 0/1, or class indices)
      prob/0, 1, ...     OME-Zarr multiscale probabilities (float32), when asked for
      .segrefine-done/   one empty file per finished chunk: the completion record

A task writes every level of its chunk and only then creates its record file, so a
chunk without a record is recomputed and rewritten whole on the next run, and one
with a record is never touched again. Level ``k`` chunks are ``chunk / 2**k`` pixels,
so each task owns exactly one zarr chunk per level and no two tasks share a file.
The output must be on a filesystem every worker sees at the same path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SegRefineError
from ..io.zarr_io import OME_VERSION
from .plan import Plan
from .sources import Region

SETTINGS_KEY = "segrefine-distributed"
DONE_FOLDER = ".segrefine-done"


@dataclass(frozen=True)
class OutputTarget:
    """Where one image's chunks go; picklable, opened by each task."""

    path: Path
    levels: int
    chunk: int
    with_prob: bool

    def write(self, region: Region, mask: np.ndarray, prob: np.ndarray | None) -> None:
        """Every pyramid level of one chunk: ``mask`` (h, w), ``prob`` (h, w) or (K, h, w)."""
        import zarr

        root = zarr.open_group(str(self.path), mode="r+")
        layers = [("mask", mask)] + ([("prob", prob)] if self.with_prob else [])
        y0, _, x0, _ = region
        for name, data in layers:
            for level in range(self.levels):
                step = 2**level
                part = data[..., ::step, ::step]
                rows = slice(y0 // step, y0 // step + part.shape[-2])
                cols = slice(x0 // step, x0 // step + part.shape[-1])
                root[f"{name}/{level}"][..., rows, cols] = part

    def mark_done(self, index: tuple[int, int]) -> None:
        (self.path / DONE_FOLDER / _record_name(index)).touch()

    def done(self) -> set[tuple[int, int]]:
        """Chunks with a completion record."""
        folder = self.path / DONE_FOLDER
        names = (entry.name for entry in folder.iterdir()) if folder.is_dir() else ()
        return {_record_index(name) for name in names if name.startswith("r")}


def unwritable(path: Path, error: OSError) -> SegRefineError:
    """The one-line error for an output that cannot be written."""
    reason = (error.strerror or type(error).__name__).lower()
    return SegRefineError(
        f"cannot write {path}: {reason}; choose an output folder you can write to "
        "(on a cluster: one every worker can write to at the same path)"
    )


def _record_name(index: tuple[int, int]) -> str:
    return f"r{index[0]}_c{index[1]}"


def _record_index(name: str) -> tuple[int, int]:
    row, col = name[1:].split("_c")
    return int(row), int(col)


def prepare_output(
    path: Path,
    plan: Plan,
    settings: dict[str, Any],
    *,
    num_classes: int,
    with_prob: bool,
    scale: tuple[float, float] | None = None,
    geo: dict[str, Any] | None = None,
) -> OutputTarget:
    """Create the output store, or reopen it to resume a run with the same ``settings``.

    Raises:
        SegRefineError: ``path`` holds something else, a run with other settings, or
            cannot be written.
    """
    target = OutputTarget(Path(path), plan.levels, plan.chunk, with_prob)
    try:
        if _settings_of(target.path) is None:
            _create(target, plan, settings, num_classes, scale, geo)
        (target.path / DONE_FOLDER).mkdir(exist_ok=True)
    except OSError as error:
        raise unwritable(path, error) from None
    _check_same_run(target.path, settings)
    return target


def _settings_of(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    if not (path / ".zgroup").is_file():
        raise SegRefineError(
            f"{path} exists and is not a zarr group written by a distributed run; "
            "choose another output or delete it"
        )
    import zarr

    settings = zarr.open_group(str(path), mode="r").attrs.get(SETTINGS_KEY)
    if settings is None:
        raise SegRefineError(
            f"{path} is a zarr group that a distributed run did not write; choose "
            "another output or delete it"
        )
    return settings


def _check_same_run(path: Path, settings: dict[str, Any]) -> None:
    stored = _settings_of(path) or {}
    changed = sorted(key for key in settings if stored.get(key) != settings[key])
    if changed:
        first = changed[0]
        raise SegRefineError(
            f"{path} holds a run with other settings ({first}: {stored.get(first)!r}, now "
            f"{settings[first]!r}); to resume, use the same settings; else delete it or "
            "choose another output"
        )


def _create(
    target: OutputTarget,
    plan: Plan,
    settings: dict[str, Any],
    num_classes: int,
    scale: tuple[float, float] | None,
    geo: dict[str, Any] | None,
) -> None:
    import zarr

    root = zarr.open_group(str(target.path), mode="w-", zarr_format=2)
    mask_dtype = np.uint8 if num_classes <= 256 else np.int32
    _multiscale(root, "mask", plan, mask_dtype, (), scale, labels=True)
    if target.with_prob:
        classes = () if num_classes == 1 else (num_classes,)
        _multiscale(root, "prob", plan, np.float32, classes, scale, labels=False)
    if geo:
        root.attrs["geotiff"] = _jsonable(geo)
    root.attrs[SETTINGS_KEY] = settings  # last: a store without it is not a run's yet


def _multiscale(
    root: Any,
    name: str,
    plan: Plan,
    dtype: Any,
    leading: tuple[int, ...],
    scale: tuple[float, float] | None,
    *,
    labels: bool,
) -> None:
    """One OME-Zarr 0.4 multiscale image of ``plan.levels`` levels, nearest 2x."""
    group = root.create_group(name)
    base = scale or (1.0, 1.0)
    datasets = []
    for level in range(plan.levels):
        side = plan.chunk // 2**level
        group.create_array(
            str(level),
            shape=leading + plan.level_shape(level),
            chunks=leading + (side, side),
            dtype=dtype,
            fill_value=0,
        )
        factors = [1.0] * len(leading) + [base[0] * 2**level, base[1] * 2**level]
        datasets.append(
            {
                "path": str(level),
                "coordinateTransformations": [{"type": "scale", "scale": factors}],
            }
        )
    axes = [{"name": "c", "type": "channel"}] * len(leading) + [
        _space_axis("y", scale),
        _space_axis("x", scale),
    ]
    group.attrs["multiscales"] = [
        {
            "version": OME_VERSION,
            "name": name,
            "axes": axes,
            "datasets": datasets,
            "type": "nearest",
        }
    ]
    if labels:
        group.attrs["image-label"] = {"version": OME_VERSION}


def _space_axis(name: str, scale: tuple[float, float] | None) -> dict[str, str]:
    axis = {"name": name, "type": "space"}
    if scale is not None:
        axis["unit"] = "micrometer"
    return axis


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, np.ndarray | list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
