"""`refine_to_zarr`: refine probability maps too large for one machine on a Dask cluster."""

from __future__ import annotations

import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from distributed import Client
from torch import nn

from ..errors import SegRefineError
from ..generators import Progress, drain
from ..io import list_images
from ..models.config import model_config
from ..refine.patches import check_patch_size
from ..refine.prn_windows import PRN_MULTIPLE
from .cluster import check_scheduler
from .model_cache import ModelPayload
from .output import SETTINGS_KEY, prepare_output
from .plan import DEFAULT_CHUNK, Plan, make_refine_plan
from .refine_task import RefineJob, run_refine_chunk
from .run import ClusterRun, RunSummary, missing_chunks, output_paths, shipped_source
from .sources import ImageSource, open_source

PREDICT_PROB = "prob/0"  # where a distributed predict keeps its probabilities


def refine_to_zarr(inputs: Any, out: str | Path, **options: Any) -> RunSummary:
    """Refine large probability maps chunk by chunk on a Dask cluster, into OME-Zarr.

    `iter_refine_to_zarr` run to its end; it takes the same arguments.
    """
    return drain(iter_refine_to_zarr(inputs, out, **options))


def iter_refine_to_zarr(
    inputs: str | Path | Any | Sequence[str | Path],
    out: str | Path,
    *,
    prn: nn.Module | None = None,
    patch_size: int = 64,
    threshold: float = 0.5,
    window: int = 512,
    overlap: float = 0.25,
    chunk: int = DEFAULT_CHUNK,
    scheduler: str | Client = "local",
    workers: int | None = None,
    device: str = "auto",
    show_progress: bool = False,
    stop: threading.Event | None = None,
) -> Generator[Progress, None, RunSummary]:
    """Refine maps chunk by chunk on a Dask cluster, yielding a `Progress` per chunk.

    The mask equals ``refine(prob, patch_size=..., prn=..., threshold=..., window=...,
    overlap=...)`` of the whole map (same PRN windows, same blending, same dilation),
    written as a multiscale OME-Zarr label image chunk by chunk. A rerun with the same
    settings computes only the chunks not yet finished.

    Args:
        inputs: a probability map in [0, 1] (zarr / OME-Zarr / TIFF file, or an
            in-memory 2-D numpy or dask array), the output store of a distributed
            ``predict`` run with ``save_prob`` (its ``prob`` is refined), a folder of
            those, or a list of files.
        out: the output zarr store of one map; for a folder or list, a folder that
            gets one ``<stem>.zarr`` per map.
        prn: a PRN model (sent to each worker once), or None for refine's per-patch
            threshold adaptation.
        patch_size: refine's patch side (a multiple of 8 with PRN).
        threshold: refine's threshold, in (0, 1).
        window: PRN's largest window side, as in `refine`.
        overlap: PRN's window overlap, as in `refine`.
        chunk: output chunk side: a multiple of ``patch_size``, with PRN at least
            the window.
        scheduler: ``local``, a scheduler address (``tcp://host:8786``), or a `Client`.
        workers: local worker processes (``local`` only; default 1).
        device: where workers run PRN (``auto``: each worker's GPU when it has one).
        show_progress: print Dask's progress bar.
        stop: when set, unfinished chunks are cancelled and `Cancelled` is raised;
            finished chunks stay and a rerun goes on from them.

    Returns:
        The `RunSummary` (``tiles``: the PRN windows run), as the generator's return value.

    Raises:
        SegRefineError: bad settings or input, a chunk that does not fit the patches or
            window, an output that cannot be written or holds another run, an
            unreachable scheduler; values outside [0, 1] when a chunk reads them.
    """
    check_scheduler(scheduler, workers)
    patch_size = _check_settings(prn, patch_size, threshold)
    sources, many = _prob_sources(inputs)
    payload = None if prn is None else ModelPayload.from_model(prn)
    maps = [
        _Map(
            source,
            make_refine_plan(source.spatial, patch_size, _window(prn, window), overlap, chunk),
            path,
        )
        for source, path in zip(sources, output_paths(Path(out), sources, many))
    ]
    settings = {
        "kind": "refine",
        "model": "fallback" if payload is None else payload.digest,
        "patch_size": patch_size,
        "threshold": float(threshold),
    }
    templates = [item.prepare(settings) for item in maps]  # before any cluster starts
    summary = RunSummary(outputs=[item.path for item in maps])

    def submit(client: Client) -> list:
        futures = []
        for item, template in zip(maps, templates):
            futures += item.submit(client, template, summary)
        return futures

    cluster = ClusterRun(scheduler, workers, payload, device, show_progress, stop)
    yield from cluster.run(submit, summary)
    return summary


