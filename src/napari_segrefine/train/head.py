"""Instant adaptation: fit a tree head to the corrected pixels in seconds, guarded.

`fit_head` computes per-pixel features (filters plus the base network's own outputs
and early activations, see `AdaptedModel`) at the corrected pixels, window by window,
grows extremely randomized trees on them (scikit-learn's ExtraTrees: as accurate
as a random forest on these features and several times faster to grow, see
`benchmarks/results/head_trees_tuning.md`), and stores its trees in an
`AdaptedModel` that predicts like any other model. Context pixels, the current
model's own answers in a few uncorrected windows, also train it, weighted by how well
that model agrees with the corrections, so the head keeps what was right elsewhere.

Each corrected pixel also comes in mirrored views (``HeadConfig.flips``): the
network's early filters are oriented, and trees that learned them on one side of a
symmetric object (a lung, a road) misread the other side.

The guard: the corrected pixels are split by 32-pixel blocks into folds; the head is
cross-validated on blocks it did not see and compared with the current model on the
same pixels. A head that does worse there by more than ``tolerance`` IoU is not
adopted, and the result says why.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.model_selection import GroupKFold
from torch import nn

from ..engine import resolve_device
from ..errors import SegRefineError
from ..metrics import iou
from ..models.adapted import DEEP_CHOICES, AdaptedModel
from ..models.config import ModelConfig, build_model, model_config
from ..models.filter_bank import DEFAULT_SIGMAS
from .global_threshold import GlobalThreshold, best_global_threshold, set_stump
from .head_pixels import SAMPLE_STRIDE, Pixels, Sample, training_pixels
from .loop import require_counts

THRESHOLDS = (0.5, 0.4, 0.6, 0.3, 0.7)  # decision thresholds the guard tries, plain vote first


@dataclass
class HeadConfig:
    """Settings of `fit_head` (recorded in the checkpoint provenance).

    The forest: ``num_trees`` trees of depth ``max_depth``, each grown on a
    ``sample_share`` of at most ``max_pixels`` corrected pixels; features: filters at
    ``sigmas`` plus the base's ``deep`` features. Context: up to ``context_windows``
    uncorrected windows weighing ``context_weight`` times the corrections (times the
    current model's agreement with them). The guard: ``folds`` block folds, forests of
    ``guard_trees`` on at most ``guard_pixels``, refusal below the current IoU minus
    ``tolerance``; the guard also tries the filters alone and keeps them when they score
    more than ``filters_margin`` above all features (None: never), and a global Otsu
    threshold of one channel, kept when it scores more than ``global_margin`` above the
    trees, in updates that learn from their own images only (None: never; see
    `global_threshold`). ``flips``: mirrored views (left-right, then up-down) of the
    network's encoder activations added for each corrected pixel, so the trees do not
    learn a pixel's class from the side its oriented filters saw it from
    (`head_pixels._mirrored_activations`; ``max_pixels`` counts them too).
    """

    num_trees: int = 48
    sample_share: float = 0.5
    max_depth: int = 14
    max_pixels: int = 40_000
    deep: str = "encoder"
    sigmas: tuple[float, ...] = DEFAULT_SIGMAS
    context_weight: float = 2.0
    context_windows: int = 4
    folds: int = 3
    guard_trees: int = 16
    guard_pixels: int = 10_000
    tolerance: float = 0.01
    filters_margin: float | None = 0.0
    global_margin: float | None = 0.02
    flips: int = 2
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.deep not in DEEP_CHOICES:
            raise SegRefineError(
                f"deep must be one of {', '.join(DEEP_CHOICES)}, got {self.deep!r}"
            )
        if not 0 <= self.context_weight <= 10:
            raise SegRefineError(f"context_weight must be in [0, 10], got {self.context_weight}")
        if self.flips not in (0, 1, 2):
            raise SegRefineError(
                f"flips must be 0 (none), 1 (left-right) or 2 (and up-down), got {self.flips}"
            )
        if not 0 < self.sample_share <= 1:
            raise SegRefineError(f"sample_share must be in (0, 1], got {self.sample_share}")
        counts = ("num_trees", "max_depth", "max_pixels", "folds", "guard_trees", "guard_pixels")
        require_counts(self, counts)


@dataclass
class HeadResult:
    """A fitted head and the guard's verdict.

    Attributes:
        model: the adapted model (base + fitted trees), also when not adopted.
        adopted: True when the guard found the head no worse than the current model.
        head_iou: the head's IoU on held-out corrected blocks (None: too few blocks).
        current_iou: the current model's IoU on the same pixels.
        reason: one line for the user.
        pixels: corrected pixels the head was fitted on.
        seconds: wall time of the fit, features and guard included.
    """

    model: AdaptedModel
    adopted: bool
    head_iou: float | None
    current_iou: float | None
    reason: str
    pixels: int
    seconds: float
    config: dict = field(default_factory=dict)


def fit_head(
    base: nn.Module,
    samples: Sequence[Sample],
    config: HeadConfig | None = None,
    *,
    judged_on: Sequence[int] | None = None,
) -> HeadResult:
    """Fit a tree head on the corrected pixels of ``samples`` over ``base``'s features.

    Args:
        base: a binary image model built by napari-segrefine (an `AdaptedModel` is
            replaced by its own base, so heads never stack).
        samples: (image, label, valid) triples; label nonzero is foreground; only
            pixels where ``valid`` is nonzero are used (None: all pixels).
        config: settings; defaults when None.
        judged_on: indices of the samples the update is for: the guard scores the head
            and the current model on their corrected pixels only, while every sample
            trains it (e.g. one image, helped by the corrections of others). None: all.

    Returns:
        The `HeadResult`; ``adopted`` tells whether to use ``model``.

    Raises:
        SegRefineError: no corrected pixels, a multi-class base, labels of one class, or
            ``judged_on`` naming a sample that is not there.
    """
    config = config or HeadConfig()
    judged_samples = set(range(len(samples)) if judged_on is None else judged_on)
    if not judged_samples <= set(range(len(samples))):
        raise SegRefineError(
            f"judged_on names samples {sorted(judged_samples)}, but there are "
            f"{len(samples)}; pass indices from 0 to {len(samples) - 1}"
        )
    started = time.perf_counter()
    head = new_head(base, config)
    device = resolve_device(config.device)
    head.to(device)
    rng = np.random.default_rng(config.seed)
    pixels, context, levels = training_pixels(head, samples, config, device, rng)
    pixels = pixels.take(_subsample(pixels.labels, config.max_pixels, rng))
    context = _weighted_context(context, pixels.labels, pixels.current, config)
    judged = np.isin(pixels.groups // SAMPLE_STRIDE, sorted(judged_samples))
    if not judged.any():
        raise SegRefineError(
            "the image this update is for has no corrected pixels yet; correct or "
            "confirm part of its mask first"
        )
    # A threshold is weighed only for an update learning from its own image(s): helped by
    # other images' corrections, the trees did better (benchmarks/results/pooled_update.md).
    if len(judged_samples) < len(samples):
        levels = None
    filters = head.bank.num_features
    choice = _choose(pixels, context, config, filters, judged & ~pixels.mirrored, levels)
    if choice.stump is not None:
        head = new_head(base, config, deep="none")
        set_stump(head, choice.stump)
    else:
        columns = slice(None, choice.features)
        parts = [(pixels.rows[:, columns], pixels.labels, np.ones(len(pixels.labels)))]
        if choice.context:
            parts.append((context[0][:, columns], *context[1:]))
        deep = config.deep if choice.features is None else "none"
        head = new_head(base, config, threshold=choice.threshold, deep=deep)
        set_trees(head, _fit(config.num_trees, config, *parts))
    adopted, reason = _verdict(choice, config.tolerance)
    head.segrefine_config.provenance.update(head_config=asdict(config), guard=reason)
    return HeadResult(
        head.cpu(),
        adopted,
        choice.head_iou,
        choice.current_iou,
        reason,
        int(np.count_nonzero(~pixels.mirrored)),
        time.perf_counter() - started,
        asdict(config),
    )


def new_head(base: nn.Module, config: HeadConfig, **settings) -> AdaptedModel:
    """An `AdaptedModel` around (a copy of) ``base`` with an empty tree ensemble.

    ``settings`` go to `AdaptedModel` (e.g. ``threshold``, or ``deep`` instead of the
    config's).
    """
    base_config = model_config(base)
    if isinstance(base, AdaptedModel):
        base, base_config = base.base, model_config(base.base)
    if base_config.input_kind != "image" or base_config.num_classes != 1:
        raise SegRefineError(
            f"a head adapts a binary image model; {base_config.arch} is not one "
            "(use a *_binary or basnet model, or fine-tune this one instead)"
        )
    saved = {**base_config.to_dict(), "provenance": {}}
    kwargs = {"base": saved, "sigmas": list(config.sigmas), "deep": config.deep} | settings
    head_config = ModelConfig("adapted_head", kwargs, base_config.normalization, "image")
    head = build_model(head_config)
    head.base.load_state_dict(base.state_dict())
    return head.eval()


def set_trees(head: AdaptedModel, forest: ExtraTreesClassifier) -> None:
    """Copy a fitted scikit-learn forest into the head's `TreeEnsemble` (and its config)."""
    trees = [estimator.tree_ for estimator in forest.estimators_]
    nodes = max(tree.node_count for tree in trees)
    depth = max(1, max(tree.max_depth for tree in trees))
    head.trees.__init__(len(trees), nodes, depth)
    foreground = list(forest.classes_).index(True)
    for index, tree in enumerate(trees):
        count = tree.node_count
        counts = tree.value[:, 0, :]
        columns = {
            "feature": np.maximum(tree.feature, 0),
            "threshold": tree.threshold,
            "left": tree.children_left,
            "right": tree.children_right,
            "value": counts[:, foreground] / counts.sum(1),
        }
        for name, column in columns.items():
            buffer = getattr(head.trees, name)
            buffer[index, :count] = torch.from_numpy(np.asarray(column)).to(buffer.dtype)
    head.segrefine_config.kwargs.update(num_trees=len(trees), num_nodes=nodes, depth=depth)


def _subsample(labels: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``limit`` indices; the rarer class kept whole up to half of them."""
    if len(labels) <= limit:
        return np.arange(len(labels))
    rare, common = sorted((np.flatnonzero(labels), np.flatnonzero(~labels)), key=len)
    rare = rng.permutation(rare)[: limit // 2]
    return np.concatenate([rare, rng.permutation(common)[: limit - len(rare)]])


def _fit(trees: int, config: HeadConfig, *parts) -> ExtraTreesClassifier:
    """A forest grown on the union of (rows, labels, weights) parts, each tree on a
    bootstrap sample of ``sample_share`` of them."""
    rows, labels, weights = (np.concatenate(column) for column in zip(*parts))
    forest = ExtraTreesClassifier(
        n_estimators=trees,
        max_depth=config.max_depth,
        min_samples_leaf=2,
        bootstrap=True,
        max_samples=config.sample_share,
        n_jobs=-1,
        random_state=config.seed,
    )
    return forest.fit(rows, labels, sample_weight=weights)


def _weighted_context(context, labels, current, config: HeadConfig):
    """Context pixels weighing ``context_weight x trust`` times the corrected ones in all.

    The trust is the current model's agreement with the corrected pixels beyond chance
    (Matthews correlation, 0 for a constant mask): where it agrees with the user, its
    answers elsewhere are worth keeping; where it is useless, they are not.
    """
    rows, answers = context
    weight = config.context_weight * max(0.0, _matthews(current, labels))
    if weight == 0 or not len(answers):
        return rows[:0], answers[:0], np.zeros(0)
    return rows, answers, np.full(len(answers), weight * len(labels) / len(answers))


@dataclass
class _Choice:
    """What the guard's cross-validation picked, and the IoUs it compared."""

    threshold: float = 0.5
    context: bool = False
    features: int | None = None  # how many leading feature columns (None: all)
    head_iou: float | None = None
    current_iou: float = 0.0
    stump: GlobalThreshold | None = None  # a global threshold instead of trees


def _choose(pixels: Pixels, context, config, filters: int, judged, levels) -> _Choice:
    """The features, decision threshold and use of context that score best on held-out
    corrected blocks (the ``judged`` pixels the folds can judge, see `_learnable_folds`),
    and the current model's IoU on the same pixels.

    Thresholds are tried plain vote first, so ties keep 0.5; context is kept only when
    it scores better; the filters alone (the first ``filters`` columns) only when they
    beat all features by more than ``config.filters_margin``; a global threshold (Otsu's
    level on ``levels``, the images' `level_sample`; None: none) only when it beats the
    trees by more than ``config.global_margin``, on the same pixels. The guard works on
    at most ``guard_pixels`` corrected pixels (and the same share of the context).
    """
    rng = np.random.default_rng(config.seed + 1)
    keep = _subsample(pixels.labels, config.guard_pixels, rng)
    count = round(len(context[1]) * len(keep) / len(pixels.labels))
    picked = rng.permutation(len(context[1]))[:count]
    sampled = tuple(part[picked] for part in context)
    pixels, judged = pixels.take(keep), judged[keep]
    rows, labels, groups = pixels.rows, pixels.labels, pixels.groups
    folds = _learnable_folds(labels, groups, config.folds)
    tested = np.zeros(len(labels), bool)
    for _, test in folds:
        tested[test] = True
    verdict = bool((judged & tested).any())
    if verdict:  # else no verdict: the current IoU on all corrections
        judged &= tested
    plain = _Choice(current_iou=iou(pixels.current[judged][None], labels[judged][None]))
    if not verdict:
        return plain
    best = _best_of(rows, labels, folds, sampled, config, plain, judged)
    if config.filters_margin is not None and rows.shape[1] > filters:
        narrow = (sampled[0][:, :filters], *sampled[1:])
        alone = _best_of(rows[:, :filters], labels, folds, narrow, config, plain, judged)
        alone.features = filters
        best = alone if alone.head_iou > best.head_iou + config.filters_margin else best
    if config.global_margin is None or levels is None:
        return best
    stump = best_global_threshold(levels, rows[judged], labels[judged], len(config.sigmas))
    if stump is None or stump.score <= best.head_iou + config.global_margin:
        return best
    return _Choice(stump=stump, head_iou=stump.score, current_iou=plain.current_iou)


def _learnable_folds(labels: np.ndarray, groups: np.ndarray, folds: int) -> list:
    """The (train, test) index pairs of ``folds`` block folds whose training pixels hold
    both classes (none when there are fewer than two blocks).

    A fold that trains on one class can only answer that class: its blocks say nothing
    of the trees, and scoring them (as IoU 0 when they hold the other class) once made
    a global threshold, scored on every pixel, look better than trees that were not.
    """
    folds = min(folds, len(np.unique(groups)))
    if folds < 2:
        return []
    split = GroupKFold(folds).split(labels, labels, groups)
    return [(train, test) for train, test in split if len(np.unique(labels[train])) == 2]


def _best_of(rows, labels, folds, context, config, plain: _Choice, judged) -> _Choice:
    """The threshold and use of context whose out-of-fold IoU on ``judged`` is highest."""
    best = plain
    options = [tuple(part[:0] for part in context)]  # without context
    if len(context[1]):
        options.append(context)
    for extra in options:
        prob = _out_of_fold(rows, labels, folds, extra, config)[judged]
        for threshold in THRESHOLDS:
            score = iou((prob > threshold)[None], labels[judged][None])
            if best.head_iou is None or score > best.head_iou:
                best = _Choice(threshold, bool(len(extra[1])), None, score, plain.current_iou)
    return best


def _matthews(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = float(np.sum(pred & truth))
    tn = float(np.sum(~pred & ~truth))
    fp = float(np.sum(pred & ~truth))
    fn = float(np.sum(~pred & truth))
    scale = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / scale if scale else 0.0


def _out_of_fold(rows, labels, folds, context, config) -> np.ndarray:
    """Foreground probability of each corrected pixel of the test blocks of ``folds``
    (`_learnable_folds`) from a forest that did not see its block; 0 elsewhere. Context
    pixels always train, never test."""
    prob = np.zeros(len(labels))
    for train, test in folds:
        forest = _fit(
            config.guard_trees, config, (rows[train], labels[train], np.ones(len(train))), context
        )
        prob[test] = forest.predict_proba(rows[test])[:, list(forest.classes_).index(True)]
    return prob


def _verdict(choice: _Choice, tolerance: float) -> tuple[bool, str]:
    picked = f"threshold {choice.threshold:.1f}"
    if choice.stump is not None:
        picked = choice.stump.describe()
    elif choice.features is not None:
        picked += "; filters only: the network's features did worse"
    if choice.head_iou is None:
        return True, (
            f"adopted (too few corrected blocks of each class to hold any out yet; {picked})"
        )
    if choice.head_iou < choice.current_iou - tolerance:
        return False, (
            f"not adopted: on corrected blocks it had not seen, the head scored IoU "
            f"{choice.head_iou:.3f} against {choice.current_iou:.3f} for the current model"
        )
    where = "your corrections" if choice.stump else "corrected blocks it had not seen"
    return True, (
        f"adopted: IoU {choice.head_iou:.3f} on {where}, against {choice.current_iou:.3f} "
        f"for the current model ({picked}); expect less away from your corrections"
    )
