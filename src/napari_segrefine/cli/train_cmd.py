"""``napari-segrefine train``: adapt a model to images and corrected labels.

Two kinds: ``head`` (the default) fits a tree head over the model's features to the
corrected pixels in seconds; ``finetune`` takes gradient steps on the network itself.
Both hold out part of the corrections and refuse an update that does worse there.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from ..engine import resolve_device
from ..errors import Cancelled, SegRefineError
from ..generators import drain
from ..io import read_image
from ..limits import check_memory
from ..models import DEFAULT_BINARY_MODEL, model_config, save_checkpoint
from ..models.adapted import DEEP_CHOICES
from ..train import FinetuneConfig, FinetuneResult, TrainEvent, iter_finetune
from ..train.head import HeadConfig, fit_head
from . import common, outputs

LABEL_SUFFIXES = ("_mask", "_label", "_labels", "_gt")
VALID_SUFFIXES = ("_valid", "_mask")
MAX_PATCH = 4096
# Training memory per crop pixel: a lower bound (basnet_lite on the CPU measured ~2 KB),
# so only batches that cannot fit are refused.
TRAIN_BYTES_PER_PIXEL = 1024


@dataclass(frozen=True)
class _Files:
    """The files of one training image, matched by name."""

    image: Path
    label: Path
    valid: Path | None


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="adapt a model to images and (corrected) labels",
        description="Adapt a segmentation model to images and labels matched by file "
        "name (label names may end in _mask, _label, _labels or _gt; valid-mask names in "
        "_valid or _mask). For binary models any nonzero label is foreground. Only pixels "
        "marked in the valid masks train the model. --kind head (default) fits a light head "
        "over the model's features in seconds; --kind finetune trains the network (minutes "
        "on a CPU; Ctrl-C stops after the current step and still saves the best weights). "
        "Part of the corrections is held out: an update that scores worse there than the "
        "starting model is not saved unless you pass --keep-refused.",
    )
    parser.add_argument("--images", required=True, metavar="DIR", help="folder of images")
    parser.add_argument("--labels", required=True, metavar="DIR", help="folder of labels")
    parser.add_argument(
        "--masks", metavar="DIR", help="folder of valid masks (nonzero: corrected or confirmed)"
    )
    common.add_model_options(parser, DEFAULT_BINARY_MODEL)
    parser.add_argument(
        "--kind",
        choices=("head", "finetune"),
        default="head",
        help="head: a tree head over the model's features, seconds (default); "
        "finetune: gradient steps on the network",
    )
    head = HeadConfig()
    parser.add_argument(
        "--trees", type=int, default=head.num_trees, metavar="N", help="head: number of trees"
    )
    parser.add_argument(
        "--features",
        choices=DEEP_CHOICES,
        default=head.deep,
        help="head: which of the model's features it sees besides the filters "
        f"(default {head.deep}; the guard keeps the filters alone when those features do "
        "worse on your held-out corrections)",
    )
    parser.add_argument(
        "--keep-refused",
        action="store_true",
        help="save the update even when it scores worse than the start on held-out corrections",
    )
    defaults = FinetuneConfig()
    parser.add_argument("--steps", type=int, default=defaults.steps, metavar="N")
    parser.add_argument("--lr", type=float, default=defaults.lr, metavar="F")
    parser.add_argument(
        "--patch",
        type=int,
        default=defaults.patch_size,
        metavar="N",
        help=f"crop side in pixels, a multiple of 32 from 32 to {MAX_PATCH} "
        f"(default {defaults.patch_size})",
    )
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, metavar="N")
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=defaults.val_fraction,
        metavar="F",
        help="share of images (or of the one image's valid pixels) held out, in [0, 1)",
    )
    parser.add_argument("--freeze-encoder", action="store_true", help="train only the decoder")
    parser.add_argument("--seed", type=int, default=defaults.seed, metavar="N")
    common.add_device_option(parser)
    parser.add_argument(
        "--out", required=True, metavar="FILE.safetensors", help="checkpoint to write"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    config = _config(args)
    out = _output_path(args.out)
    resolve_device(args.device)
    files = _matched_files(args)
    model = common.load_model(
        args.model, args.checkpoint, default=DEFAULT_BINARY_MODEL, untrained=args.untrained
    )
    binary = model_config(model).num_classes == 1
    samples = [_read_sample(entry, binary) for entry in files]
    if args.kind == "head":
        head = fit_head(model, samples, _head_config(args))
        adopted, trained, summary = head.adopted, head.model, head.reason
    else:
        result = _train(model, samples, config)
        if result.state.step == 0:
            print(
                "napari-segrefine train: stopped before the first step; nothing saved",
                file=sys.stderr,
            )
            raise Cancelled
        adopted, trained, summary = not result.kept_start, result.model, _summary(result)
    if not adopted and not args.keep_refused:
        print(
            f"napari-segrefine train: {summary}; nothing saved "
            "(add corrections where the model is wrong, or pass --keep-refused)",
            file=sys.stderr,
        )
        return 1
    saved = save_checkpoint(
        trained,
        out,
        base_model=_base_model(args),
        training_images=[entry.image.name for entry in files],
        training_labels=[entry.label.name for entry in files],
        valid_masks=[entry.valid.name for entry in files] if args.masks else None,
    )
    print(f"saved {saved}: {summary}")
    return 0


def _head_config(args: argparse.Namespace) -> HeadConfig:
    common.check_positive("--trees", args.trees)
    return HeadConfig(num_trees=args.trees, deep=args.features, seed=args.seed, device=args.device)


def _config(args: argparse.Namespace) -> FinetuneConfig:
    for option in ("steps", "lr", "batch_size"):
        common.check_positive(f"--{option.replace('_', '-')}", getattr(args, option))
    common.check_size("--patch", args.patch, largest=MAX_PATCH, multiple_of=32)
    common.check_fraction("--val-fraction", args.val_fraction)
    check_memory(
        args.batch_size * args.patch**2 * TRAIN_BYTES_PER_PIXEL,
        f"training on batches of {args.batch_size} crops of {args.patch}x{args.patch}",
        "lower --batch-size or --patch",
    )
    return FinetuneConfig(
        steps=args.steps,
        lr=args.lr,
        batch_size=args.batch_size,
        patch_size=args.patch,
        freeze_encoder=args.freeze_encoder,
        val_fraction=args.val_fraction,
        seed=args.seed,
        device=args.device,
    )


def _base_model(args: argparse.Namespace) -> str:
    """Where the starting weights came from, for the provenance."""
    if args.checkpoint:
        return args.checkpoint
    name = args.model or DEFAULT_BINARY_MODEL
    return f"{name} (random init)" if args.untrained else name


def _output_path(out: str) -> Path:
    path = Path(out)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    if path.is_dir():
        raise SegRefineError(f"--out {path} is a folder; give a file name like model.safetensors")
    outputs.check_writable_place(path)
    return path


def _matched_files(args: argparse.Namespace) -> list[_Files]:
    images = common.index_by_key(common.folder_images(args.images, "images"), (), "images")
    labels = common.index_by_key(
        common.folder_images(args.labels, "labels"), LABEL_SUFFIXES, "labels"
    )
    keys = common.pair_up(images, labels, ("images", "labels"))
    masks: dict[str, Path] = {}
    if args.masks is not None:
        masks = common.index_by_key(
            common.folder_images(args.masks, "valid masks"), VALID_SUFFIXES, "valid masks"
        )
        common.pair_up({k: images[k] for k in keys}, masks, ("images", "valid masks"))
    return [_Files(images[k], labels[k], masks.get(k)) for k in keys]


def _read_sample(files: _Files, binary: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(image H x W (x C), label H x W, valid H x W or None), checked to fit together."""
    with common.about(files.image):
        image = _channels_last(read_image(files.image))
    shape = image.shape[:2]
    label = _read_plane(files.label, "label", shape, files.image)
    if binary:
        label = _foreground(label, files.label)
    valid = None
    if files.valid is not None:
        valid = _read_plane(files.valid, "valid mask", shape, files.image) > 0
    return image, label, valid


