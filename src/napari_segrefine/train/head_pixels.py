"""The corrected pixels a head learns from: their features, window by window.

`training_pixels` cuts each image's corrections into windows (`WINDOW` px cells with a
`MARGIN` px margin), computes each window's features as `AdaptedModel` does at
prediction time (filters and the early encoder activations on the window, the base's
output maps from `predict`'s own tiles of the whole image), and gathers the corrected
pixels with their block ids (for the guard's folds), the current model's answers, and
context pixels (the current model's answers in a few uncorrected windows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from ..engine.default_tiling import DEFAULT_OVERLAP, default_tile_shape
from ..engine.preprocess import match_channels, pad_to_multiple, to_channels_first
from ..engine.tiling import TileMemo, Window, sliding_window, tile_starts
from ..errors import SegRefineError
from ..models.adapted import AdaptedModel
from ..models.config import model_config
from ..models.normalization import normalize
from .global_threshold import level_sample

Sample = tuple[np.ndarray, np.ndarray, np.ndarray | None]
WINDOW = 256  # features are computed per cell of this side, around its corrected pixels
MARGIN = 64  # context added on each side of a window
GROUP = 32  # side of the blocks the guard holds out together
SAMPLE_STRIDE = 1_000_000_000  # block ids: sample index * SAMPLE_STRIDE + block


@dataclass
class Pixels:
    """Corrected pixels, one row each (and one per mirrored view of it, see
    `_mirrored_activations`), with what the head and its guard need of them."""

    rows: np.ndarray  # features (pixels x F)
    labels: np.ndarray  # True: foreground
    groups: np.ndarray  # block ids: sample index * SAMPLE_STRIDE + block
    current: np.ndarray  # the current model's mask
    mirrored: np.ndarray  # True: a mirrored view's row

    def take(self, keep: np.ndarray) -> Pixels:
        """The pixels at indices (or where a bool mask is True) ``keep``."""
        return Pixels(*(getattr(self, part.name)[keep] for part in fields(self)))


@torch.no_grad()
def training_pixels(head: AdaptedModel, samples: Sequence[Sample], config, device, rng):
    """The corrected `Pixels` (each once, plus ``config.flips`` mirrored views), the
    (features, labels) of context pixels (the current model's answers elsewhere), and
    each sample's `level_sample`."""
    found: dict[str, list[np.ndarray]] = {part.name: [] for part in fields(Pixels)}
    context: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    levels = []
    checked = [_checked_sample(head, *sample, index) for index, sample in enumerate(samples)]
    _require_both_classes(checked)
    for index, (x, label, valid) in enumerate(checked):
        levels.append(level_sample(x, config.sigmas[0]))
        outputs_of = _prediction_outputs(head, x, device)
        cells = list(_windows(valid))
        others = [cell for cell in _windows(~valid) if not valid[cell[1]].any()]
        if config.context_weight > 0:
            picks = rng.permutation(len(others))[: config.context_windows]
            cells += [others[i] for i in picks]
        for window, inner in cells:
            outputs = outputs_of(window)
            features, base_prob = _window_features(head, x, window, device, outputs)
            top, left = inner[0].start - window[0].start, inner[1].start - window[1].start
            crop = (
                slice(top, top + valid[inner].shape[0]),
                slice(left, left + valid[inner].shape[1]),
            )
            inside, prob = features[:, crop[0], crop[1]], base_prob[crop]
            spot = valid[inner]
            rows_r, rows_c = np.nonzero(spot)
            block = ((rows_r + inner[0].start) // GROUP) * 100_000 + (
                rows_c + inner[1].start
            ) // GROUP
            rows = inside[:, spot].T
            views = [rows]
            flips = config.flips if spot.any() else 0  # context windows: none
            for encoded in _mirrored_activations(head, x, window, flips, device):
                view = rows.copy()  # the same filters and output maps, mirrored activations
                view[:, rows.shape[1] - len(encoded) :] = encoded[:, crop[0], crop[1]][:, spot].T
                views.append(view)
            for number, view in enumerate(views):
                found["rows"].append(view)
                found["labels"].append(label[inner][spot] != 0)
                found["groups"].append(index * SAMPLE_STRIDE + block)
                found["current"].append(prob[spot] > 0.5)
                found["mirrored"].append(np.full(len(block), number > 0))
            free = np.flatnonzero(~spot.ravel())
            sample = rng.choice(free, min(len(free), config.max_pixels // 8), replace=False)
            context[0].append(inside.reshape(len(inside), -1)[:, sample].T)
            context[1].append(prob.ravel()[sample] > 0.5)
    pixels = Pixels(**{name: np.concatenate(parts) for name, parts in found.items()})
    return pixels, tuple(np.concatenate(part) for part in context), levels


def _require_both_classes(checked) -> None:
    """Fail before any feature is computed unless the corrected pixels of the checked
    samples (`_checked_sample`) hold both classes."""
    corrected = np.concatenate([label[valid] != 0 for _, label, valid in checked])
    if not corrected.size:
        raise SegRefineError("no corrected pixels yet; correct or confirm part of the mask first")
    if corrected.all() or not corrected.any():
        raise SegRefineError(
            "the corrected pixels are all "
            f"{'foreground' if corrected[0] else 'background'}; correct or confirm some "
            "pixels of the other class too, then update again"
        )


def _checked_sample(head: AdaptedModel, image, label, valid, index: int):
    """The normalized model input, the label and the bool valid mask of one sample."""
    config_of = model_config(head)
    in_channels = int(config_of.kwargs["base"]["kwargs"].get("in_channels", 3))
    stack, _ = to_channels_first(np.asarray(image), None, None)
    if len(stack) != 1:
        raise SegRefineError("fit_head takes 2-D images; pass each slice of a stack as a sample")
    x = normalize(match_channels(stack[0], in_channels), config_of.normalization)
    label = np.asarray(label)
    valid = np.ones(label.shape, bool) if valid is None else np.asarray(valid) != 0
    if label.shape != x.shape[1:] or valid.shape != label.shape:
        raise SegRefineError(
            f"sample {index}: image {x.shape[1:]}, label {label.shape} and valid "
            f"{valid.shape} must have the same height and width"
        )
    return x, label, valid


def _windows(valid: np.ndarray):
    """(window, inner) slice pairs: the bounding box of the valid pixels of each WINDOW
    cell that has any (inner), and that box grown by MARGIN on each side (window)."""
    height, width = valid.shape
    for top in range(0, height, WINDOW):
        for left in range(0, width, WINDOW):
            cell = valid[top : top + WINDOW, left : left + WINDOW]
            rows, cols = np.flatnonzero(cell.any(1)), np.flatnonzero(cell.any(0))
            if not len(rows):
                continue
            inner = (
                slice(top + rows[0], top + rows[-1] + 1),
                slice(left + cols[0], left + cols[-1] + 1),
            )
            window = (
                slice(max(0, inner[0].start - MARGIN), min(height, inner[0].stop + MARGIN)),
                slice(max(0, inner[1].start - MARGIN), min(width, inner[1].stop + MARGIN)),
            )
            yield window, inner


def _prediction_outputs(head: AdaptedModel, x: np.ndarray, device) -> Callable:
    """A function giving the base's output maps (K x h x w) of a window as `predict`
    computes them for this image: blended from the tiles of its default tiling that
    touch the window (one tile, the whole image, for an image of up to 1024 px a side).
    The outputs of the last `_memo_bound` tiles are kept, so a tile runs once however
    many windows touch it when they come in `_windows`' order.

    The base's outputs depend on all of its input (its receptive field spans the whole
    tile): computed on a window around the corrections instead they differ, even far
    from the window's border, and a head fitted to those values meets others when it
    predicts.
    """
    padded = pad_to_multiple(x)
    tile = default_tile_shape(x.shape[1:])

    def base_outputs(batch: np.ndarray) -> np.ndarray:
        return head.base_outputs(torch.from_numpy(batch).to(device)).cpu().numpy()

    run = TileMemo(_memo_bound(padded.shape[1:], tile)).wrap(base_outputs)

    def outputs(window) -> np.ndarray:
        region = (window[0].start, window[0].stop, window[1].start, window[1].stop)
        where = Window(padded.shape[1:], region)
        return sliding_window(run, padded, tile, DEFAULT_OVERLAP, window=where)

    return outputs


def _memo_bound(padded: tuple[int, int], tile: tuple[int, int]) -> int:
    """Tiles whose outputs `_prediction_outputs` keeps: three rows of the tile grid of
    the (padded) image, and the tiles of one more window.

    A window spans at most WINDOW + 2 x MARGIN = 384 px, and tiles of 512 px start at
    most 384 px apart, so it touches at most three tiles a side (3 x 3). Windows come
    cell row by cell row (`_windows`); the next row of windows touches again the tile
    rows of the one before: between two uses of a tile, the windows visited touch about
    three rows of tiles, plus a window's at the turn. Over 100 layouts of corrections
    no tile ran twice with this bound, against up to 3.7 times with a memo of 9 tiles
    (`benchmarks/results/head_tile_memo.md`); only the context windows, visited last,
    may run again the (up to 9) tiles each touches. It is the whole grid for an image
    of up to three tile rows.
    """
    columns = len(tile_starts(padded[1], tile[1], DEFAULT_OVERLAP))
    return 3 * columns + 3 * 3


def _mirrored_activations(head: AdaptedModel, x: np.ndarray, window, flips: int, device):
    """The encoder activations (E x h x w) of a window's mirror images (left-right, then
    up-down: the first ``flips``), each mirrored back onto the window; none when the head
    reads no encoder activations.

    A network's early filters are oriented, so a head that learned them on one side of a
    symmetric object meets other values on the other; rows with these activations in
    place of the window's teach it that a pixel keeps its class when mirrored. The
    filters are mirror-symmetric and the output maps come from the whole image, so those
    stay as they are.
    """
    if head.deep != "encoder":
        return []
    crop = x[:, window[0], window[1]]
    views = []
    for axis in (2, 1)[:flips]:
        mirrored = pad_to_multiple(np.ascontiguousarray(np.flip(crop, axis)))
        parts = head.encoder_features(torch.from_numpy(mirrored).unsqueeze(0).to(device))
        encoded = torch.cat([part.float() for part in parts], 1)[0].cpu().numpy()
        views.append(np.flip(encoded[:, : crop.shape[1], : crop.shape[2]], axis))
    return views


def _window_features(head: AdaptedModel, x: np.ndarray, window, device, outputs: np.ndarray):
    """Features (F x h x w) and the base model's probability (h x w) of one window, the
    base's output maps taken from ``outputs`` (`_prediction_outputs`).

    The base runs on the window only for its encoder activations (``deep="encoder"``),
    and only as far as its encoder; the other features are the window's filters and
    those outputs.
    """
    crop = x[:, window[0], window[1]]
    padded = torch.from_numpy(pad_to_multiple(crop)).unsqueeze(0).to(device)
    parts = [head.bank(padded)]
    if head.deep == "encoder":
        parts += head.encoder_features(padded)
    computed = torch.cat([part.float() for part in parts], 1)
    features = computed[0, :, : crop.shape[1], : crop.shape[2]].cpu().numpy()
    if head.deep != "none":  # the outputs after the filters
        first = head.bank.num_features
        features = np.concatenate([features[:first], outputs, features[first:]])
    return features, outputs[0]