def _check_settings(prn: nn.Module | None, patch_size: int, threshold: float) -> int:
    patch_size = check_patch_size(patch_size)
    if not 0.0 < threshold < 1.0:
        raise SegRefineError(f"threshold must lie strictly between 0 and 1, got {threshold!r}")
    if prn is None:
        return patch_size
    if model_config(prn).input_kind != "probability":
        raise SegRefineError(
            f"{model_config(prn).arch!r} segments images; refine takes a PRN model such as "
            "create_model('prn_p64'), or None for threshold adaptation"
        )
    if patch_size % PRN_MULTIPLE:
        raise SegRefineError(
            f"PRN needs a patch_size that is a multiple of {PRN_MULTIPLE}, got {patch_size}; "
            "try 32, 64 or 128"
        )
    return patch_size


def _window(prn: nn.Module | None, window: int) -> int | None:
    if prn is None:
        return None
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise SegRefineError(f"window must be a positive number of pixels, got {window!r}")
    return window


def _prob_sources(inputs: Any) -> tuple[list[ImageSource], bool]:
    """The maps, and whether they came as a folder or list (one output store each)."""
    if not isinstance(inputs, str | Path | Sequence):  # an in-memory array
        return [_two_dimensional(open_source(inputs))], False
    if isinstance(inputs, str | Path) and not _is_folder_of_maps(Path(inputs)):
        return [_prob_source(Path(inputs))], False
    return [_prob_source(path) for path in list_images(inputs)], True


def _is_folder_of_maps(path: Path) -> bool:
    return path.is_dir() and not path.name.lower().endswith(".zarr")


def _prob_source(path: Path) -> ImageSource:
    """A map file, or the ``prob`` of a distributed predict's output store."""
    if not (path / ".zgroup").is_file():
        return _two_dimensional(open_source(path))
    import zarr

    root = zarr.open_group(str(path), mode="r")
    if SETTINGS_KEY not in root.attrs or "multiscales" in root.attrs:
        return _two_dimensional(open_source(path))
    if PREDICT_PROB not in root:
        raise SegRefineError(
            f"{path} holds a distributed prediction without probabilities; rerun predict "
            "with --save-prob (save_prob=True) into a new output, then refine that"
        )
    prob = root[PREDICT_PROB]
    source = ImageSource(
        path.stem,
        tuple(prob.shape),
        prob.dtype,
        None,
        path=path,
        scale=_stored_scale(root["prob"].attrs["multiscales"][0]),
        geo=root.attrs.get("geotiff"),
        member=PREDICT_PROB,
    )
    return _two_dimensional(source)


def _stored_scale(multiscale: dict[str, Any]) -> tuple[float, float] | None:
    """The (Y, X) pixel size a distributed predict stored (axes with a unit have one)."""
    if "unit" not in multiscale["axes"][-1]:
        return None
    factors = multiscale["datasets"][0]["coordinateTransformations"][0]["scale"]
    return float(factors[-2]), float(factors[-1])


def _two_dimensional(source: ImageSource) -> ImageSource:
    if source.channel_axis is not None or len(source.shape) != 2:
        raise SegRefineError(
            f"{source.name} has shape {source.shape}; refine takes one 2-D (H, W) map of "
            "foreground probabilities (per-class probabilities cannot be refined)"
        )
    return source


@dataclass
class _Map:
    source: ImageSource
    plan: Plan
    path: Path

    def prepare(self, settings: dict[str, Any]) -> RefineJob:
        """Create (or reopen) the output; a template job for this map's chunks."""
        full = {
            **settings,
            "source": self.source.name,
            "shape": list(self.source.shape),
            "window": self.plan.tile[0],
            "overlap": self.plan.overlap,
            "chunk": self.plan.chunk,
        }
        target = prepare_output(
            self.path,
            self.plan,
            full,
            num_classes=1,
            with_prob=False,
            scale=self.source.scale,
            geo=self.source.geo,
        )
        model = None if settings["model"] == "fallback" else settings["model"]
        return RefineJob(
            (0, 0),
            (0, 0, 0, 0),
            self.plan,
            settings["patch_size"],
            model,
            target,
            settings["threshold"],
        )

    def submit(self, client: Client, template: RefineJob, summary: RunSummary) -> list:
        """Submit the chunks without a completion record; count them in ``summary``."""
        todo = missing_chunks(self.plan.regions(), template.target.done(), summary)
        if not todo:
            return []
        source = shipped_source(client, self.source)
        jobs = [replace(template, index=index, region=region) for index, region in todo.items()]
        return client.map(run_refine_chunk, [source] * len(jobs), jobs, pure=False)
