"""Export: write a labels layer (and optionally the probability map) to tif, png, zarr."""

from __future__ import annotations

import threading
from collections.abc import Generator
from functools import partial
from pathlib import Path
from typing import Any

import napari
import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FileEdit, LineEdit
from napari.layers import Image, Labels, Layer
from napari.utils.notifications import show_info

from ..engine import Progress
from ..errors import SegRefineError
from ..io import read_image, write_labels, write_probability
from ._common import (
    IMAGE_KEY,
    PROBABILITY,
    Dock,
    TaskRunner,
    buttons,
    cancel_when_closed,
    find_layer,
    layer_named,
    notify_error,
    with_placeholder,
    wrapped_label,
)

FORMATS = [".tif", ".png", ".zarr", ".ome.zarr", ".npy"]
GEO_SUFFIXES = (".tif", ".tiff")


def export_job(
    labels: np.ndarray,
    target: Path,
    scale: tuple[float, ...] | None,
    source_path: str | None,
    probability: tuple[np.ndarray, Path] | None,
    stop: threading.Event,
) -> Generator[Progress, None, list[Path]]:
    """Write the labels (and probabilities), with the source's georeferencing if it has any."""
    total = 2 if probability is None else 3
    geo = None
    if source_path and source_path.lower().endswith(GEO_SUFFIXES):
        yield Progress(0, total, "reading the source's georeferencing")
        geo = read_image(source_path).geo
    yield Progress(1, total, f"writing {target.name}")
    written = [write_labels(target, labels, scale=scale, geo=geo)]
    if probability is not None:
        prob, prob_target = probability
        yield Progress(2, total, f"writing {prob_target.name}")
        written.append(write_probability(prob_target, prob, scale=scale, geo=geo))
    return written


def layer_scale(layer: Layer) -> tuple[float, ...] | None:
    """A layer's pixel size, or None when it has none (all ones)."""
    scale = tuple(float(s) for s in layer.scale)
    return None if all(s == 1 for s in scale) else scale


class ExportWidget(Dock):
    """Labels layer, format, folder and file name; Export."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        self.viewer = napari_viewer
        self.labels_layer = ComboBox(label="labels", choices=lambda _: self._labels_layers())
        self.format = ComboBox(label="format", choices=FORMATS, value=".tif")
        self.folder = with_placeholder(
            FileEdit(label="folder", mode="d"), "empty: beside the image file"
        )
        self.file_name = with_placeholder(LineEdit(label="file name"), "empty: the layer's name")
        self.probability = CheckBox(text="also write the probability map", value=False)
        row, (self.export_button, self.cancel_button) = buttons("Export", "Cancel")
        self.status = wrapped_label("choose a labels layer and a folder", "status")
        self.runner = TaskRunner("Export", self.export_button, self.cancel_button, self.status)
        super().__init__()
        self.lay_out(
            [self.labels_layer, self.format, self.folder, self.file_name,
                     self.probability, row, self.runner.bar, self.status]
        )  # fmt: skip
        cancel_when_closed(self, self.runner)
        self.export_button.changed.connect(self.export)

    def _labels_layers(self) -> list[tuple[str, Labels]]:
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Labels)]

    def _source(self, labels: Labels) -> Image | None:
        layer = layer_named(self.viewer, labels.metadata.get(IMAGE_KEY))
        return layer if isinstance(layer, Image) else None

    def _target(self, labels: Labels, source: Image | None, suffix: str) -> Path:
        folder = str(self.folder.value or "")
        if folder in ("", "."):
            path = getattr(source.source, "path", None) if source is not None else None
            if not path:
                raise SegRefineError("choose an output folder (the image has no file to sit by)")
            folder = str(Path(path).parent)
        stem = self.file_name.value.strip() or labels.name.replace(" ", "_")
        return Path(folder) / f"{stem}{suffix}"

    def export(self) -> Any:
        """Write the chosen layer in a worker (None on a mistake)."""
        labels = self.labels_layer.value
        try:
            if not isinstance(labels, Labels):
                raise SegRefineError("no labels layer to export: segment an image first")
            source = self._source(labels)
            suffix = self.format.value
            target = self._target(labels, source, suffix)
            probability = self._probability(source, target, suffix)
        except SegRefineError as error:
            notify_error("Export", error)
            return None
        source_path = getattr(source.source, "path", None) if source is not None else None
        job = partial(
            export_job,
            np.asarray(labels.data),
            target,
            layer_scale(labels),
            source_path,
            probability,
        )
        return self.runner.start(job, on_done=self._written)

    def _probability(
        self, source: Image | None, target: Path, suffix: str
    ) -> tuple[np.ndarray, Path] | None:
        if not self.probability.value:
            return None
        layer = find_layer(self.viewer, source.name, PROBABILITY) if source else None
        if layer is None:
            raise SegRefineError(
                "no probability map for this labels layer: untick the box or export a mask "
                "made by Segment"
            )
        name = target.name[: -len(suffix)]
        return np.asarray(layer.data), target.with_name(f"{name}_probability{suffix}")

    def _written(self, paths: list[Path]) -> None:
        listed = ", ".join(str(p) for p in paths)
        self.status.value = f"Export: wrote {listed}"
        show_info(f"wrote {listed}")
