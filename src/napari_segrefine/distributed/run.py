"""`predict_to_zarr`: segment images too large for one machine on a Dask cluster."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from distributed import Client, as_completed
from distributed import progress as dask_progress
from torch import nn

from ..engine.default_tiling import DEFAULT_OVERLAP, default_tile_shape, tiling_unlike_training
from ..errors import Cancelled, SegRefineError
from ..generators import Progress, drain
from ..io import list_images
from ..models.config import model_config
from .cluster import check_scheduler, connect, local_torch_threads
from .model_cache import ModelPayload, ModelPlugin
from .output import prepare_output
from .plan import DEFAULT_CHUNK, DEFAULT_TILE, Plan, make_plan
from .sources import ImageSource, Region, open_source
from .task import ChunkJob, image_divisor, needs_peak, region_peak, run_chunk


@dataclass
class RunSummary:
    """What a run did.

    Attributes:
        outputs: the zarr store of each image.
        chunks: chunks of all images together.
        already_done: chunks a previous run had finished (not computed again).
        computed: chunks computed by this run.
        tiles: tiles this run ran (tiles across chunk borders count once per chunk).
    """

    outputs: list[Path] = field(default_factory=list)
    chunks: int = 0
    already_done: int = 0
    computed: int = 0
    tiles: int = 0


def predict_to_zarr(inputs: Any, out: str | Path, model: nn.Module, **options: Any) -> RunSummary:
    """Segment large images chunk by chunk on a Dask cluster, into OME-Zarr.

    `iter_predict_to_zarr` run to its end; it takes the same arguments.
    """
    return drain(iter_predict_to_zarr(inputs, out, model, **options))


def iter_predict_to_zarr(
    inputs: str | Path | Any | Sequence[str | Path],
    out: str | Path,
    model: nn.Module,
    *,
    scheduler: str | Client = "local",
    workers: int | None = None,
    tile_size: int | Sequence[int] = DEFAULT_TILE,
    overlap: float = 0.25,
    chunk: int = DEFAULT_CHUNK,
    threshold: float = 0.5,
    batch_size: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    save_prob: bool = False,
    channel_axis: int | None = None,
    bands: Sequence[int] | None = None,
    show_progress: bool = False,
    stop: threading.Event | None = None,
) -> Generator[Progress, None, RunSummary]:
    """Segment large images chunk by chunk on a Dask cluster, yielding a `Progress` per chunk.

    The result equals `predict(model, image, tile_size=..., overlap=...)` (same tiles,
    same blending), written as a multiscale mask (and probabilities) chunk by chunk.
    A rerun with the same settings computes only the chunks not yet finished.

    Args:
        inputs: a zarr / OME-Zarr / TIFF / image file, a folder of images, a list of
            files, or an in-memory 2-D array (numpy or dask).
        out: the output zarr store of one image; for a folder or list of images, a
            folder that gets one ``<stem>.zarr`` per image.
        model: a segmentation model of napari-segrefine; sent to each worker once.
        scheduler: ``local``, a scheduler address (``tcp://host:8786``), or a `Client`.
        workers: local worker processes (``local`` only; default 1).
        tile_size: tile side (rounded up to a multiple of 32), as in `predict`.
        overlap: tile overlap fraction, as in `predict`.
        chunk: output chunk side: a multiple of 32, at least the tile.
        threshold: binary masks are ``probability > threshold``.
        batch_size: tiles per model call (default 1 on a CPU worker, 4 on a GPU).
        device: where workers run the model: ``auto`` (each worker's GPU when it has
            one, else its CPU), ``cpu``, ``cuda`` ...
        precision: as in `predict`.
        save_prob: also write the probabilities.
        channel_axis: the images' channel axis when it cannot be guessed.
        bands: channels to feed the model.
        show_progress: print Dask's progress bar (for a console; it blocks until the
            chunks are done, so `Progress` events come at the end).
        stop: when set, the chunks not yet finished are cancelled and `Cancelled` is
            raised; finished chunks stay and a rerun goes on from them.

    Returns:
        The `RunSummary` (as the generator's return value).

    Raises:
        SegRefineError: bad input, a chunk that does not fit the tile, an output that
            cannot be written or holds another run, an unreachable scheduler.
    """
    config = model_config(model)
    if config.input_kind != "image":
        raise SegRefineError(
            f"{config.arch!r} refines probability maps; give a segmentation model"
        )
    check_scheduler(scheduler, workers)
    sources, many = _sources(inputs, channel_axis, bands)
    targets = output_paths(Path(out), sources, many)
    plans = [make_plan(source.spatial, tile_size, overlap, chunk) for source in sources]
    _warn_if_tiled_unlike_training(model, sources, plans)
    payload = ModelPayload.from_model(model)
    images = [
        _Image(source, plan, path, payload, config, save_prob)
        for source, plan, path in zip(sources, plans, targets)
    ]
    prepared = [image.prepare(threshold) for image in images]  # before any cluster starts
    summary = RunSummary(outputs=targets)

    def submit(client: Client) -> list:
        futures = []
        for image, target in zip(images, prepared):
            futures += image.submit(client, target, summary, batch_size, precision)
        return futures

    cluster = ClusterRun(scheduler, workers, payload, device, show_progress, stop)
    yield from cluster.run(submit, summary)
    return summary


@dataclass(frozen=True)
class ClusterRun:
    """How a run meets its cluster: where, with which model, and how it reports.

    Attributes:
        scheduler: ``local``, an address, or a `Client` (see `connect`).
        workers: local workers.
        payload: the model every worker gets once, or None (a run without a model).
        device: where workers run the model.
        show_progress: print Dask's progress bar.
        stop: when set, unfinished chunks are cancelled and `Cancelled` is raised.
    """

    scheduler: str | Client
    workers: int | None
    payload: ModelPayload | None
    device: str
    show_progress: bool = False
    stop: threading.Event | None = None

    def run(
        self, submit: Callable[[Client], list], summary: RunSummary
    ) -> Generator[Progress, None, None]:
        """Connect, send the model, ``submit`` the chunks; a `Progress` per finished chunk.

        Each chunk's future returns the tiles (or windows) it ran, added to ``summary``.
        """
        with connect(self.scheduler, self.workers) as client:
            if self.payload is not None:
                local = self.scheduler == "local"
                threads = local_torch_threads(self.workers or 1) if local else None
                client.register_plugin(ModelPlugin(self.payload, self.device, threads))
            futures = submit(client)
            yield Progress(0, len(futures), f"{summary.already_done} chunk(s) already done")
            if self.show_progress and futures:
                dask_progress(futures)
            for done, future in enumerate(as_completed(futures), 1):
                if self.stop is not None and self.stop.is_set():
                    client.cancel(futures)
                    raise Cancelled("stopped between chunks; rerun to finish")
                summary.tiles += future.result()
                yield Progress(done, len(futures), f"chunk {done}/{len(futures)}")


def _warn_if_tiled_unlike_training(
    model: nn.Module, sources: list[ImageSource], plans: list[Plan]
) -> None:
    """`predict` tiles an image of up to 1024 px a side as one tile, where a run here
    cuts 512 px tiles by default: a head learned its network's outputs on `predict`'s
    tiling, and says so for each image tiled otherwise (`tiling_unlike_training`)."""
    for source, plan in zip(sources, plans):
        problem = tiling_unlike_training(model, plan.tile, plan.overlap, source.spatial)
        if problem:
            side = max(default_tile_shape(source.spatial))
            warnings.warn(
                f"{source.name}: {problem}: pass tile_size={side} and "
                f"overlap={DEFAULT_OVERLAP}, the tiling predict uses for it",
                stacklevel=5,  # the line that called `predict_to_zarr`
            )


def missing_chunks(
    regions: dict[tuple[int, int], Region], done: set[tuple[int, int]], summary: RunSummary
) -> dict[tuple[int, int], Region]:
    """The chunks without a completion record; all of them counted in ``summary``."""
    todo = {index: region for index, region in regions.items() if index not in done}
    summary.chunks += len(regions)
    summary.already_done += len(regions) - len(todo)
    summary.computed += len(todo)
    return todo


def shipped_source(client: Client, source: ImageSource) -> Any:
    """Files travel as their path; in-memory pixels are scattered to every worker once."""
    if source.path is not None:
        return source
    return client.scatter(source, broadcast=True, hash=False)


@dataclass
class _Image:
    source: ImageSource
    plan: Plan
    path: Path
    payload: ModelPayload
    config: Any
    save_prob: bool

    def prepare(self, threshold: float) -> ChunkJob:
        """Create (or reopen) the output; a template job for this image's chunks."""
        target = prepare_output(
            self.path,
            self.plan,
            self._settings(threshold),
            num_classes=self.config.num_classes,
            with_prob=self.save_prob,
            scale=self.source.scale,
            geo=self.source.geo,
        )
        return ChunkJob(
            (0, 0), (0, 0, 0, 0), self.plan, self.payload.digest, target, 1.0, threshold
        )

    def submit(
        self,
        client: Client,
        template: ChunkJob,
        summary: RunSummary,
        batch_size: int | None,
        precision: str,
    ) -> list:
        """Submit the chunks without a completion record; count them in ``summary``."""
        regions = self.plan.regions()
        todo = missing_chunks(regions, template.target.done(), summary)
        if not todo:
            return []
        source = shipped_source(client, self.source)
        divisor = self._divisor(client, source, regions)
        jobs = [
            replace(
                template,
                index=index,
                region=region,
                divisor=divisor,
                batch_size=batch_size,
                precision=precision,
            )
            for index, region in todo.items()
        ]
        return client.map(run_chunk, [source] * len(jobs), jobs, pure=False)

    def _settings(self, threshold: float) -> dict[str, Any]:
        return {
            "source": self.source.name,
            "shape": list(self.source.shape),
            "dtype": str(self.source.dtype),
            "model": self.payload.digest,
            "tile": list(self.plan.tile),
            "overlap": self.plan.overlap,
            "chunk": self.plan.chunk,
            "threshold": float(threshold),
            "probabilities": self.save_prob,
        }

    def _divisor(self, client: Client, source: Any, regions: dict) -> float:
        norm = self.config.normalization
        if not needs_peak(self.source.dtype, norm):
            return image_divisor(None, self.source.dtype, norm)
        peaks = client.map(region_peak, [source] * len(regions), list(regions.values()))
        return image_divisor(max(client.gather(peaks)), self.source.dtype, norm)


def _sources(inputs: Any, channel_axis: int | None, bands: Any) -> tuple[list[ImageSource], bool]:
    """The images, and whether they came as a folder or list (one output store each)."""
    bands = None if bands is None else tuple(bands)
    single_path = isinstance(inputs, str | Path)
    if not single_path and not isinstance(inputs, Sequence):  # an in-memory array
        return [open_source(inputs, channel_axis=channel_axis, bands=bands)], False
    if single_path and not (Path(inputs).is_dir() and not _is_zarr(inputs)):
        return [open_source(inputs, channel_axis=channel_axis, bands=bands)], False
    paths = list_images(inputs)
    return [open_source(path, channel_axis=channel_axis, bands=bands) for path in paths], True


def _is_zarr(path: str | Path) -> bool:
    return Path(path).name.lower().endswith(".zarr")


def output_paths(out: Path, sources: list[ImageSource], many: bool) -> list[Path]:
    if not many:
        return [out]
    names = [source.name for source in sources]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SegRefineError(
            f"several inputs are named {repeated[0]!r}; their outputs would collide in "
            f"{out}; rename them or run them apart"
        )
    return [out / f"{name}.zarr" for name in names]
