"""Human-in-the-loop benchmark: does correcting a few patches per round teach the model?

A simulated user works on a pool of synthetic images. Each round they correct K patches
(64 px) per image, chosen either by the ranking of `napari_segrefine.ranking` (what the
"next patch to check" button offers) or at random, the model is fine-tuned on all
corrected pixels so far, and the IoU on held-out images of the same domain is recorded.

Baseline on the SAME corrected pixels (those of the ranked run): a random-forest pixel
classifier on multiscale filter features (Gaussian, gradients, texture), what ilastik
and napari-apoc offer users today.

Two starting points: the shipped demo weights (trained on synthetic data of all
domains) and random initialisation (a model that knows nothing, like the forest).

    python benchmarks/hitl.py --domain polyps --rounds 4 > benchmarks/results/hitl_polyps.md
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from napari_segrefine import create_model, predict
from napari_segrefine.data import make_dataset
from napari_segrefine.models.weights import shipped_weights_path
from napari_segrefine.ranking import PatchScore, rank_patches
from napari_segrefine.train import FinetuneConfig, run_finetune

PATCH = 64


def pooled_iou(masks, labels) -> float:
    pred, gt = np.stack(masks) > 0, np.stack(labels) > 0
    union = np.logical_or(pred, gt).sum()
    return float(np.logical_and(pred, gt).sum() / union) if union else 1.0


def model_iou(model, samples, device) -> float:
    return pooled_iou(
        [predict(model, s.image, device=device).mask for s in samples], [s.label for s in samples]
    )


def random_patches(shape, valid, k, rng) -> list[PatchScore]:
    rows, cols = -(-shape[0] // PATCH), -(-shape[1] // PATCH)
    free = [
        (r, c)
        for r in range(rows)
        for c in range(cols)
        if valid[r * PATCH : (r + 1) * PATCH, c * PATCH : (c + 1) * PATCH].mean() < 0.9
    ]
    picks = rng.permutation(len(free))[:k]
    return [
        PatchScore(free[i][0] * PATCH, free[i][1] * PATCH, PATCH, PATCH, 0, 0, 0, 0) for i in picks
    ]


def next_patches(model, sample, valid, k, strategy, rng, device) -> list[PatchScore]:
    if strategy == "random":
        return random_patches(sample.label.shape, valid, k, rng)
    pred = predict(model, sample.image, device=device)
    return rank_patches(pred.probabilities, PATCH, boundary=pred.boundary, valid=valid, top_k=k)


def features(image: np.ndarray) -> np.ndarray:
    from skimage.feature import multiscale_basic_features

    return multiscale_basic_features(image, channel_axis=-1, sigma_min=1, sigma_max=16)


def forest_iou(pool, valids, held_out, seed) -> float:
    """Random forest trained on the corrected pixels only (at most 30k of them)."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for sample, valid in zip(pool, valids):
        feats = features(sample.image)[valid]
        xs.append(feats)
        ys.append(sample.label[valid] > 0)
    x, y = np.concatenate(xs), np.concatenate(ys)
    keep = rng.permutation(len(x))[:30_000]
    if len(np.unique(y[keep])) < 2:
        return float("nan")
    forest = RandomForestClassifier(100, max_depth=12, n_jobs=-1, random_state=seed)
    forest.fit(x[keep], y[keep])
    masks = [
        forest.predict(features(s.image).reshape(-1, x.shape[1])).reshape(s.label.shape)
        for s in held_out
    ]
    return pooled_iou(masks, [s.label for s in held_out])


def run(start: str, strategy: str, pool, held_out, args) -> tuple[list[float], list]:
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    pretrained = start == "shipped" and shipped_weights_path("basnet_lite") is not None
    if start == "shipped" and not pretrained:
        raise SystemExit("no shipped basnet_lite weights: run scripts/train_demo_weights.py")
    model = create_model("basnet_lite", pretrained=pretrained)
    valids = [np.zeros(s.label.shape, bool) for s in pool]
    scores, history = [model_iou(model, held_out, args.device)], []
    for round_ in range(args.rounds):
        for sample, valid in zip(pool, valids):
            for patch in next_patches(model, sample, valid, args.k, strategy, rng, args.device):
                valid[patch.slices] = True
        samples = [(s.image, s.label, v) for s, v in zip(pool, valids)]
        config = FinetuneConfig(
            steps=args.steps,
            lr=args.lr,
            freeze_encoder=args.freeze_encoder,
            # An untrained network's BatchNorm statistics must be learned, not kept.
            freeze_batchnorm=start == "shipped",
            batch_size=4,
            patch_size=128,
            val_fraction=0.0,
            seed=args.seed + round_,
            device=args.device,
        )
        run_finetune(model, samples, config)
        scores.append(model_iou(model, held_out, args.device))
        history.append([v.copy() for v in valids])
    return scores, history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="polyps")
    parser.add_argument("--pool", type=int, default=3, help="images the user corrects")
    parser.add_argument("--held-out", type=int, default=6)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--k", type=int, default=2, help="patches corrected per image per round")
    parser.add_argument("--steps", type=int, default=40, help="fine-tune steps per round")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--starts", default="shipped,scratch")
    parser.add_argument("--freeze-encoder", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    pool = make_dataset(args.domain, args.pool, (args.size, args.size), seed=1000 + args.seed)
    held_out = make_dataset(args.domain, args.held_out, (args.size, args.size), seed=5000)
    rows = []
    for start in args.starts.split(","):
        ranked, ranked_history = run(start, "ranked", pool, held_out, args)
        randomly, _ = run(start, "random", pool, held_out, args)
        rows.append((start, "ranked", ranked))
        rows.append((start, "random", randomly))
    forest = [float("nan")] + [
        forest_iou(pool, valids, held_out, args.seed) for valids in ranked_history
    ]
    rows.append(("-", "random forest (ranked run's pixels)", forest))
    pixels = [0] + [int(sum(v.sum() for v in valids)) for valids in ranked_history]
    device = (
        torch.cuda.get_device_name()
        if torch.cuda.is_available()
        else f"{platform.machine()} CPU, {os.cpu_count()} cores"
    )
    print(f"# HITL benchmark: {args.domain}, held-out IoU per round\n")
    print(
        f"{args.pool} pool images and {args.held_out} held-out images of {args.size} px; "
        f"each round corrects {args.k} patches of {PATCH} px per pool image, then "
        f"{args.steps} fine-tune steps (basnet_lite, lr {args.lr}, encoder "
        f"{'frozen' if args.freeze_encoder else 'trained'}). Machine: "
        f"{platform.node()} ({device}, {torch.get_num_threads()} threads), torch "
        f"{torch.__version__}; {time.perf_counter() - started:.0f} s.\n"
    )
    header = " | ".join(f"round {i}" for i in range(args.rounds + 1))
    print(f"| start | patches | {header} |")
    print("|---|---|" + "---|" * (args.rounds + 1))
    print("| | corrected pixels | " + " | ".join(str(p) for p in pixels) + " |")
    for start, strategy, scores in rows:
        print(f"| {start} | {strategy} | " + " | ".join(f"{s:.3f}" for s in scores) + " |")


if __name__ == "__main__":
    main()
