"""A second image with few corrections: does learning from the first image's too help?

For each case, two images of one set: the user has corrected k_A = 8 patches of 64 px of
image A (wrong ones first, seeded) and k_B = 1, 2 or 4 in the LEFT half of image B; IoU is
pooled over B's RIGHT half, which nobody corrected. Methods, each shown as the tool shows
it (the starting model's mask when the guard refuses a head):

- ``own``: the head fitted to B's corrections only (the update before this round);
- ``pooled``: the head fitted to A's and B's corrections, its guard judging B's only
  (`fit_head(..., judged_on=...)`, the Correct dock's "Learn from all images");
- ``forest own`` / ``forest pooled``: the classical baseline (`hitl.forest`) on the same
  pixels (ilastik also trains one classifier on every image's labels).

Cases: ``tuning`` (synthetic data seed 100, the bacteria time lapse, VOC photos) and
``report`` (synthetic data seed 300 and FINAL2's multi-image sets, never tuned on).

    python benchmarks/pooled_update.py --split report > benchmarks/results/pooled_update.md
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
from napari_segrefine.errors import SegRefineError
from napari_segrefine.train.head import HeadConfig, fit_head

sys.path.insert(0, str(Path(__file__).parent))
from hitl import PATCH, Pooled, int_list, load_cases, print_table, user_patches  # noqa: E402
from machine import describe  # noqa: E402

SPLITS = {
    "tuning": (100, ("bacteria_phase", "voc_objects")),
    "report": (300, ("macrophage_cells", "twophoton_somata", "hazelnut_defects")),
}
DOMAINS = ("roads", "polyps", "salient")
K_FIRST = 8
METHODS = ("zero-shot", "own", "pooled", "forest own", "forest pooled")


def image_pairs(split: str) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """case -> [(image A, label A), (image B, label B)]."""
    seed, real = SPLITS[split]
    cases = {}
    for domain in DOMAINS:
        samples = make_dataset(domain, 2, (384, 384), seed=seed)
        cases[f"synthetic_{domain}"] = [(s.image, s.label > 0) for s in samples]
    for name in real:
        cases[name] = [(image, mask > 0) for image, mask in load_cases(name, 2, 512)[name][:2]]
    return cases


def first_image_valid(zero: np.ndarray, label: np.ndarray, seed: int) -> np.ndarray:
    """K_FIRST wrong-first patches anywhere in image A."""
    rows, cols = label.shape[0] // PATCH, label.shape[1] // PATCH
    cells = [(slice(r * PATCH, (r + 1) * PATCH), slice(c * PATCH, (c + 1) * PATCH))
             for r in range(rows) for c in range(cols)]  # fmt: skip
    wrong = [cell for cell in cells if (zero[cell] != label[cell]).mean() > 0.01]
    rest = [cell for cell in cells if cell not in wrong]
    rng = np.random.default_rng(seed + 50)
    order = [wrong[i] for i in rng.permutation(len(wrong))] + [
        rest[i] for i in rng.permutation(len(rest))
    ]
    valid = np.zeros(label.shape, bool)
    for cell in order[:K_FIRST]:
        valid[cell] = True
    return valid


def features_of(image: np.ndarray) -> np.ndarray:
    channels = image if image.ndim == 3 else image[..., None]
    return multiscale_basic_features(channels, channel_axis=-1, sigma_min=1, sigma_max=16)


def forest_on(rows: np.ndarray, labels: np.ndarray, features: np.ndarray, seed: int):
    """`hitl.forest`'s classifier fitted to (rows, labels), predicting every pixel of
    ``features`` (H x W x F)."""
    keep = np.random.default_rng(seed).permutation(len(labels))[:30_000]
    if len(np.unique(labels[keep])) < 2:
        return np.full(features.shape[:2], bool(labels[0]))
    model = RandomForestClassifier(100, max_depth=12, n_jobs=-1, random_state=seed)
    model.fit(rows[keep], labels[keep])
    flat = features.reshape(-1, features.shape[-1])
    return model.predict(flat).reshape(features.shape[:2]).astype(bool)


def shown_head(base, samples, judged_on, zero, image, seed) -> np.ndarray:
    """The head's mask of ``image`` when its guard adopts it, else ``zero``."""
    try:
        result = fit_head(base, samples, HeadConfig(seed=seed), judged_on=judged_on)
    except SegRefineError:  # one class corrected: nothing to fit yet
        return zero
    return predict(result.model, image).mask.astype(bool) if result.adopted else zero


def run(cases: dict, ks: list[int], seeds: list[int], base) -> Pooled:
    pooled = Pooled()
    for case, ((image_a, label_a), (image_b, label_b)) in cases.items():
        zero_a, zero_b = (predict(base, image).mask.astype(bool) for image in (image_a, image_b))
        feat_a, feat_b = features_of(image_a), features_of(image_b)
        held = np.zeros(label_b.shape, bool)
        held[:, label_b.shape[1] // 2 :] = True
        for seed in seeds:
            valid_a = first_image_valid(zero_a, label_a, seed)
            order = user_patches(zero_b, label_b, seed)
            for k in ks:
                valid_b = np.zeros(label_b.shape, bool)
                for cell in order[:k]:
                    valid_b[cell] = True
                first, second = (image_a, label_a, valid_a), (image_b, label_b, valid_b)
                rows = np.concatenate([feat_a[valid_a], feat_b[valid_b]])
                labels = np.concatenate([label_a[valid_a], label_b[valid_b]])
                masks = {
                    "zero-shot": zero_b,
                    "own": shown_head(base, [second], None, zero_b, image_b, seed),
                    "pooled": shown_head(base, [first, second], [1], zero_b, image_b, seed),
                    "forest own": forest_on(feat_b[valid_b], label_b[valid_b], feat_b, seed),
                    "forest pooled": forest_on(rows, labels, feat_b, seed),
                }
                for method, mask in masks.items():
                    pooled.add((case, k, seed, method), mask[held], label_b[held])
        print(f"# {case} done", file=sys.stderr, flush=True)
    return pooled


def report(cases: dict, pooled: Pooled, args, elapsed: float) -> None:
    seed, _ = SPLITS[args.split]
    print(f"# A second image: its own corrections, or every image's ({args.split} split)\n")
    print(
        f"Base `basnet_lite` (shipped weights); image A: {K_FIRST} corrected patches of "
        f"{PATCH} px; image B: k patches in its left half; IoU pooled over B's right half, "
        f"mean over seeds {','.join(map(str, args.seeds))}; synthetic data seed {seed}. "
        f"Machine: {describe()}; {elapsed:.0f} s.\n"
    )
    columns = [(k, m) for k in args.ks for m in METHODS]
    rows = {case: [pooled.mean(case, k, m, args.seeds) for k, m in columns] for case in cases}
    print_table("case", [f"{m} k={k}" for k, m in columns], rows)
    means = {
        method: [np.mean([pooled.mean(c, k, method, args.seeds) for c in cases]) for k in args.ks]
        for method in METHODS
    }
    print()
    print_table("mean over cases", [f"k={k}" for k in args.ks], means)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="report", choices=tuple(SPLITS))
    parser.add_argument("--ks", type=int_list, default="1,2,4")
    parser.add_argument("--seeds", type=int_list, default="0,1,2")
    args = parser.parse_args()
    started = time.perf_counter()
    cases = image_pairs(args.split)
    pooled = run(cases, args.ks, args.seeds, create_model("basnet_lite", pretrained=True))
    report(cases, pooled, args, time.perf_counter() - started)


if __name__ == "__main__":
    main()
