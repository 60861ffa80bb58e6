"""Pieces the CLI subcommands share: options, model choice, inputs, progress.

Outputs are all-or-nothing: see `napari_segrefine.cli.outputs`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from torch import nn
from tqdm import tqdm

from ..errors import SegRefineError
from ..limits import check_pixels
from ..models import create_model, get_spec, load_checkpoint, model_config

if TYPE_CHECKING:
    from ..io import ImageData

OUTPUT_FORMATS = {"tif": ".tif", "png": ".png", "zarr": ".zarr", "ome.zarr": ".ome.zarr"}
_CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".th", ".bin", ".ckpt")
# Bytes per image value that whole-image work adds (float copy, probabilities, mask ...).
WORK_BYTES = 16
# Name endings of what `predict` and `refine` write: folders of inputs skip them.
OUTPUT_KINDS = ("_mask", "_prob", "_boundary", "_refined")


def warn(message: str) -> None:
    """One ``WARNING`` line on stderr."""
    print(f"napari-segrefine: WARNING: {message}", file=sys.stderr)


# --- options -------------------------------------------------------------------------


def add_model_options(parser: argparse.ArgumentParser, default: str) -> None:
    """``--model NAME`` or ``--checkpoint FILE`` (not both), and ``--untrained``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--model",
        metavar="NAME",
        help=f"registered model (see `napari-segrefine models`; default {default}): its "
        "shipped weights, else its published weights (downloaded or from the cache)",
    )
    group.add_argument("--checkpoint", metavar="FILE", help="a checkpoint file to load")
    add_untrained_option(parser, "--model")


def add_untrained_option(parser: argparse.ArgumentParser, option: str) -> None:
    """``--untrained``: random initial weights for a registered model (with a warning)."""
    parser.add_argument(
        "--untrained",
        action="store_true",
        help=f"random weights instead of trained ones for the registered model of {option} "
        "(for tests, or to train from scratch); prints a warning",
    )


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps (default auto)",
    )


def add_format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=tuple(OUTPUT_FORMATS),
        default="tif",
        help="file type of the outputs (default tif)",
    )


def check_positive(option: str, value: float | None) -> None:
    """A `SegRefineError` unless ``value`` is None or a positive number."""
    if value is not None and not value > 0:
        raise SegRefineError(f"{option} must be a positive number, got {value}")


def check_size(option: str, value: int | None, largest: int, multiple_of: int = 1) -> None:
    """A `SegRefineError` unless ``value`` is None or in [multiple_of, largest], divisible."""
    if value is None or (multiple_of <= value <= largest and value % multiple_of == 0):
        return
    what = "a positive number" if multiple_of == 1 else f"a multiple of {multiple_of}"
    raise SegRefineError(
        f"{option} must be {what} between {multiple_of} and {largest} pixels, got {value}"
    )


_INTERVALS = {
    "[0, 1)": lambda value: 0 <= value < 1,
    "[0, 1]": lambda value: 0 <= value <= 1,
    "(0, 1)": lambda value: 0 < value < 1,
}


def check_fraction(option: str, value: float | None, interval: str = "[0, 1)") -> None:
    """A `SegRefineError` unless ``value`` is None or inside ``interval`` (see `_INTERVALS`)."""
    if value is not None and not _INTERVALS[interval](value):
        raise SegRefineError(f"{option} must be in {interval}, got {value}")


# --- models --------------------------------------------------------------------------


def load_model(
    name: str | None,
    checkpoint: str | None,
    *,
    default: str,
    kind: str = "image",
    untrained: bool = False,
) -> nn.Module:
    """The model a user asked for with ``--model``/``--checkpoint`` (or ``default``).

    Args:
        name: a registry name, or None.
        checkpoint: a checkpoint path, or None.
        default: registry name used when both are None.
        kind: ``image`` (a segmenter) or ``probability`` (a PRN refiner).
        untrained: ``--untrained``: random initial weights instead of trained ones.

    Raises:
        SegRefineError: unknown name, missing/unreadable file, a model of the wrong kind,
            or no weights to be had for a registered model without ``--untrained``.
    """
    if checkpoint is None:
        name = name or default
        _check_kind(name, get_spec(name).input_kind, kind)
        return registered_model(name, untrained=untrained)
    if untrained:
        raise SegRefineError("--untrained needs a registered model, not a checkpoint file")
    model = load_checkpoint(checkpoint)
    _check_kind(checkpoint, model_config(model).input_kind, kind)
    return model


def _check_kind(source: str, actual: str, wanted: str) -> None:
    does = {"image": "segments images", "probability": "refines probability maps (PRN)"}
    if actual != wanted:
        raise SegRefineError(
            f"{source} is a model that {does[actual]}, but this command needs one that "
            f"{does[wanted]}; pick another model"
        )


def registered_model(name: str, *, untrained: bool = False) -> nn.Module:
    """``name`` with trained weights (shipped, cached or downloaded), or random ones.

    Raises:
        SegRefineError: no weights to be had and ``untrained`` is False; the message
            says how to get them.
    """
    if untrained:
        warn(
            f"{name} starts from random, UNTRAINED weights (--untrained); until it is "
            "trained its output means nothing"
        )
        return create_model(name)
    return create_model(name, pretrained=True)


