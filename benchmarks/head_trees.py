"""Which trees for the head: random forest or extremely randomized trees, on which features.

On the tuning sets of `hitl.py` (one 512 px crop each), the head's features of the whole
image are computed once (`AdaptedModel.pixel_features`, the encoder feature set); for
seeds 0, 1 and k = 2, 4, 8, 16 corrected 64 px patches (the simulated user of `hitl.py`),
four classifiers of 48 trees (depth 14, leaves of 2, bootstrap of half the pixels) are
grown on the corrected pixels: a random forest and extremely randomized trees, each on
all features and on the filters only. Cells: IoU pooled over the uncorrected right half
(mean fit time over seeds).

    python benchmarks/head_trees.py > benchmarks/results/head_trees_tuning.md
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

from napari_segrefine import create_model, predict
from napari_segrefine.engine.preprocess import match_channels, pad_to_multiple, to_channels_first
from napari_segrefine.models.normalization import normalize
from napari_segrefine.train.head import HeadConfig, new_head

sys.path.insert(0, str(Path(__file__).parent))
from hitl import load_cases, user_patches  # noqa: E402

KS, SEEDS = (2, 4, 8, 16), (0, 1)
VARIANTS = {
    "forest, all": (RandomForestClassifier, "all"),
    "forest, filters": (RandomForestClassifier, "filters"),
    "extra trees, all": (ExtraTreesClassifier, "all"),
    "extra trees, filters": (ExtraTreesClassifier, "filters"),
}


def image_features(head, image: np.ndarray) -> np.ndarray:
    """H x W x F features of the whole image, as the head computes them."""
    stack, _ = to_channels_first(np.asarray(image), None, None)
    x = normalize(match_channels(stack[0], 3), head.segrefine_config.normalization)
    with torch.no_grad():
        features = head.pixel_features(torch.from_numpy(pad_to_multiple(x))[None])
    return features[0, :, : x.shape[1], : x.shape[2]].permute(1, 2, 0).numpy()


def _cell(sums: np.ndarray | None) -> str:
    if sums is None:
        return "-"
    return f"{sums[0] / max(sums[1], 1):.3f} ({sums[2] / len(SEEDS):.1f} s)"


def main() -> None:
    base = create_model("basnet_lite", pretrained=True)
    head = new_head(base, HeadConfig())
    columns = {"all": slice(None), "filters": slice(0, head.bank.num_features)}
    print("| case | k | " + " | ".join(VARIANTS) + " |")
    print("|---|---|" + "---|" * len(VARIANTS))
    for case, pairs in load_cases("tuning", 1, 512).items():
        image, mask = pairs[0]
        label, features = mask > 0, image_features(head, image)
        zero = predict(base, image).mask.astype(bool)
        held = np.zeros(label.shape, bool)
        held[:, label.shape[1] // 2 :] = True
        sums = {}
        for seed, k in itertools.product(SEEDS, KS):
            valid = np.zeros(label.shape, bool)
            for cell in user_patches(zero, label, seed)[:k]:
                valid[cell] = True
            if len(np.unique(label[valid])) < 2:
                continue
            for name, (kind, subset) in VARIANTS.items():
                x = features[..., columns[subset]]
                trees = kind(48, max_depth=14, min_samples_leaf=2, bootstrap=True,
                             max_samples=0.5, n_jobs=-1, random_state=seed)  # fmt: skip
                started = time.perf_counter()
                trees.fit(x[valid], label[valid])
                seconds = time.perf_counter() - started
                pred = trees.predict_proba(x[held])[:, 1] > 0.5
                cell = sums.setdefault((k, name), np.zeros(3))
                cell += ((pred & label[held]).sum(), (pred | label[held]).sum(), seconds)
        for k in KS:
            row = [_cell(sums.get((k, name))) for name in VARIANTS]
            print(f"| {case} | {k} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
