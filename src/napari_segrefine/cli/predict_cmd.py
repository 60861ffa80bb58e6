"""``napari-segrefine predict``: segment images or folders of images."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..correction import CorrectionSession
from ..engine import Prediction, coverage_advice, predict, resolve_device
from ..errors import SegRefineError
from ..generators import drain
from ..io import ImageData, read_image, write_labels, write_probability
from ..models import DEFAULT_BINARY_MODEL, model_config
from . import common, outputs
from .cluster_options import (
    add_cluster_options,
    check_cluster_options,
    cluster_source,
    summary_line,
    wants_cluster,
)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict",
        help="segment images: <stem>_mask (and _prob, _boundary) files in --out",
        description="Segment images and write <stem>_mask files (optionally the probability "
        "and boundary maps). In folders, files ending in _mask, _prob, _boundary or _refined "
        "(earlier outputs) are skipped; files named directly are always used. Outputs "
        "appear only when every input succeeded.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    common.add_model_options(parser, DEFAULT_BINARY_MODEL)
    parser.add_argument(
        "--tile",
        type=int,
        metavar="N",
        help="tile side in pixels, 1 to 8192 (default: whole image up to 1024 px, else 512)",
    )
    parser.add_argument(
        "--overlap", type=float, default=0.25, metavar="F", help="tile overlap in [0, 1)"
    )
    common.add_device_option(parser)
    parser.add_argument(
        "--threshold", type=float, default=0.5, metavar="F", help="mask = probability > F"
    )
    parser.add_argument("--batch-size", type=int, metavar="N", help="tiles per model call")
    parser.add_argument(
        "--save-prob", action="store_true", help="also write <stem>_prob (float32 in [0, 1])"
    )
    parser.add_argument("--save-boundary", action="store_true", help="also write <stem>_boundary")
    parser.add_argument(
        "--keep-corrections",
        nargs="?",
        const="",
        metavar="DIR",
        help="keep the pixels you corrected in the napari plugin: each mask takes them "
        "from the image's autosave (beside the image, or in DIR when the plugin saved "
        "there); images without one are predicted as usual",
    )
    common.add_format_option(parser)
    outputs.add_overwrite_option(parser)
    add_cluster_options(
        parser,
        "Dask cluster (images too large for one machine)",
        "With --scheduler, each image is cut into chunks computed on Dask workers and "
        "written into OME-Zarr (mask, and prob with --save-prob, with a pyramid): --out is "
        "the output .zarr for one image, or a folder of <stem>.zarr; rerunning the same "
        "command finishes an interrupted run; --format does not apply. Paths must be "
        "visible to every worker.",
        "output chunk side, a multiple of 32 and at least the tile (default 2048)",
    )
    return parser


def _check_options(args: argparse.Namespace) -> None:
    common.check_size("--tile", args.tile, largest=8192)
    common.check_positive("--batch-size", args.batch_size)
    common.check_fraction("--overlap", args.overlap)
    common.check_fraction("--threshold", args.threshold, "[0, 1]")


def run(args: argparse.Namespace) -> int:
    _check_options(args)
    if wants_cluster(args):
        return _run_on_cluster(args)
    inputs = common.list_inputs(args.inputs, skip_in_folders=common.OUTPUT_KINDS)
    suffix = common.OUTPUT_FORMATS[args.format]
    stems = [common.match_key(path) for path in inputs]
    outputs.check_distinct_outputs(stems, inputs)
    outputs.check_outputs(
        Path(args.out), _output_names(stems, suffix, args), overwrite=args.overwrite
    )
    device = resolve_device(args.device)
    model = common.load_model(
        args.model, args.checkpoint, default=DEFAULT_BINARY_MODEL, untrained=args.untrained
    )
    if args.save_prob and args.format == "png" and model_config(model).num_classes > 1:
        raise SegRefineError(
            "a PNG holds one 2-D map, not per-class probabilities; use --format tif or zarr"
        )
    images = common.progress_bar(len(inputs), "images", "image")
    tiles = common.progress_bar(0, "tiles", "tile", position=1)
    staged = outputs.staged_outputs(args.out, overwrite=args.overwrite)
    with images, tiles, staged as staging:
        for path, name in zip(inputs, stems):
            with common.about(path):
                data = read_image(path)
                common.check_image_size(data)
                prediction = _predict(model, data, path, args, device, tiles)
                _write(prediction, staging / name, suffix, args, data)
            if prediction.is_binary and (
                advice := coverage_advice(prediction.mask, prediction.threshold)
            ):
                tqdm.write(f"{path.name}: {advice}")  # advice, not an error: stdout
            images.update()
    print(f"wrote {len(inputs)} prediction(s) to {args.out}")
    return 0


def _predict(model, data: ImageData, path: Path, args, device, tiles) -> Prediction:
    """The prediction of one image; with ``--keep-corrections``, its session's mask."""
    options = {
        "tile_size": args.tile,
        "overlap": args.overlap,
        "batch_size": args.batch_size,
        "device": device,
        "threshold": args.threshold,
    }
    advance = lambda done, total: _advance(tiles, done, total)  # noqa: E731
    if args.keep_corrections is None:
        return predict(
            model, data.array, channel_axis=data.channel_axis, progress=advance, **options
        )
    image = data.array
    if data.channel_axis is not None:
        image = np.moveaxis(image, data.channel_axis, -1)
    session = CorrectionSession(
        image,
        name=path.name,
        rgb=data.channel_axis is not None,
        source=path,
        autosave_root=args.keep_corrections or None,
    )
    session.events.notice.connect(tqdm.write)
    prediction = drain(session.iter_predict(model, **options), lambda e: advance(e.done, e.total))
    session.set_prediction(prediction)
    if session.mask is None:  # a multi-class result: no binary corrections to keep
        return prediction
    return replace(prediction, mask=session.mask)


