"""Adapt PatchRefineNet to the user's corrections, guarded.

PRN learns one threshold per patch of a base model's probability map; its training
labels are the maps binarized at each patch's best threshold against the truth
(`patch_optimal_thresholds`). The user's corrected patches are such truth, on exactly
the maps PRN will refine, at the patch size it will run at. So `adapt_prn`:

1. takes the patches (``patch_size``, the PRN grid) whose pixels are at least 90%
   corrected, and holds about a third of them out (at least one) for the guard;
2. makes pseudo-labels on the map's own patch grid (`patch_optimal_thresholds` of the
   map against the corrected mask) and cuts training windows of ``window_patches``
   patches a side on that grid, so PRN's local tiles are the labelled patches;
3. trains a copy of PRN for ``steps`` steps (Adam, frozen BatchNorm statistics, random
   square symmetries) with PRN's own loss on the training patches' pixels only;
4. refines the whole map with the copy and with the PRN it started from and compares
   both, and the plain ``prob > threshold`` mask, with the corrections on the held-out
   patches: the copy is adopted only when it scores higher than the PRN it started from
   and no lower than no PRN at all. The result says why either way.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..engine import resolve_device
from ..errors import SegRefineError
from ..refine import refine
from ..refine.patches import (
    as_binary_mask,
    as_probability_map,
    grid_shape,
    patch_pixel_counts,
    patch_sums,
)
from ..refine.thresholds import patch_optimal_thresholds
from .augment import apply_dihedral, random_dihedral
from .loop import require_counts
from .losses import prn_loss

CORRECTED_SHARE = 0.9
Sample = tuple[np.ndarray, np.ndarray, np.ndarray]
Cell = tuple[int, int, int]  # (sample, row, col) of a patch


@dataclass
class PRNAdaptConfig:
    """Settings of `adapt_prn`: ``steps`` Adam steps at ``lr`` on batches of
    ``batch_size`` windows of ``window_patches`` patches a side; ``holdout`` of the
    corrected patches (at least one) judge the result; masks cut at ``threshold``."""

    steps: int = 40
    lr: float = 3e-4
    batch_size: int = 4
    window_patches: int = 2
    holdout: float = 0.34
    threshold: float = 0.5
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        require_counts(self, ("steps", "batch_size", "window_patches"))
        if not 0.0 < self.holdout < 1.0:
            raise SegRefineError(f"holdout must be a fraction in (0, 1), got {self.holdout}")


@dataclass
class PRNAdaptResult:
    """What `adapt_prn` did: the adapted copy, whether to use it, and the numbers why.

    IoUs are on the held-out corrected patches: ``iou_plain`` of ``prob > threshold``,
    ``iou_start`` of the PRN adaptation started from, ``iou_adapted`` of the copy.
    """

    model: nn.Module = field(repr=False)
    adopted: bool
    reason: str
    patches: int
    held_out: int
    iou_plain: float
    iou_start: float
    iou_adapted: float


def adapt_prn(
    prn: nn.Module,
    samples: Sequence[Sample],
    patch_size: int = 64,
    config: PRNAdaptConfig | None = None,
) -> PRNAdaptResult:
    """Fine-tune a copy of ``prn`` on the corrected patches, adopted only if it helps.

    Args:
        prn: the PRN model that refines now (left unchanged).
        samples: (probability map (H, W), corrected mask, valid) triples: the base
            model's map, the user's mask (right on ``valid``) and the corrected pixels.
        patch_size: the PRN patch size refinement runs at (a multiple of 8).
        config: settings; `PRNAdaptConfig()` by default.

    Raises:
        SegRefineError: fewer than 2 corrected patches, or bad maps.
    """
    config = config or PRNAdaptConfig()
    maps = [_checked_sample(sample, index) for index, sample in enumerate(samples)]
    cells = [
        cell for index, m in enumerate(maps) for cell in _corrected_cells(m, index, patch_size)
    ]
    if len(cells) < 2:
        raise SegRefineError(
            f"PRN adaptation needs at least 2 patches of {patch_size} px corrected (90% of "
            f"their pixels), found {len(cells)}; correct whole patches, then adapt again"
        )
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(cells))
    held_count = max(1, int(round(config.holdout * len(cells))))
    held = [cells[i] for i in order[:held_count]]
    train = [cells[i] for i in order[held_count:]]
    model = copy.deepcopy(prn)
    _train(model, maps, train, patch_size, config, rng)
    scores = [_held_out_iou(maps, held, patch_size, config, net) for net in (None, prn, model)]
    plain, start, adapted = scores
    adopted = adapted > start and adapted >= plain
    verdict = "adopted" if adopted else "not adopted"
    reason = (
        f"PRN adaptation {verdict}: on {len(held)} held-out corrected patch(es) IoU "
        f"{adapted:.3f} against {start:.3f} before adapting ({plain:.3f} without PRN)"
    )
    return PRNAdaptResult(model, adopted, reason, len(cells), len(held), plain, start, adapted)


def _checked_sample(sample: Sample, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if len(sample) != 3:
        raise SegRefineError(f"sample {index} must be (probability map, mask, valid)")
    prob = as_probability_map(sample[0], f"probability map {index}")
    mask = as_binary_mask(sample[1], prob.shape, f"mask {index}")
    valid = as_binary_mask(sample[2], prob.shape, f"valid {index}")
    return prob, mask, valid


def _corrected_cells(sample, index: int, patch_size: int) -> list[Cell]:
    """The patches of one map whose pixels are at least `CORRECTED_SHARE` corrected."""
    _, _, valid = sample
    share = patch_sums(valid.astype(np.int64), patch_size) / patch_pixel_counts(
        valid.shape, patch_size
    )
    return [(index, int(r), int(c)) for r, c in zip(*np.nonzero(share >= CORRECTED_SHARE))]


def _train(model: nn.Module, maps, cells: list[Cell], patch_size: int, config, rng) -> None:
    device = resolve_device(config.device)
    model.to(device)
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    labels = [patch_optimal_thresholds(prob, mask, patch_size)[1] for prob, mask, _ in maps]
    training = [_cell_mask(m[2].shape, [c for c in cells if c[0] == i], patch_size) & m[2]
                for i, m in enumerate(maps)]  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    torch.manual_seed(config.seed)
    for _ in range(config.steps):
        picks = [cells[int(i)] for i in rng.integers(len(cells), size=config.batch_size)]
        batch = [_window(maps, labels, training, cell, patch_size, config, rng) for cell in picks]
        prob, pseudo, truth, weight = (
            torch.from_numpy(np.stack([item[j] for item in batch])[:, None]).to(device)
            for j in range(4)
        )
        global_logits, local_logits = model(prob, patch_size=patch_size)
        loss = prn_loss(global_logits, local_logits, pseudo, truth, weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()


def _cell_mask(shape: tuple[int, int], cells: list[Cell], patch_size: int) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for _, r, c in cells:
        mask[r * patch_size : (r + 1) * patch_size, c * patch_size : (c + 1) * patch_size] = True
    return mask


def _window(maps, labels, training, cell: Cell, patch_size: int, config, rng):
    """A grid-aligned window holding ``cell``: map, pseudo-label, truth and loss weight."""
    index, row, col = cell
    prob, mask, _ = maps[index]
    side = config.window_patches
    rows, cols = grid_shape(prob.shape, patch_size)
    top = int(np.clip(row - rng.integers(side), 0, max(rows - side, 0))) * patch_size
    left = int(np.clip(col - rng.integers(side), 0, max(cols - side, 0))) * patch_size
    size = side * patch_size
    arrays = (prob, labels[index], mask, training[index])
    crops = [_padded(a[top : top + size, left : left + size], size) for a in arrays]
    turns, flip = random_dihedral(rng)
    return [apply_dihedral(crop, turns, flip).astype(np.float32) for crop in crops]


def _padded(array: np.ndarray, size: int) -> np.ndarray:
    """``array`` zero-padded at the bottom and right to ``size`` x ``size``."""
    pad = [(0, size - array.shape[0]), (0, size - array.shape[1])]
    return np.pad(array, pad)


def _held_out_iou(maps, cells: list[Cell], patch_size: int, config, net) -> float:
    """Pooled IoU on the held-out patches' corrected pixels: ``prob > threshold`` (net
    None) or the mask refined by ``net``."""
    inter = union = 0
    for index, (prob, mask, valid) in enumerate(maps):
        mine = [c for c in cells if c[0] == index]
        if not mine:
            continue
        if net is None:
            pred = prob > config.threshold
        else:
            pred = refine(prob, patch_size=patch_size, prn=net, threshold=config.threshold,
                          device=config.device) > 0  # fmt: skip
        keep = _cell_mask(prob.shape, mine, patch_size) & valid
        inter += int(np.count_nonzero(pred & mask & keep))
        union += int(np.count_nonzero((pred | mask) & keep))
    return inter / union if union else 1.0


def correction_maps(
    probabilities: np.ndarray, mask: np.ndarray, valid: np.ndarray
) -> list[Sample]:
    """`adapt_prn` samples of an image or stack: (map, mask, valid) of each corrected slice."""
    if np.ndim(probabilities) == 2:
        return [(probabilities, mask, valid)]
    return [(p, m, v) for p, m, v in zip(probabilities, mask, valid) if np.any(v)]
