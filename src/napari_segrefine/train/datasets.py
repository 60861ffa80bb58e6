"""Training crops from (image, label, valid-mask) triples, and validation splits.

The valid mask marks the pixels a user corrected or confirmed; only those train the
model (the losses ignore the rest). Crops are centred on randomly chosen valid pixels,
so a user who fixed a few patches of a big image trains on just those patches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import SegRefineError
from ..models.normalization import IMAGENET_NORM, Normalization, normalize, scale_divisor
from .augment import DEFAULT_JITTER, Jitter, apply_dihedral, photometric_jitter, random_dihedral

Sample = tuple[np.ndarray, np.ndarray, np.ndarray | None]

NO_VALID_PIXELS = (
    "no corrected or confirmed pixels to train on: every valid mask is empty; mark the "
    "pixels you corrected or confirmed, or pass no mask to train on whole images"
)


@dataclass(frozen=True)
class _Source:
    """One checked sample with what sampling needs: valid counts and the intensity scale."""

    image: np.ndarray  # H x W or H x W x C, any array supporting slicing
    label: np.ndarray  # H x W
    valid: np.ndarray | None  # H x W bool; None = all valid
    divisor: float  # raw value that maps to 1.0
    row_ends: np.ndarray  # cumulative valid-pixel count per row, (H,)

    @property
    def n_valid(self) -> int:
        return int(self.row_ends[-1]) if self.row_ends.size else 0

    def valid_pixel(self, k: int) -> tuple[int, int]:
        """Row and column of the ``k``-th valid pixel in row-major order."""
        row = int(np.searchsorted(self.row_ends, k, side="right"))
        offset = k - (int(self.row_ends[row - 1]) if row else 0)
        if self.valid is None:
            return row, offset
        return row, int(np.flatnonzero(self.valid[row])[offset])


def _valid_array(valid: np.ndarray | None, shape: tuple[int, int], index: int) -> np.ndarray:
    if valid is None:
        return np.ones(shape, dtype=bool)
    valid = np.asarray(valid)
    if valid.shape != shape:
        raise SegRefineError(
            f"sample {index}: valid mask has shape {valid.shape} but the image is {shape}; "
            "give a mask of the image's height and width"
        )
    return valid > 0


def _check_labels(label: np.ndarray, valid: np.ndarray, num_classes: int, index: int) -> None:
    values = np.asarray(label)[valid]
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        raise SegRefineError(
            f"sample {index}: labels on valid pixels span {values.min()}..{values.max()} but "
            f"the model has {num_classes} classes; use class indices 0..{num_classes - 1}"
        )


def _check_channels(image: np.ndarray, in_channels: int | None, index: int) -> None:
    if image.ndim not in (2, 3):
        raise SegRefineError(
            f"sample {index}: image has shape {image.shape}; expected H x W or H x W x C"
        )
    channels = 1 if image.ndim == 2 else image.shape[2]
    if in_channels is not None and channels not in (1, in_channels):
        raise SegRefineError(
            f"sample {index}: image has {channels} channels but the model takes "
            f"{in_channels}; give grayscale or {in_channels}-channel images"
        )


def _make_source(
    sample: Sample,
    norm: Normalization,
    num_classes: int | None,
    in_channels: int | None,
    index: int,
) -> _Source:
    image, label, valid = sample
    _check_channels(image, in_channels, index)
    shape = tuple(image.shape[:2])
    if tuple(label.shape) != shape:
        raise SegRefineError(
            f"sample {index}: label has shape {tuple(label.shape)} but the image is {shape}; "
            "give one label per pixel"
        )
    mask = _valid_array(valid, shape, index)
    if num_classes is not None and num_classes > 1:
        _check_labels(label, mask, num_classes, index)
    return _Source(
        image=image,
        label=label,
        valid=None if valid is None else mask,
        divisor=scale_divisor(image, norm),
        row_ends=np.cumsum(mask.sum(axis=1), dtype=np.int64),
    )


def crop_origin(center: int, extent: int, size: int) -> int:
    """First index of a ``size`` window around ``center`` on an axis of ``extent`` pixels.

    The window is centred on ``center`` but kept inside the image when the image is at
    least ``size`` long; a shorter image lies wholly inside the window (negative origin
    = padding before it).
    """
    return int(np.clip(center - size // 2, min(0, extent - size), max(0, extent - size)))


def _window(
    top: int, left: int, size: int, height: int, width: int
) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Source slices (in the image) and destination slices (in the crop) of a window."""
    rows = slice(max(top, 0), min(top + size, height))
    cols = slice(max(left, 0), min(left + size, width))
    crop_rows = slice(rows.start - top, rows.stop - top)
    crop_cols = slice(cols.start - left, cols.stop - left)
    return (rows, cols), (crop_rows, crop_cols)