def _advance(bar, done: int, total: int) -> None:
    if bar.total != total:
        bar.reset(total=total)
    bar.n = done
    bar.refresh()


def _write(prediction: Prediction, base: Path, suffix: str, args, data: ImageData) -> None:
    """The mask (and with flags the probability and boundary maps) of one image."""
    scale = data.scale if data.scale and len(data.scale) == prediction.mask.ndim else None
    write_labels(_named(base, "mask", suffix), prediction.mask, scale=scale, geo=data.geo)
    if args.save_prob:
        probabilities = prediction.probabilities
        class_axis = None if prediction.is_binary else probabilities.ndim - 3
        write_probability(
            _named(base, "prob", suffix),
            probabilities,
            scale=scale,
            geo=data.geo,
            channel_axis=class_axis,
        )
    if args.save_boundary:
        write_probability(
            _named(base, "boundary", suffix), prediction.boundary, scale=scale, geo=data.geo
        )


def _output_names(stems: list[str], suffix: str, args: argparse.Namespace) -> list[str]:
    kinds = [
        "mask",
        *(["prob"] if args.save_prob else []),
        *(["boundary"] if args.save_boundary else []),
    ]
    return [_named(Path(name), kind, suffix).name for name in stems for kind in kinds]


def _named(base: Path, kind: str, suffix: str) -> Path:
    return base.with_name(f"{base.name}_{kind}{suffix}")


def _run_on_cluster(args: argparse.Namespace) -> int:
    """``--scheduler``: `predict_to_zarr` with Dask's progress bar."""
    check_cluster_options(args, {"--save-boundary": args.save_boundary})
    from ..distributed import predict_to_zarr

    model = common.load_model(
        args.model, args.checkpoint, default=DEFAULT_BINARY_MODEL, untrained=args.untrained
    )
    summary = predict_to_zarr(
        cluster_source(args),
        args.out,
        model,
        scheduler=args.scheduler,
        workers=args.workers,
        tile_size=args.tile or 512,
        overlap=args.overlap,
        chunk=args.chunk,
        threshold=args.threshold,
        batch_size=args.batch_size,
        save_prob=args.save_prob,
        device=args.device,
        show_progress=True,
    )
    print(summary_line(summary, "wrote", f"to {args.out}"))
    return 0
