"""Segment's "run on a Dask cluster": large dask- or zarr-backed layers, chunk by chunk.

The layer's pixels never come into the viewer's memory: `iter_predict_to_zarr` (the
library's distributed run) reads them region by region on the workers and writes
the mask into an OME-Zarr pyramid, and the dock shows that pyramid as a lazy
multiscale labels layer. A rerun with the same settings finishes an interrupted run.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import napari
from magicgui.widgets import CheckBox, FileEdit, LineEdit, SpinBox
from napari.layers import Image, Labels
from torch import nn

from ..engine import Progress
from ..errors import SegRefineError
from ._channels import Read
from ._common import (
    IMAGE_KEY,
    MASK_COLOR,
    ROLE_KEY,
    derived_name,
    label_colors,
    layer_named,
    placement,
    with_placeholder,
)
from ._models import ModelRequest

CLUSTER_MASK = "cluster mask"
NOT_LAZY = (
    "{name!r} is held in memory; the cluster runs on layers backed by dask or zarr "
    "(open a .zarr or a large TIFF), so untick 'run on a Dask cluster' for this one"
)


def is_lazy(layer: Any) -> bool:
    """Whether an image layer's pixels are read on demand (dask, zarr, or a pyramid)."""
    if not isinstance(layer, Image):
        return False
    data = layer.data[0] if layer.multiscale else layer.data
    return layer.multiscale or type(data).__module__.split(".")[0] in ("dask", "zarr")


@dataclass(frozen=True)
class ClusterRequest:
    """A cluster run read from the dock on the main thread."""

    pixels: Any
    out: Path
    options: dict[str, Any]


def cluster_job(
    model: nn.Module | None, request: ModelRequest, run: ClusterRequest, stop: threading.Event
) -> Generator[Progress, None, tuple[nn.Module, Any]]:
    """Load the model when there is none yet, then segment on the cluster (in a worker)."""
    from ..distributed import iter_predict_to_zarr

    if model is None:
        yield Progress(0, 0, f"loading {request.arch} ({request.source})")
        model = request.load()
    yield Progress(0, 0, f"starting the cluster ({run.options['scheduler']})")
    summary = yield from iter_predict_to_zarr(run.pixels, run.out, model, stop=stop, **run.options)
    return model, summary


class ClusterSettings:
    """The dock's cluster controls (they live in a folded section of Segment)."""

    def __init__(self) -> None:
        self.enabled = CheckBox(
            text="run on a Dask cluster (dask or zarr layers)",
            value=False,
            tooltip="offered for image layers read on demand (a .zarr, an OME-Zarr pyramid, "
            "a large TIFF opened lazily); other images run as usual",
        )
        self.scheduler = with_placeholder(
            LineEdit(label="scheduler", value="local"), "local, or tcp://host:8786"
        )
        self.workers = SpinBox(label="local workers", min=1, max=64, value=1)
        self.chunk = SpinBox(label="chunk", min=64, max=16384, step=32, value=2048)
        self.out = with_placeholder(
            FileEdit(label="output", mode="w", filter="*.zarr"),
            "empty: <image>_mask.zarr beside it",
        )

    @property
    def widgets(self) -> list:
        return [self.enabled, self.scheduler, self.workers, self.chunk, self.out]

    def request(
        self, layer: Image, read: Read, reading_bands: Any, tiling: dict
    ) -> ClusterRequest:
        """What to run for ``layer``; a `SegRefineError` when it cannot run on a cluster."""
        if not is_lazy(layer):
            raise SegRefineError(NOT_LAZY.format(name=layer.name))
        scheduler = self.scheduler.value.strip() or "local"
        options = {
            "scheduler": scheduler,
            "workers": self.workers.value if scheduler == "local" else None,
            "chunk": self.chunk.value,
            "channel_axis": read.axis,
            "bands": reading_bands,
            "overlap": tiling["overlap"],
            "threshold": tiling["threshold"],
            "device": tiling["device"],
            "precision": tiling["precision"],
        }
        if tiling["tile_size"]:
            options["tile_size"] = tiling["tile_size"]
        pixels = layer.data[0] if layer.multiscale else layer.data
        return ClusterRequest(pixels, self._output(layer), options)

    def _output(self, layer: Image) -> Path:
        text = self.out.line_edit.value.strip()  # the typed text: "" stays empty
        if text:
            return Path(text)
        path = getattr(layer.source, "path", None)
        if not path:
            raise SegRefineError(
                f"{layer.name!r} has no file to put the result beside; choose an output "
                ".zarr in Segment's cluster settings"
            )
        source = Path(path)
        return source.with_name(f"{source.name.removesuffix('.zarr')}_mask.zarr")


def show_cluster_mask(
    viewer: napari.Viewer, source: Image, out: Path, binary: bool = True
) -> Labels:
    """Open the run's mask pyramid as a lazy multiscale labels layer (replacing an older one).

    A binary mask is drawn in the colour of the other masks; class labels in napari's.
    """
    import dask.array as da
    import zarr

    group = zarr.open_group(str(out), mode="r")["mask"]
    levels = sorted(int(key) for key in group.array_keys())
    data = [da.from_zarr(str(out), component=f"mask/{level}") for level in levels]
    name = derived_name(source.name, CLUSTER_MASK)
    old = layer_named(viewer, name)
    if old is not None:
        viewer.layers.remove(old)
    scale, translate = placement(source, 2)
    return viewer.add_labels(
        data if len(data) > 1 else data[0],
        name=name,
        multiscale=len(data) > 1,
        scale=scale,
        translate=translate,
        opacity=0.5,
        **({"colormap": label_colors({1: MASK_COLOR})} if binary else {}),
        metadata={ROLE_KEY: CLUSTER_MASK, IMAGE_KEY: source.name, "path": str(out)},
    )
