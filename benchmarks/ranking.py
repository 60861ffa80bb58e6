"""Does the review queue beat random patches? Held-out IoU after correcting k patches.

For each image, a simulated user corrects k patches of 64 px in the LEFT half, chosen by
a strategy, and a pixel classifier learns from exactly those pixels; IoU is pooled over
the RIGHT halves, which nobody corrected (the protocol of `hitl.py`). The learner is a
random forest on scikit-image's multiscale filter features plus the base model's
probability (the features the project's head uses, without its deep features, which
keeps a run within minutes). Strategies:

- ``random``: left-half patches in a seeded random order;
- ``model-only``: `rank_patches` without the image (uncertainty, boundary, spread);
- ``ranked``: `rank_patches` with the image (adds contrast);
- ``re-ranked``: what the tool's review queue does while the user updates as they
  correct: `rank_patches` without the image, two patches at a time, and after each two
  the learner is refitted and the queue ranked again on its probability, skipping the
  patches already corrected;
- ``oracle``: patches where the model is wrong first (needs the truth: a reference).

Cases: real sets from `real_data.py` split as in `hitl.py` (``tuning``: the sets the
ranking was tuned on; ``held-out``: never looked at while tuning) and synthetic domains
(``--synthetic``: pairs of images side by side, so the user corrects one image and
IoU is measured on another; tuning images use data seed 100, held-out ones seed 200).

    python benchmarks/ranking.py --split tuning
    python benchmarks/ranking.py --split held-out > benchmarks/results/ranking.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from skimage.feature import multiscale_basic_features
from sklearn.ensemble import RandomForestClassifier

from napari_segrefine import create_model, predict
from napari_segrefine.data import make_dataset
from napari_segrefine.ranking import rank_patches

sys.path.insert(0, str(Path(__file__).parent))
from hitl import Pooled, int_list, load_cases  # noqa: E402
from machine import describe  # noqa: E402

PATCH = 64
STRATEGIES = ("random", "model-only", "ranked", "re-ranked", "oracle")
BATCH = 2  # patches corrected between two updates in ``re-ranked``
SYNTHETIC_SEEDS = {"tuning": 100, "held-out": 200}


def synthetic_cases(domains: list[str], split: str, count: int, size: int) -> dict:
    """``count`` pairs per synthetic domain, each two images side by side (the user
    corrects the left one, IoU is measured on the right one), from the split's data seed.
    """
    cases = {}
    for domain in domains:
        samples = make_dataset(domain, 2 * count, (size, size), seed=SYNTHETIC_SEEDS[split])
        pairs = zip(samples[::2], samples[1::2])
        cases[f"synthetic_{domain}"] = [
            (np.hstack([a.image, b.image]), np.hstack([a.label, b.label]) > 0) for a, b in pairs
        ]
    return cases


def left_cells(shape: tuple[int, int]) -> list[tuple[int, int]]:
    """(row, col) of the whole 64 px patches in the left half."""
    return [(r, c) for r in range(shape[0] // PATCH) for c in range((shape[1] // 2) // PATCH)]


def pick(strategy: str, k: int, image, prediction, label, seed: int) -> list[tuple[int, int]]:
    """The k left-half patches ``strategy`` corrects first."""
    cells = left_cells(label.shape)
    rows, cols = max(r for r, _ in cells) + 1, max(c for _, c in cells) + 1
    window = _left_window(label.shape)
    if strategy == "random":
        order = np.random.default_rng(seed).permutation(len(cells))
        return [cells[i] for i in order[:k]]
    if strategy == "oracle":
        wrong = prediction.mask[window].astype(bool) != label[window]
        errors = wrong.reshape(rows, PATCH, cols, PATCH).mean(axis=(1, 3))
        return [divmod(int(i), cols) for i in np.argsort(-errors, axis=None, kind="stable")[:k]]
    ranked = rank_patches(
        prediction.probabilities[window],
        PATCH,
        boundary=prediction.boundary[window],
        threshold=prediction.threshold,
        image=image[window] if strategy == "ranked" else None,
        top_k=k,
    )
    return [(p.top // PATCH, p.left // PATCH) for p in ranked]


def _left_window(shape: tuple[int, int]) -> tuple[slice, slice]:
    """The left half, cut to whole patches."""
    return slice(0, shape[0] // PATCH * PATCH), slice(0, (shape[1] // 2) // PATCH * PATCH)


def forest_prob(features: np.ndarray, label: np.ndarray, valid: np.ndarray, seed: int):
    """P(foreground) of a forest fitted to the valid pixels (one class only: that class)."""
    y = label[valid]
    if np.unique(y).size < 2:
        return np.full(label.shape, float(y[0]))
    x = features[valid]
    keep = np.random.default_rng(seed).permutation(len(y))[:20_000]
    model = RandomForestClassifier(32, max_depth=12, n_jobs=2, random_state=seed)
    model.fit(x[keep], y[keep])
    flat = features.reshape(-1, features.shape[-1])
    return model.predict_proba(flat)[:, list(model.classes_).index(True)].reshape(label.shape)


def reranked(k: int, prediction, features, label, seed: int) -> np.ndarray:
    """The valid mask after ``k`` patches picked ``BATCH`` at a time, the learner refitted
    and the queue re-ranked on its probability after each batch."""
    valid = np.zeros(label.shape, bool)
    window = _left_window(label.shape)
    prob, boundary, threshold = prediction.probabilities, prediction.boundary, prediction.threshold
    for done in range(0, k, BATCH):
        ranked = rank_patches(
            prob[window],
            PATCH,
            boundary=None if boundary is None else boundary[window],
            valid=valid[window],
            threshold=threshold,
            top_k=min(BATCH, k - done),
        )
        for patch in ranked:
            valid[patch.top : patch.top + PATCH, patch.left : patch.left + PATCH] = True
        prob, boundary, threshold = forest_prob(features, label, valid, seed), None, 0.5
    return valid


def valid_of(cells: list[tuple[int, int]], shape: tuple[int, int]) -> np.ndarray:
    """The mask of the (row, col) patches."""
    valid = np.zeros(shape, bool)
    for r, c in cells:
        valid[r * PATCH : (r + 1) * PATCH, c * PATCH : (c + 1) * PATCH] = True
    return valid


def run(cases: dict, ks: list[int], seeds: list[int], model) -> Pooled:
    pooled = Pooled()
    for case, pairs in cases.items():
        for index, (image, label) in enumerate(pairs):
            prediction = predict(model, image)
            held = np.zeros(label.shape, bool)
            held[:, label.shape[1] // 2 :] = True
            channels = image if image.ndim == 3 else image[..., None]
            filters = multiscale_basic_features(
                channels.astype(np.float32), channel_axis=-1, sigma_min=1, sigma_max=16
            )
            features = np.concatenate([filters, prediction.probabilities[..., None]], axis=-1)
            for seed in seeds:
                pooled.add((case, 0, seed, "zero-shot"), prediction.mask[held] > 0, label[held])
                for k in ks:
                    for strategy in STRATEGIES:
                        if strategy == "re-ranked":
                            valid = reranked(k, prediction, features, label, seed)
                        else:
                            cells = pick(strategy, k, image, prediction, label, seed)
                            valid = valid_of(cells, label.shape)
                        mask = forest_prob(features, label, valid, seed) > 0.5
                        pooled.add((case, k, seed, strategy), mask[held], label[held])
            print(f"# {case}[{index}] done", file=sys.stderr, flush=True)
    return pooled


def report(cases: dict, pooled: Pooled, args, elapsed: float) -> None:
    print(f"# Review queue against random patches ({args.split} split)\n")
    print(
        f"Base model `{args.model}` (shipped weights). k patches of {PATCH} px corrected in "
        "the left half of each image, a random forest (32 trees, depth 12) on filter "
        "features plus the model's probability learns from them, IoU pooled over the "
        f"right halves per case, mean over seeds {','.join(map(str, args.seeds))}. "
        f"Machine: {describe()}, shared with other jobs; {elapsed:.0f} s in all.\n"
    )
    header = " | ".join(f"{s} k={k}" for k in args.ks for s in STRATEGIES)
    print(f"| case | zero-shot | {header} |")
    print("|---|---|" + "---|" * (len(args.ks) * len(STRATEGIES)))
    means = {}
    for case in cases:
        cells = [pooled.mean(case, 0, "zero-shot", args.seeds)]
        for k in args.ks:
            for strategy in STRATEGIES:
                means[(case, k, strategy)] = pooled.mean(case, k, strategy, args.seeds)
                cells.append(means[(case, k, strategy)])
        print(f"| {case} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")
    print("\n| mean over cases | " + " | ".join(f"k={k}" for k in args.ks) + " |")
    print("|---|" + "---|" * len(args.ks))
    for strategy in STRATEGIES[1:]:
        gains = [
            np.mean([means[(c, k, strategy)] - means[(c, k, "random")] for c in cases])
            for k in args.ks
        ]
        print(f"| {strategy} minus random | " + " | ".join(f"{g:+.3f}" for g in gains) + " |")


def add_case_options(parser: argparse.ArgumentParser, ks: str) -> None:
    """The options this script and `queue_loop.py` share: real image size, synthetic
    cases, budgets, seeds and the base model."""
    parser.add_argument("--crop", type=int, default=512, help="real image side at most")
    parser.add_argument("--synthetic", default="roads,polyps,salient", help="domains or ''")
    parser.add_argument("--synthetic-count", type=int, default=2)
    parser.add_argument("--ks", type=int_list, default=ks)
    parser.add_argument("--seeds", type=int_list, default="0,1,2")
    parser.add_argument("--model", default="basnet_lite")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="held-out", choices=("tuning", "held-out"))
    parser.add_argument("--per-set", type=int, default=2, help="real images per set at most")
    add_case_options(parser, ks="4,8")
    args = parser.parse_args()
    started = time.perf_counter()
    cases = load_cases(args.split, args.per_set, args.crop)
    domains = [d for d in args.synthetic.split(",") if d]
    cases.update(synthetic_cases(domains, args.split, args.synthetic_count, 384))
    pooled = run(cases, args.ks, args.seeds, create_model(args.model, pretrained=True))
    report(cases, pooled, args, time.perf_counter() - started)


if __name__ == "__main__":
    main()