def load_prn(name_or_file: str, *, untrained: bool = False) -> nn.Module:
    """A PRN model from a registry name or a checkpoint file."""
    path = Path(name_or_file)
    if path.exists() or path.suffix.lower() in _CHECKPOINT_SUFFIXES:
        return load_model(None, name_or_file, default="", kind="probability", untrained=untrained)
    return load_model(name_or_file, None, default="", kind="probability", untrained=untrained)


# --- inputs --------------------------------------------------------------------------


def list_inputs(paths: Iterable[str | Path], *, skip_in_folders: Sequence[str] = ()) -> list[Path]:
    """Image files named directly or found in folders, in order, without duplicates.

    Args:
        paths: files and folders.
        skip_in_folders: name endings (before the extension) of files to leave out
            when they are found in a folder; files named directly are always kept.

    Raises:
        SegRefineError: a path that does not exist, an unsupported file type, or a
            folder without (kept) images.
    """
    from ..io import list_images

    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        images = list_images(path)
        if path.is_dir() and skip_in_folders:
            images = [p for p in images if not match_key(p).endswith(tuple(skip_in_folders))]
            if not images:
                raise SegRefineError(
                    f"folder {path} holds only files ending in {', '.join(skip_in_folders)}, "
                    "which this command skips; name the files directly to use them"
                )
        found.extend(images)
    return list(dict.fromkeys(found))


def folder_images(folder: str | Path, what: str) -> list[Path]:
    """The images of one folder (``--images DIR`` and the like)."""
    path = Path(folder)
    if not path.is_dir():
        raise SegRefineError(f"{what} folder {path} does not exist or is not a folder")
    return list_inputs([path])


def match_key(path: Path, suffixes: Sequence[str] = ()) -> str:
    """A file's stem without the first of ``suffixes`` it ends with."""
    from ..io import stem

    name = stem(path)
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def index_by_key(
    paths: Sequence[Path], suffixes: Sequence[str], what: str, *, hint: str = ""
) -> dict[str, Path]:
    """``{match key: path}``; two files with the same key are an error (``hint`` helps)."""
    index: dict[str, Path] = {}
    for path in paths:
        key = match_key(path, suffixes)
        if key in index:
            raise SegRefineError(
                f"{what} {index[key].name} and {path.name} both match the name {key!r}; "
                f"{hint}keep one file per image"
            )
        index[key] = path
    return index


def pair_up(
    left: dict[str, Path],
    right: dict[str, Path],
    names: tuple[str, str],
    *,
    allow_unmatched: bool = False,
    hint: str = "",
) -> list[str]:
    """Keys present in both indexes, sorted; unmatched keys are an error unless allowed."""
    common = sorted(left.keys() & right.keys())
    lonely = [
        (names[0], names[1], sorted(left.keys() - right.keys())),
        (names[1], names[0], sorted(right.keys() - left.keys())),
    ]
    problems = [
        f"{len(keys)} {a} without {b} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})"
        for a, b, keys in lonely
        if keys
    ]
    if problems and not allow_unmatched:
        raise SegRefineError(f"unmatched files: {'; '.join(problems)}; {hint}match them by name")
    if not common:
        raise SegRefineError(f"no {names[0]} match any {names[1]} by file name")
    return common


def read_array(path: Path) -> np.ndarray:
    """The pixels of one image file as a numpy array (its size checked first)."""
    from ..io import read_image

    data = read_image(path)
    check_image_size(data)
    return np.asarray(data.array)


def check_image_size(data: ImageData) -> None:
    """Refuse an image (a lazy zarr, say) too large for the whole-image work in memory."""
    itemsize = np.dtype(data.array.dtype).itemsize
    check_pixels(data.shape, itemsize, data.path.name, work_bytes_per_value=WORK_BYTES)


def as_probability(array: np.ndarray) -> np.ndarray:
    """float32 values in [0, 1], read as `napari_segrefine.metrics` reads maps.

    Floats must lie in [0, 1]; booleans are 0/1; integers up to 1 are masks, up to 255
    are divided by 255, up to 65535 by 65535.
    """
    if array.dtype == bool:
        return array.astype(np.float32)
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if array.dtype.kind in "iu" and low >= 0:
        scale = next((s for s in (1, 255, 65535) if high <= s), None)
        if scale is not None:
            return (array / scale).astype(np.float32)
    elif array.dtype.kind == "f" and low >= 0 and high <= 1:
        return array.astype(np.float32, copy=False)
    raise SegRefineError(
        f"values must be probabilities in [0, 1] (or 8/16-bit maps), found {array.dtype} "
        f"in [{low}, {high}]; apply a sigmoid to logits or rescale the map"
    )


def require_2d(array: np.ndarray, path: Path, what: str) -> np.ndarray:
    """``array`` squeezed of single-sample axes, checked to be (H, W)."""
    squeezed = np.squeeze(array) if array.ndim > 2 else array
    if squeezed.ndim != 2:
        raise SegRefineError(
            f"{path.name}: a {what} must be a 2-D (H, W) image, got shape {array.shape}"
        )
    return squeezed


@contextmanager
def about(path: Path) -> Iterator[None]:
    """Prefix the message of a `SegRefineError` raised inside with the file's name."""
    try:
        yield
    except SegRefineError as err:
        if path.name in str(err):
            raise
        raise SegRefineError(f"{path.name}: {err}") from None


# --- progress ------------------------------------------------------------------------


def progress_bar(total: int, desc: str, unit: str, *, position: int = 0) -> tqdm:
    """A tqdm bar on stderr; silent when stderr is not a terminal."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=None,
        leave=position == 0,
        position=position,
        dynamic_ncols=True,
    )
