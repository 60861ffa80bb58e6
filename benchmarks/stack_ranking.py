"""Reviewing a stack: does ranking every slice beat ranking one slice, or random patches?

Each case is a stack of images. A simulated user corrects k patches of 64 px in the LEFT
halves of the slices, in the order a strategy offers them, and a random forest (the
learner of `ranking.py`: filter features plus the model's probability) learns from
exactly those pixels of the whole stack; IoU is pooled over the RIGHT halves of all
slices. Strategies:

- ``random``: patches drawn at random from all slices' left halves;
- ``one slice``: the review queue of the first slice only (the Correct dock before this
  round ranked the slice on display, and a user who stays on it gets this);
- ``whole stack``: `CorrectionSession.next_patch` on the stack, which ranks every slice
  and offers the best patch of any slice, a slice's score discounted for the patches
  already checked in it (the dock's queue now).

The two queues run the tool's own session on the stack of left halves, correcting each
offered patch with the truth. Cases: the synthetic domains (4 images of 256 px per
stack) and real multi-image sets from `real_data.py`. The discount was chosen on data
seed 100 with ``bacteria_phase``; the report uses data seed 300 and sets not tuned on:

    python benchmarks/stack_ranking.py --data-seed 100 --real bacteria_phase   # tuning
    python benchmarks/stack_ranking.py > benchmarks/results/stack_ranking.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from skimage.feature import multiscale_basic_features

from napari_segrefine import create_model, predict
from napari_segrefine.correction import CorrectionSession
from napari_segrefine.data import make_dataset
from napari_segrefine.engine import Prediction

sys.path.insert(0, str(Path(__file__).parent))
from hitl import Pooled, int_list, load_cases, print_table  # noqa: E402
from machine import describe  # noqa: E402
from ranking import PATCH, forest_prob  # noqa: E402

STRATEGIES = ("random", "one slice", "whole stack")


def stack_cases(
    domains: list[str], real: list[str], count: int, data_seed: int
) -> dict[str, tuple]:
    """name -> (images N x H x W [x C], bool labels N x H x W)."""
    cases = {}
    for domain in domains:
        samples = make_dataset(domain, count, (256, 256), seed=data_seed)
        cases[f"synthetic_{domain}"] = (
            np.stack([s.image for s in samples]),
            np.stack([s.label > 0 for s in samples]),
        )
    for name in real:
        pairs = load_cases(name, count, 512)[name]
        shape = min(p[1].shape for p in pairs)
        cut = (slice(0, shape[0]), slice(0, shape[1]))
        cases[name] = (
            np.stack([i[cut] for i, _ in pairs]),
            np.stack([m[cut] > 0 for _, m in pairs]),
        )
    return cases


def queue_picks(strategy: str, k: int, images, predictions, labels, tmp: str) -> np.ndarray:
    """The valid mask (N x H x W) after a user corrects the first ``k`` offered patches."""
    half = (labels.shape[2] // 2) // PATCH * PATCH
    left = (slice(None), slice(None), slice(0, half))
    prediction = Prediction(
        *(np.stack([getattr(p, name) for p in predictions])[left]
          for name in ("probabilities", "mask", "boundary")),
        predictions[0].threshold,
    )  # fmt: skip
    session = CorrectionSession(
        images[left], name="stack", rgb=images.ndim == 4, autosave_root=tmp
    )
    session.set_prediction(prediction)
    for _ in range(k):
        patch = session.next_patch(PATCH, None if strategy == "whole stack" else 0)
        if patch is None:
            break
        index = session.current[0]
        key = (slice(index, index + 1), *patch.slices)
        session.paint(key, labels[left][key])
    valid = np.zeros(labels.shape, bool)
    valid[left] = session.valid > 0
    return valid


def random_picks(k: int, labels: np.ndarray, seed: int) -> np.ndarray:
    slices, rows, cols = labels.shape[0], labels.shape[1] // PATCH, (labels.shape[2] // 2) // PATCH
    cells = np.random.default_rng(seed).permutation(slices * rows * cols)[:k]
    valid = np.zeros(labels.shape, bool)
    for cell in cells:
        index, rest = divmod(int(cell), rows * cols)
        r, c = divmod(rest, cols)
        valid[index, r * PATCH : (r + 1) * PATCH, c * PATCH : (c + 1) * PATCH] = True
    return valid


def run(cases: dict, ks: list[int], seeds: list[int], model) -> Pooled:
    pooled = Pooled()
    for case, (images, labels) in cases.items():
        predictions = [predict(model, image) for image in images]
        features = np.stack([
            np.concatenate([
                multiscale_basic_features(
                    (image if image.ndim == 3 else image[..., None]).astype(np.float32),
                    channel_axis=-1, sigma_min=1, sigma_max=16,
                ),
                p.probabilities[..., None],
            ], axis=-1)
            for image, p in zip(images, predictions)
        ])  # fmt: skip
        held = np.zeros(labels.shape, bool)
        held[:, :, labels.shape[2] // 2 :] = True
        with tempfile.TemporaryDirectory() as tmp:
            queues = {(s, k): queue_picks(s, k, images, predictions, labels, tmp)
                      for s in STRATEGIES[1:] for k in ks}  # fmt: skip
        for seed in seeds:
            for k in ks:
                for strategy in STRATEGIES:
                    valid = (
                        random_picks(k, labels, seed)
                        if strategy == "random"
                        else queues[(strategy, k)]
                    )
                    mask = forest_prob(features, labels, valid, seed) > 0.5
                    pooled.add((case, k, seed, strategy), mask[held], labels[held])
        print(f"# {case} done", file=sys.stderr, flush=True)
    return pooled


def report(cases: dict, pooled: Pooled, args, elapsed: float) -> None:
    print("# Reviewing a stack: every slice ranked, one slice ranked, random patches\n")
    print(
        f"Base model `{args.model}` (shipped weights); k patches of {PATCH} px corrected in the "
        "left halves of a stack's slices, a random forest (32 trees, depth 12) on filter "
        "features plus the model's probability learns from them, IoU pooled over the right "
        f"halves of all slices, synthetic data seed {args.data_seed}, mean over seeds "
        f"{','.join(map(str, args.seeds))} (the seed "
        f"draws the random patches and the forest). Machine: {describe()}; {elapsed:.0f} s.\n"
    )
    columns = [(k, s) for k in args.ks for s in STRATEGIES]
    rows = {f"{case} ({len(images)})": [pooled.mean(case, k, s, args.seeds) for k, s in columns]
            for case, (images, _) in cases.items()}  # fmt: skip
    print_table("case (slices)", [f"{s} k={k}" for k, s in columns], rows)
    gains = {
        strategy: [np.mean([pooled.mean(c, k, strategy, args.seeds)
                            - pooled.mean(c, k, "random", args.seeds) for c in cases])
                   for k in args.ks]
        for strategy in STRATEGIES[1:]
    }  # fmt: skip
    print()
    print_table("mean over cases, minus random", [f"k={k}" for k in args.ks], gains, "+.3f")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", default="roads,polyps,salient", help="domains or ''")
    parser.add_argument("--real", default="macrophage_cells,hazelnut_defects", help="sets or ''")
    parser.add_argument("--data-seed", type=int, default=300, help="synthetic stacks' seed")
    parser.add_argument("--count", type=int, default=4, help="images per stack")
    parser.add_argument("--ks", type=int_list, default="4,8")
    parser.add_argument("--seeds", type=int_list, default="0,1,2")
    parser.add_argument("--model", default="basnet_lite")
    args = parser.parse_args()
    started = time.perf_counter()
    domains = [d for d in args.synthetic.split(",") if d]
    real = [r for r in args.real.split(",") if r]
    cases = stack_cases(domains, real, args.count, args.data_seed)
    pooled = run(cases, args.ks, args.seeds, create_model(args.model, pretrained=True))
    report(cases, pooled, args, time.perf_counter() - started)


if __name__ == "__main__":
    main()