def padded_crop(array: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    """The ``size`` x ``size`` window at (top, left) of an H x W (x C) array, zero-padded."""
    source, destination = _window(top, left, size, *array.shape[:2])
    out = np.zeros((size, size, *array.shape[2:]), dtype=array.dtype)
    out[destination] = np.asarray(array[source])
    return out


def inside_mask(top: int, left: int, size: int, height: int, width: int) -> np.ndarray:
    """True where the window at (top, left) covers the H x W image, False on padding."""
    _, destination = _window(top, left, size, height, width)
    out = np.zeros((size, size), dtype=bool)
    out[destination] = True
    return out


class CorrectionDataset(Dataset):
    """Random training crops around corrected or confirmed pixels.

    Each item picks a valid pixel uniformly among all valid pixels of all samples
    (images without valid pixels are never picked), takes the ``patch_size`` square
    around it (shifted to stay inside images at least that large, zero-padded and
    marked invalid where an image is smaller), then applies a random rotation/flip and
    photometric jitter (image only). Items are deterministic given ``seed``, the epoch
    (`set_epoch`) and the index.

    Images are scaled to about [0, 1] with the normalization's rule over the WHOLE image
    (``image_max`` uses the full image's maximum, as inference does), jittered, then
    given the normalization's mean and std.

    Args:
        samples: (image, label, valid) triples: image H x W or H x W x C, label H x W
            (binary: nonzero = foreground; multi-class: class indices), valid H x W
            bool or None (all valid).
        patch_size: side of the square crops.
        normalization: how the model expects its input.
        num_classes: None or 1 for binary labels (float 1 x P x P), >= 2 for class
            indices (int64 P x P, 0 on invalid pixels).
        in_channels: replicate grayscale images to this many channels; None keeps them.
        length: items per epoch; None gives one per ``patch_size**2`` valid pixels.
        augment: random rotation/flip and, with ``photometric``, jitter.
        photometric: jitter brightness, contrast and gamma (turn off for PRN, whose
            input is a probability map).
        jitter: ranges of the photometric jitter.
        seed: base seed.

    Items are dicts of tensors: ``image`` C x P x P float32, ``label``, ``valid``
    1 x P x P float32.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        patch_size: int = 256,
        normalization: Normalization = IMAGENET_NORM,
        num_classes: int | None = None,
        in_channels: int | None = None,
        length: int | None = None,
        augment: bool = True,
        photometric: bool = True,
        jitter: Jitter = DEFAULT_JITTER,
        seed: int = 0,
    ) -> None:
        if patch_size < 1:
            raise SegRefineError(f"patch size must be a positive integer, got {patch_size}")
        self.sources = [
            _make_source(s, normalization, num_classes, in_channels, i)
            for i, s in enumerate(samples)
        ]
        self.sample_ends = np.cumsum([s.n_valid for s in self.sources], dtype=np.int64)
        if not self.sample_ends.size or self.sample_ends[-1] == 0:
            raise SegRefineError(NO_VALID_PIXELS)
        self.patch_size = patch_size
        self.normalization = replace(normalization, scale="none")
        self.multiclass = num_classes is not None and num_classes > 1
        self.in_channels = in_channels
        total = int(self.sample_ends[-1])
        self.length = max(1, -(-total // patch_size**2)) if length is None else length
        self.augment = augment
        self.photometric = photometric
        self.jitter = jitter
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Draw a different set of crops (same seed, same index) from now on."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng((self.seed, self.epoch, index))
        k = int(rng.integers(self.sample_ends[-1]))
        source_index = int(np.searchsorted(self.sample_ends, k, side="right"))
        source = self.sources[source_index]
        previous = int(self.sample_ends[source_index - 1]) if source_index else 0
        image, label, valid = self._crop(source, *source.valid_pixel(k - previous))
        if self.augment:
            turns, flip = random_dihedral(rng)
            image, label, valid = (apply_dihedral(a, turns, flip) for a in (image, label, valid))
            if self.photometric:
                image = photometric_jitter(image, rng, self.jitter)
        return self._tensors(image, label, valid)

    def _crop(self, source: _Source, row: int, col: int) -> tuple[np.ndarray, ...]:
        """Channels-first float image, label and bool valid of the window around a pixel."""
        height, width = source.label.shape
        size = self.patch_size
        top, left = crop_origin(row, height, size), crop_origin(col, width, size)
        image = padded_crop(source.image, top, left, size).astype(np.float32)
        image /= np.float32(source.divisor)
        image = image[None] if image.ndim == 2 else np.ascontiguousarray(np.moveaxis(image, -1, 0))
        label = padded_crop(source.label, top, left, size)
        if source.valid is None:
            valid = inside_mask(top, left, size, height, width)
        else:
            valid = padded_crop(source.valid, top, left, size)
        if self.in_channels is not None and image.shape[0] != self.in_channels:
            image = np.repeat(image, self.in_channels, axis=0)
        return image, label, valid

    def _tensors(
        self, image: np.ndarray, label: np.ndarray, valid: np.ndarray
    ) -> dict[str, Tensor]:
        image = normalize(image, self.normalization)
        if self.multiclass:
            target = torch.from_numpy(np.where(valid, label, 0).astype(np.int64))
        else:
            target = torch.from_numpy((label > 0).astype(np.float32)[None])
        return {
            "image": torch.from_numpy(image),
            "label": target,
            "valid": torch.from_numpy(valid.astype(np.float32)[None]),
        }


def split_samples(
    samples: Sequence[Sample], val_fraction: float = 0.2, seed: int = 0
) -> tuple[list[Sample], list[Sample]]:
    """Split samples into a training and a validation part.

    With two or more images that have valid pixels, whole images go to validation
    (``round(val_fraction * n)``, at least 1, at most n - 1, chosen by ``seed``). With a
    single such image, a spatial block of its valid mask is held out instead: a band
    of rows or columns (along the longer side of the valid pixels' bounding box) at the
    start or the end, holding about ``val_fraction`` of the valid pixels; both parts keep
    the whole image and label, only their valid masks differ. Neighbouring pixels still
    share context across the band's edge, so that validation is slightly optimistic.

    Returns:
        ``(train, validation)`` lists of (image, label, valid) triples; validation is
        empty when ``val_fraction`` is 0.
    """
    if not 0 <= val_fraction < 1:
        raise SegRefineError(
            f"validation fraction must be in [0, 1), got {val_fraction}; e.g. use 0.2"
        )
    samples = list(samples)
    if val_fraction == 0:
        return samples, []
    masks = [_valid_array(v, tuple(im.shape[:2]), i) for i, (im, _, v) in enumerate(samples)]
    usable = [i for i, mask in enumerate(masks) if mask.any()]
    if not usable:
        raise SegRefineError(NO_VALID_PIXELS)
    rng = np.random.default_rng(seed)
    if len(usable) >= 2:
        n_val = int(np.clip(round(val_fraction * len(usable)), 1, len(usable) - 1))
        held_out = set(rng.permutation(usable)[:n_val].tolist())
        train = [s for i, s in enumerate(samples) if i not in held_out]
        return train, [s for i, s in enumerate(samples) if i in held_out]
    index = usable[0]
    image, label, _ = samples[index]
    block = _held_out_band(masks[index], val_fraction, from_start=bool(rng.random() < 0.5))
    train = list(samples)
    train[index] = (image, label, masks[index] & ~block)
    return train, [(image, label, masks[index] & block)]


def _held_out_band(valid: np.ndarray, fraction: float, from_start: bool) -> np.ndarray:
    """Bool mask of a band of rows or columns holding about ``fraction`` of ``valid``."""
    rows, cols = np.nonzero(valid)
    extents = (rows.max() - rows.min(), cols.max() - cols.min())
    for axis in np.argsort(extents)[::-1]:
        counts = valid.sum(axis=1 - axis)
        if not from_start:
            counts = counts[::-1]
        total = int(counts.sum())
        before = np.cumsum(counts)[:-1]  # valid pixels before each cut between lines
        cuts = np.flatnonzero((before > 0) & (before < total))
        if cuts.size:
            cut = int(cuts[np.argmin(np.abs(before[cuts] - fraction * total))]) + 1
            band = np.zeros(valid.shape[axis], dtype=bool)
            band[:cut] = True
            band = band if from_start else band[::-1]
            return np.expand_dims(band, 1 - axis) & valid
    raise SegRefineError(
        "too few corrected pixels to hold out a validation part (one pixel); correct "
        "more pixels or set the validation fraction to 0"
    )