def _foreground(label: np.ndarray, path: Path) -> np.ndarray:
    """Binary labels as ``--help`` says: any nonzero value (negative ones too) is foreground."""
    if label.dtype.kind == "f" and not np.isfinite(label).all():
        raise SegRefineError(
            f"label {path.name} holds NaN or infinite values; give integer labels "
            "(0 background, nonzero foreground)"
        )
    return (label != 0).astype(np.uint8)


def _channels_last(data) -> np.ndarray:
    array = np.asarray(data.array)
    if array.ndim == 3 and data.channel_axis not in (None, 2, -1):
        array = np.moveaxis(array, data.channel_axis, -1)
    if array.ndim == 2 or (array.ndim == 3 and array.shape[-1] <= 4):
        return array
    raise SegRefineError(
        f"expected an H x W or H x W x C image (C <= 4), got shape {array.shape}; "
        "train on single 2-D images, one file per image"
    )


def _read_plane(path: Path, what: str, shape: tuple[int, ...], image: Path) -> np.ndarray:
    with common.about(path):
        plane = common.require_2d(common.read_array(path), path, what)
    if plane.shape != shape:
        raise SegRefineError(
            f"{what} {path.name} is {plane.shape[0]}x{plane.shape[1]} but image {image.name} "
            f"is {shape[0]}x{shape[1]}; they must match pixel for pixel"
        )
    return plane


def _train(model: nn.Module, samples, config: FinetuneConfig) -> FinetuneResult:
    stop = threading.Event()
    bar = common.progress_bar(config.steps, "fine-tuning", "step")

    def show(event: TrainEvent) -> None:
        postfix = {"loss": f"{event.loss:.4f}"}
        if event.best_iou is not None:
            postfix["best val IoU"] = f"{event.best_iou:.3f}"
        bar.set_postfix(postfix, refresh=False)
        bar.update()

    with bar, _stop_on_interrupt(stop):
        return drain(iter_finetune(model, samples, config, stop=stop), show)


@contextmanager
def _stop_on_interrupt(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C: finish the current step, then stop and save; second: abort."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(
            "\nnapari-segrefine train: interrupted; stopping after this step and saving the "
            "best weights so far (Ctrl-C again aborts without saving)",
            file=sys.stderr,
        )

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _summary(result: FinetuneResult) -> str:
    steps = f"{result.state.step} fine-tuning steps"
    start, best = result.state.start_iou, result.best_iou
    if result.kept_start:
        return (
            f"not adopted: after {steps} no weights beat the starting ones on the held-out "
            f"corrections (IoU {start:.3f})"
        )
    why = ""
    if result.stopped_by_user:
        why = " (stopped by Ctrl-C; best weights so far)"
    elif result.stopped_early:
        why = " (stopped early: validation IoU stopped improving)"
    if best is None:
        return f"{steps}, no corrections held out to validate on{why}"
    return f"{steps}, held-out IoU {start:.3f} -> {best:.3f}{why}"
