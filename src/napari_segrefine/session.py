"""Bookkeeping for an interactive correction session, with no Qt and no napari.

The napari widgets keep the state of a session in layers (image, probability, mask,
valid mask); this module holds the small pieces of logic around them:

- which pixels a user edited, read from the history atoms of a label edit;
- merging a new mask with the corrected pixels, so that re-thresholding, refining or
  re-predicting never undoes a correction;
- training samples from layer arrays, and the map of what re-prediction changed;
- the project folder where corrections are autosaved, and reading them back for the
  same image (matched by a fingerprint of its pixels);
- the rectangles of a patch grid.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SegRefineError
from .io import read_image, stem, write_labels

PROJECT_SUFFIX = ".segrefine"
MASK_FILE = "mask.tif"
VALID_FILE = "valid.tif"
META_FILE = "session.json"
GAINED, LOST = 1, 2  # values of `change_map`


def edited_pixels(atoms: Iterable[Any], shape: tuple[int, ...]) -> np.ndarray:
    """The pixels touched by one label edit, from the edit's history atoms.

    Understands both kinds of atom a napari Labels layer records: mask-based atoms
    (``slice_key`` bounding box plus a ``mask`` inside it, None meaning the whole box)
    and the older ``(indices, old_values, new_values)`` triples.

    Args:
        atoms: the atoms of one undo item (the ``value`` of a ``paint`` event).
        shape: shape of the labels array.

    Returns:
        bool array of ``shape``, True where the edit wrote.
    """
    touched = np.zeros(shape, dtype=bool)
    for atom in atoms:
        if hasattr(atom, "slice_key"):
            region = touched[tuple(atom.slice_key)]
            if atom.mask is None:
                region[...] = True
            else:
                region[np.asarray(atom.mask, dtype=bool)] = True
        else:
            indices = tuple(np.asarray(axis) for axis in atom[0])
            touched[indices] = True
    return touched


def keep_corrections(
    proposed: np.ndarray, current: np.ndarray | None, valid: np.ndarray | None
) -> np.ndarray:
    """``proposed`` everywhere except on valid (corrected or confirmed) pixels.

    Args:
        proposed: the new mask (a re-thresholded, refined or re-predicted one).
        current: the mask the user has been correcting; None when there is none yet.
        valid: nonzero where the user corrected or confirmed a pixel; None for none.

    Returns:
        A new array of ``proposed``'s dtype.
    """
    if current is None or valid is None:
        return np.array(proposed, copy=True)
    for name, array in (("mask", current), ("valid mask", valid)):
        if np.shape(array) != np.shape(proposed):
            raise SegRefineError(
                f"the {name} has shape {np.shape(array)} but the new mask is "
                f"{np.shape(proposed)}; delete the old layer or segment the matching image"
            )
    return np.where(np.asarray(valid) > 0, current, proposed).astype(proposed.dtype, copy=False)


def change_map(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """uint8 map of a mask's changes: `GAINED` (1) became foreground, `LOST` (2) left it."""
    was, now = np.asarray(before) > 0, np.asarray(after) > 0
    changes = np.zeros(was.shape, dtype=np.uint8)
    changes[now & ~was] = GAINED
    changes[was & ~now] = LOST
    return changes


def spatial_shape(image_shape: tuple[int, ...], rgb: bool) -> tuple[int, ...]:
    """Shape of a mask that goes with an image: the image's without its colour axis."""
    return tuple(image_shape[:-1]) if rgb else tuple(image_shape)


