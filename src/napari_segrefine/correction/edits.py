"""Pure array logic of a correction session: edits, merges, samples and change maps."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SegRefineError
from ..refine import refine_stats

GAINED, LOST = 1, 2  # values of `change_map`
Key = tuple[slice, ...]


def bounding_key(touched: np.ndarray) -> Key | None:
    """The smallest box of slices that holds every True pixel (None when there is none)."""
    if not touched.any():
        return None
    key = []
    for axis in range(touched.ndim):
        other = tuple(a for a in range(touched.ndim) if a != axis)
        hits = np.flatnonzero(touched.any(axis=other))
        key.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(key)


def _atom_box(atom: Any) -> Key | None:
    """The box an atom wrote in (its ``slice_key``, or its indices' extent); None if empty."""
    if hasattr(atom, "slice_key"):
        empty = atom.mask is not None and not np.any(atom.mask)
        return None if empty else tuple(atom.slice_key)
    indices = [np.asarray(axis) for axis in atom[0]]
    if not indices or indices[0].size == 0:
        return None
    return tuple(slice(int(axis.min()), int(axis.max()) + 1) for axis in indices)


def stroke_before(atoms: list[Any], mask: np.ndarray) -> tuple[Key, np.ndarray, np.ndarray] | None:
    """What a finished label edit replaced: its box, the box's old values and touched pixels.

    Works inside the edit's box only, so a stroke costs the same on any image size.

    Args:
        atoms: the atoms of one undo item, in the order they were applied.
        mask: the labels array after the edit.

    Returns:
        ``(key, before, touched)`` with ``before`` and ``touched`` the box's shape; None
        when the edit touched nothing.
    """
    boxes = [box for box in map(_atom_box, atoms) if box is not None]
    if not boxes:
        return None
    key = tuple(
        slice(min(b[axis].start for b in boxes), max(b[axis].stop for b in boxes))
        for axis in range(mask.ndim)
    )
    origin = [s.start for s in key]
    before = np.array(mask[key], copy=True)
    touched = np.zeros(before.shape, dtype=bool)
    for atom in reversed(atoms):
        if _atom_box(atom) is None:
            continue
        if hasattr(atom, "slice_key"):
            local = tuple(slice(s.start - o, s.stop - o) for s, o in zip(atom.slice_key, origin))
            region, hit = before[local], touched[local]
            if atom.mask is None:
                region[...], hit[...] = atom.old_values, True
            else:
                written = np.asarray(atom.mask, dtype=bool)
                region[written], hit[written] = atom.old_values, True
        else:
            indices = tuple(np.asarray(axis) - o for axis, o in zip(atom[0], origin))
            before[indices], touched[indices] = atom[1], True
    return key, before, touched


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


def change_grid(before: np.ndarray, after: np.ndarray, patch_size: int) -> np.ndarray:
    """Changed fraction per patch, one small image: (gh, gw) or (N, gh, gw) for a stack."""
    if before.ndim == 2:
        return refine_stats(before, after, patch_size)
    return np.stack([refine_stats(b, a, patch_size) for b, a in zip(before, after)])


def spatial_shape(image_shape: tuple[int, ...], rgb: bool) -> tuple[int, ...]:
    """Shape of a mask that goes with an image: the image's without its colour axis."""
    return tuple(image_shape[:-1]) if rgb else tuple(image_shape)


def correction_samples(
    image: np.ndarray, rgb: bool, mask: np.ndarray, valid: np.ndarray | None
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(image, label, valid) training triples from one image and its corrected mask.

    A stack gives one triple per slice that holds corrected pixels. Labels and valid
    masks are copies: later edits do not reach a running training.

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
    image, mask, valid = np.asarray(image), np.array(mask), np.asarray(valid) > 0
    if len(expected) == 2:
        return [(image, mask, valid)]
    return [(image[i], mask[i], valid[i]) for i in range(len(valid)) if valid[i].any()]
