"""Autosaves of the first releases: a folder of ``mask.tif``, ``valid.tif``, ``session.json``.

They are read (when their image fingerprint matches) so corrections made with an older
version come back; they are never changed or deleted. The next save writes the new
single-file container beside them.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import numpy as np

from ..io import read_image, stem

FOLDER_SUFFIX = ".segrefine"


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "image"


def legacy_folder(name: str, source: str | Path | None, root: str | Path | None) -> Path:
    """Where the first releases autosaved the image ``name``."""
    if root:
        return Path(root) / _safe(name)
    if source and Path(source).exists():
        return Path(source).parent / f"{_safe(stem(source))}{FOLDER_SUFFIX}"
    return Path(tempfile.gettempdir()) / "napari-segrefine" / _safe(name)


def read_legacy(folder: Path, fingerprint: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The (mask, valid) saved in ``folder`` for the image with ``fingerprint``, else None."""
    try:
        meta = json.loads((folder / "session.json").read_text())
        if not isinstance(meta, dict) or meta.get("image_fingerprint") != fingerprint:
            return None
        mask = np.asarray(read_image(folder / "mask.tif").array)
        valid = np.asarray(read_image(folder / "valid.tif").array) > 0
    except (OSError, ValueError):  # missing, unreadable or half-written: nothing to restore
        return None
    return (mask, valid) if mask.shape == valid.shape else None
