"""Where to correct next: rank the patches of an image by how likely the model is wrong.

The score of a patch is a weighted sum of signals, each in [0, 1]:

- **uncertainty**: mean of ``1 - |2p - 1|`` over the patch (binary entropy proxy);
- **boundary density**: mean of the boundary map (contours the model is unsure about);
- **disagreement**: fraction of pixels where a second opinion (the PRN-refined mask,
  or any other mask) differs from the thresholded prediction;
- **contrast** (only with ``image``): the patch's grey-level spread against the whole
  image's (standard deviations, clipped to 1). A patch that holds two kinds of pixels
  teaches an update both classes and an edge; a flat background patch teaches little,
  and a model that is confidently wrong everywhere gives the other signals nothing.

Until the corrections hold both classes (`rank_two_class_patches`), the queue ranks by
**mixture** instead: how evenly a patch splits between the two grey-level classes of the
image (or stack) it belongs to, above and below Otsu's level of a sample of at most
`limits.LEVEL_PIXELS` of its values (`otsu_level`), times the patch's share of a full patch (so
a thin edge strip does not come first). An update needs corrected pixels of both
classes, and a starting model that sees nothing of the image gives the signals above
nothing to go on; a patch holding both kinds of pixels gives the first update both.
When a flat dark surround frames the imaged field (a fundus photo's black border, an
orthophoto's or a mosaic's fill: `outside_of_field`), that split is field against
surround, never the objects: the surround is then left out, Otsu's level taken over the
field, and a patch's mixture is over its field pixels, times their share.

Then **spread**: taking a patch halves the score of its eight neighbours (and patches
next to already corrected ones start halved), so the queue does not offer five
neighbours of one mistake. Patches already fully corrected or confirmed (``valid``)
are skipped, so a user walking the ranking never sees the same patch twice.
`benchmarks/ranking.py` measures the ranking against random patches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.measure import regionprops

from .errors import SegRefineError
from .limits import level_stride

WEIGHTS = {"uncertainty": 1.0, "boundary": 1.0, "disagreement": 2.0, "contrast": 1.0}
SPREAD = 0.5  # score factor of a patch next to a picked or corrected one
SPREAD_PICKS = 256  # the first picks are spread; the rest follow in score order
NEIGHBOURS = np.ones((3, 3), bool)
SURROUND_SHARE = (0.05, 0.6)  # a surround covers this share of an image, from..to
FLAT_SPREAD = 0.1  # a surround's grey-level spread (10th to 90th centile), of the range
FIELD_SOLIDITY = 0.9  # what a surround leaves fills this share of its convex hull


@dataclass(frozen=True)
class PatchScore:
    """One ranked patch: its box in pixels, its score and the signals behind it."""

    top: int
    left: int
    height: int
    width: int
    score: float
    uncertainty: float = 0.0
    boundary: float = 0.0
    disagreement: float = 0.0
    contrast: float = 0.0
    mixture: float = 0.0

    @property
    def center(self) -> tuple[float, float]:
        return (self.top + self.height / 2, self.left + self.width / 2)

    @property
    def slices(self) -> tuple[slice, slice]:
        return (slice(self.top, self.top + self.height), slice(self.left, self.left + self.width))


def _patch_means(values: np.ndarray, patch_size: int) -> np.ndarray:
    """Mean of ``values`` over each patch of the grid (edge patches partial)."""
    (starts_r, heights), (starts_c, widths) = _patch_sides(values.shape, patch_size)
    rows_summed = np.add.reduceat(values, starts_r, 0, dtype=np.float64)  # no float copy
    sums = np.add.reduceat(rows_summed, starts_c, 1)
    return sums / np.outer(heights, widths)


def _patch_sides(shape: tuple[int, ...], patch_size: int):
    """Per axis of the grid: the patches' first pixels and their sides (edge ones partial)."""
    sides = []
    for length in shape[:2]:
        starts = np.arange(-(-length // patch_size)) * patch_size
        sides.append((starts, np.minimum(starts + patch_size, length) - starts))
    return sides


def patch_contrast(image: np.ndarray, patch_size: int) -> np.ndarray:
    """Per patch: grey-level standard deviation over the image's, clipped to [0, 1].

    Args:
        image: (H, W) or (H, W, C) (channels are averaged).
        patch_size: side of the square patches.
    """
    grey = _grey(image, rgb=np.ndim(image) == 3)
    grey = (grey - grey.mean()) / max(float(grey.std()), 1e-12)
    mean = _patch_means(grey, patch_size)
    variance = np.maximum(_patch_means(grey**2, patch_size) - mean**2, 0.0)
    return np.clip(np.sqrt(variance), 0.0, 1.0)


def otsu_level(image: np.ndarray, rgb: bool) -> float | None:
    """Otsu's grey level of an image or stack, from at most `limits.LEVEL_PIXELS` values
    taken at a regular stride (channels averaged when ``rgb``); None when they are all
    equal."""
    shape = np.shape(image)  # a lazy array (dask, zarr) is read at the stride only
    spatial = len(shape) - int(rgb)
    stride = level_stride(int(np.prod(shape)), spatial)
    sample = _grey(np.asarray(image[(slice(None, None, stride),) * spatial]), rgb)
    if not np.isfinite(sample).all():
        raise SegRefineError("the image holds NaN or infinite values; fix or mask them first")
    return None if sample.min() == sample.max() else float(threshold_otsu(sample))


def patch_mixture(
    grey: np.ndarray, patch_size: int, level: float | None, outside: np.ndarray | None = None
) -> np.ndarray:
    """Per patch: 1 when half its pixels lie above ``level``, 0 when all lie on one side
    or ``level`` is None (see `otsu_level`).

    Args:
        grey: (H, W).
        patch_size: side of the square patches.
        level: the grey level that splits the two classes.
        outside: pixels to leave out (`outside_of_field`): the split is over a patch's
            other pixels, times their share of it.
    """
    field = np.ones(grey.shape, bool) if outside is None else ~outside
    inside = _patch_means(field, patch_size)
    above = _patch_means(field & (grey > (np.inf if level is None else level)), patch_size)
    share = above / np.maximum(inside, 1e-12)
    return 2 * np.minimum(share, 1 - share) * inside


def outside_of_field(grey: np.ndarray, level: float) -> np.ndarray | None:
    """The flat dark surround of an imaged field, or None when there is none.

    The surround is the part of the dark class (at or below ``level``, Otsu's) that
    touches the image's border, when it is flat (its 10th to 90th centiles lie within
    `FLAT_SPREAD` of the image's range), covers `SURROUND_SHARE` of the image, and
    what it leaves is one compact region (at least 90 % of those pixels, convex within
    `FIELD_SOLIDITY`): a fundus photo's black border, an orthophoto's or a stitched
    mosaic's fill. A dark background between objects is not one (what it leaves is the
    objects, in pieces).
    """
    dark = grey <= level
    if not SURROUND_SHARE[0] <= dark.mean() <= SURROUND_SHARE[1]:
        return None
    labels, _ = ndimage.label(dark)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    outside = np.isin(labels, edge[edge > 0])
    if outside.mean() < SURROUND_SHARE[0]:
        return None
    low, high = np.percentile(grey[outside], [10, 90])  # thin lines may join it: robust
    if high - low > FLAT_SPREAD * np.ptp(grey):
        return None
    field, count = ndimage.label(~outside)
    sizes = np.bincount(field.ravel())[1:]
    if not count or sizes.max() < 0.9 * sizes.sum():
        return None
    main = field == int(np.argmax(sizes)) + 1
    return outside if regionprops(main.astype(np.uint8))[0].solidity >= FIELD_SOLIDITY else None


def _grey(image: np.ndarray, rgb: bool) -> np.ndarray:
    """The image in float32, its last axis averaged when ``rgb`` (no float copy of all
    channels)."""
    image = np.asarray(image)
    return image.mean(axis=-1, dtype=np.float32) if rgb else image.astype(np.float32)


def _area_share(shape: tuple[int, ...], patch_size: int) -> np.ndarray:
    """Per patch: its pixels over a full patch's (below 1 for edge patches)."""
    (_, heights), (_, widths) = _patch_sides(shape, patch_size)
    return np.outer(heights, widths) / patch_size**2


def rank_patches(
    prob: np.ndarray,
    patch_size: int = 128,
    *,
    boundary: np.ndarray | None = None,
    refined: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    threshold: float = 0.5,
    top_k: int | None = None,
    image: np.ndarray | None = None,
) -> list[PatchScore]:
    """Patches of a binary probability map, most likely wrong first.

    Args:
        prob: P(foreground), (H, W) in [0, 1].
        patch_size: side of the square patches of the grid.
        boundary: the boundary map from `predict` (computed when None).
        refined: a second opinion, e.g. the PRN-refined mask (H, W).
        valid: pixels already corrected or confirmed; patches that are at least
            90% valid are left out, their neighbours start with halved scores.
        threshold: the threshold the current mask was made with.
        top_k: return only the first ``top_k``.
        image: the image (H, W) or (H, W, C); adds the contrast signal.

    Returns:
        `PatchScore`s in queue order; their ``score`` is the score after spreading.
    """
    prob = _checked_map(prob, patch_size)
    signals = _signals(prob, patch_size, boundary, refined, image, threshold)
    score = sum(WEIGHTS[name] * values for name, values in signals.items())
    return _queue(score, signals, prob.shape, patch_size, valid, top_k)


def rank_two_class_patches(
    image: np.ndarray,
    patch_size: int = 128,
    *,
    valid: np.ndarray | None = None,
    top_k: int | None = None,
    level: float | None = None,
) -> list[PatchScore]:
    """Every patch of an image not yet checked, those that split most evenly between its
    two grey-level classes first: the queue until the corrections hold both classes
    (see the module's docstring).

    Args:
        image: (H, W) or (H, W, C); a 3-D array is read as (H, W, C), so pass a stack
            one slice at a time, with the ``level`` of the whole stack.
        patch_size, valid, top_k: as in `rank_patches`.
        level: the grey level between the two classes (None: `otsu_level` of ``image``).

    Returns:
        `PatchScore`s in queue order; ``mixture`` is the patch's evenness, ``score`` that
        times its share of a full patch, after spreading.
    """
    grey = _checked_map(_grey(image, rgb=np.ndim(image) == 3), patch_size, "image")
    level = otsu_level(grey, rgb=False) if level is None else level
    outside = None if level is None else outside_of_field(grey, level)
    if outside is not None:  # the objects are inside the field: split it, not the frame
        level = float(threshold_otsu(grey[~outside]))
    mixture = patch_mixture(grey, patch_size, level, outside)
    score = mixture * _area_share(grey.shape, patch_size)
    return _queue(score, {"mixture": mixture}, grey.shape, patch_size, valid, top_k)


def _queue(score, signals, shape, patch_size, valid, top_k) -> list[PatchScore]:
    """The patches in spread order, leaving out the ``valid`` ones (see `rank_patches`);
    ``signals`` fill the `PatchScore` fields they name."""
    done = np.zeros(score.shape, bool)
    if valid is not None:
        covered = _patch_means(_same_shape(valid, shape, "valid") > 0, patch_size)
        done = covered >= 0.9
        score = np.where(ndimage.binary_dilation(covered > 0, NEIGHBOURS), score * SPREAD, score)
    order, score = _spread_order(score, done, top_k)
    height, width = shape
    ranked = []
    for r, c in order:
        top, left = int(r * patch_size), int(c * patch_size)
        box = (top, left, min(patch_size, height - top), min(patch_size, width - left))
        values = {name: float(grid[r, c]) for name, grid in signals.items()}
        ranked.append(PatchScore(*box, float(score[r, c]), **values))
    return ranked


def _checked_map(prob: np.ndarray, patch_size: int, what: str = "probability map") -> np.ndarray:
    prob = np.asarray(prob, np.float32)
    if prob.ndim != 2 or prob.size == 0:
        raise SegRefineError(
            f"ranking needs one 2-D {what}, got shape {prob.shape}; "
            "pass one slice of a stack at a time"
        )
    if not np.isfinite(prob).all():
        raise SegRefineError(f"the {what} holds NaN or infinite values; fix or mask them first")
    if patch_size < 1:
        raise SegRefineError(f"patch_size must be at least 1, got {patch_size}")
    return prob


def _same_shape(array: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.shape[:2] != shape:
        raise SegRefineError(
            f"{name} has shape {array.shape} but the map it goes with {shape}; pass the "
            "same slice of both"
        )
    return array


def _signals(prob, patch_size, boundary, refined, image, threshold) -> dict[str, np.ndarray]:
    """The per-patch signals of `WEIGHTS` (absent ones are zero)."""
    if boundary is None:
        from .engine import boundary_map

        boundary = boundary_map(prob)
    uncertainty = _patch_means(1 - np.abs(2 * prob - 1), patch_size)
    signals = {
        "uncertainty": uncertainty,
        "boundary": _patch_means(_same_shape(boundary, prob.shape, "boundary"), patch_size),
        "disagreement": np.zeros_like(uncertainty),
        "contrast": np.zeros_like(uncertainty),
    }
    if refined is not None:
        flipped = (_same_shape(refined, prob.shape, "refined") > 0) != (prob > threshold)
        signals["disagreement"] = _patch_means(flipped, patch_size)
    if image is not None:
        signals["contrast"] = patch_contrast(_same_shape(image, prob.shape, "image"), patch_size)
    return signals


def _spread_order(
    score: np.ndarray, done: np.ndarray, top_k: int | None
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Greedy queue: best patch first, its neighbours' scores then times `SPREAD`.

    Returns the (row, col) order of the patches not ``done`` and the spread scores.
    """
    score = score.astype(np.float64).copy()
    left = ~done
    wanted = int(left.sum()) if top_k is None else min(int(top_k), int(left.sum()))
    order: list[tuple[int, int]] = []
    while len(order) < min(wanted, SPREAD_PICKS):
        flat = int(np.argmax(np.where(left, score, -np.inf)))
        r, c = divmod(flat, score.shape[1])
        order.append((r, c))
        left[r, c] = False
        near = (slice(max(r - 1, 0), r + 2), slice(max(c - 1, 0), c + 2))
        score[near] = np.where(left[near], score[near] * SPREAD, score[near])
    rest = [divmod(int(f), score.shape[1]) for f in np.argsort(-score, axis=None, kind="stable")]
    order += [(r, c) for r, c in rest if left[r, c]][: wanted - len(order)]
    return order, score
