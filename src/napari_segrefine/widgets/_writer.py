"""The npe2 writer: save a labels layer from File > Save Selected Layer(s)."""

from __future__ import annotations

from typing import Any

from ..io import write_labels


def write_labels_layer(path: str, data: Any, attributes: dict[str, Any]) -> list[str]:
    """Write one labels layer by the extension of ``path``, keeping its pixel size."""
    scale = tuple(float(s) for s in attributes.get("scale") or ())
    keep = scale if scale and any(s != 1 for s in scale) else None
    return [str(write_labels(path, data, scale=keep))]