def correction_samples(
    image: np.ndarray, rgb: bool, mask: np.ndarray, valid: np.ndarray | None
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(image, label, valid) training triples from one image and its corrected mask.

    A stack gives one triple per slice that holds corrected pixels.

    Args:
        image: (H, W), (H, W, C) when ``rgb``, or a stack of these.
        rgb: whether the last axis of ``image`` holds colours.
        mask: the corrected mask, the image's shape without the colour axis.
        valid: where the user corrected or confirmed pixels (same shape as ``mask``).

    Raises:
        SegRefineError: shapes do not match, or no pixel is marked valid.
    """
    expected = spatial_shape(np.shape(image), rgb)
    for name, array in (("mask", mask), ("valid mask", valid)):
        if array is not None and np.shape(array) != expected:
            raise SegRefineError(
                f"the {name} has shape {np.shape(array)} but the image needs {expected}; "
                "use the layers made for this image by Segment"
            )
    if valid is None or not np.any(valid):
        raise SegRefineError(
            "no corrected pixels: edit the mask (or paint 1 on the corrections layer to "
            "confirm pixels) before fine-tuning"
        )
    image, mask, valid = np.asarray(image), np.asarray(mask), np.asarray(valid) > 0
    if len(expected) == 2:
        return [(image, mask, valid)]
    return [(image[i], mask[i], valid[i]) for i in range(len(valid)) if valid[i].any()]


def patch_boxes(
    changed: np.ndarray, patch_size: int, shape: tuple[int, int], limit: int = 2000
) -> tuple[list[np.ndarray], np.ndarray]:
    """Rectangles of the patches whose changed fraction is above 0, most changed first.

    Args:
        changed: per-patch changed fraction, ``(ceil(H / P), ceil(W / P))``.
        patch_size: patch side in pixels.
        shape: (H, W) of the image, to clip the last row and column of patches.
        limit: at most this many rectangles (a shapes layer slows down beyond).

    Returns:
        (corners, values): four (row, col) corners per rectangle, and its fraction.
    """
    rows, cols = np.nonzero(changed > 0)
    values = changed[rows, cols]
    order = np.argsort(-values, kind="stable")[:limit]
    corners = []
    for r, c in zip(rows[order], cols[order]):
        top, left = r * patch_size, c * patch_size
        bottom, right = min(top + patch_size, shape[0]), min(left + patch_size, shape[1])
        corners.append(np.array([[top, left], [top, right], [bottom, right], [bottom, left]]))
    return corners, values[order].astype(np.float32)


def image_fingerprint(image: np.ndarray) -> str:
    """A short hash of an image's shape, type and pixels, to match saved corrections."""
    array = np.ascontiguousarray(image)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{array.shape}{array.dtype.str}".encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "image"


@dataclass(frozen=True)
class ProjectFolder:
    """Where the corrections of one image are autosaved.

    Holds ``mask.tif`` (the corrected mask), ``valid.tif`` (the corrected or confirmed
    pixels) and ``session.json`` (when, how many pixels, and what the caller adds).
    """

    path: Path

    @classmethod
    def for_image(
        cls, name: str, source: str | Path | None = None, root: str | Path | None = None
    ) -> ProjectFolder:
        """The folder for image ``name``.

        Args:
            name: the image's name (the napari layer name).
            source: the file the image was read from, if any.
            root: a folder the user chose; wins over ``source``.

        Returns:
            ``root/<name>``; else ``<source folder>/<source stem>.segrefine``; else a
            folder under the system's temporary directory.
        """
        if root:
            return cls(Path(root) / _safe_name(name))
        if source and Path(source).exists():
            source = Path(source)
            return cls(source.parent / f"{_safe_name(stem(source))}{PROJECT_SUFFIX}")
        return cls(Path(tempfile.gettempdir()) / "napari-segrefine" / _safe_name(name))

    def save_corrections(
        self, mask: np.ndarray, valid: np.ndarray, fingerprint: str, **meta: Any
    ) -> Path:
        """Write the mask, the valid mask and ``meta`` (each file atomically).

        Args:
            mask: the corrected mask.
            valid: where the user corrected or confirmed pixels.
            fingerprint: `image_fingerprint` of the image they belong to.
            **meta: anything else to record in ``session.json``.
        """
        if np.shape(mask) != np.shape(valid):
            raise SegRefineError(
                f"mask {np.shape(mask)} and valid mask {np.shape(valid)} differ in shape"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        write_labels(self.path / MASK_FILE, mask)
        write_labels(self.path / VALID_FILE, (np.asarray(valid) > 0).astype(np.uint8))
        record = {
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "image_fingerprint": fingerprint,
            "corrected_pixels": int(np.count_nonzero(valid)),
            **meta,
        }
        temporary = self.path / f".{META_FILE}.part"
        temporary.write_text(json.dumps(record, indent=2, default=str))
        temporary.replace(self.path / META_FILE)
        return self.path

    def load_corrections(self, fingerprint: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The saved (mask, valid mask) of the image with ``fingerprint``, else None.

        Corrections saved for another image (another fingerprint), or from an
        incomplete save, are not returned.
        """
        mask_path, valid_path = self.path / MASK_FILE, self.path / VALID_FILE
        if self.metadata().get("image_fingerprint") != fingerprint:
            return None
        if not (mask_path.is_file() and valid_path.is_file()):
            return None
        mask = np.asarray(read_image(mask_path).array)
        valid = np.asarray(read_image(valid_path).array) > 0
        if mask.shape != valid.shape:
            return None
        return mask, valid

    def metadata(self) -> dict[str, Any]:
        """What ``session.json`` holds ({} when there is none yet)."""
        path = self.path / META_FILE
        return json.loads(path.read_text()) if path.is_file() else {}
