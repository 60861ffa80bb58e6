"""Why does PRN help or not? Its mechanism's headroom and each head, per synthetic domain.

On images of each sample domain (a tuning split: seeds apart from training and from
`prn_effect.py`'s held-out images), pooled IoU of:

- ``base``: ``prob > 0.5`` of the base model's map;
- ``best tau``: the one threshold that is best for the whole domain (knows the truth);
- ``oracle P``: every P-px patch cut at its own best threshold (PRN's pseudo-labels,
  knows the truth): the most that patch-wise thresholding can reach;
- ``identity, union``: upstream's final rule ``g OR dilate3x3(g AND l)`` applied with
  both heads equal to the base mask, i.e. the rule's own effect;
- ``global``, ``local``, ``union``: a PRN's heads alone and combined by upstream's rule;
- ``oracle 32, no emptying``: the 32-px oracle with thresholds 0.05 to 0.95 only (no
  1.00, which empties a patch);
- ``soft``: share of pixels whose probability lies in (0.05, 0.95), the only pixels a
  threshold between 0.05 and 0.95 can flip;
- ``confident errors``: share of the base mask's wrong pixels whose probability is
  below 0.05 or above 0.95.

    python benchmarks/prn_diagnose.py --prn prn_p64_lite > benchmarks/results/prn_diagnose.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from napari_segrefine import predict
from napari_segrefine.data import make_dataset
from napari_segrefine.generators import drain
from napari_segrefine.refine import combine_prn_outputs, patch_optimal_thresholds
from napari_segrefine.refine.prn_windows import iter_prn_probabilities

sys.path.insert(0, str(Path(__file__).parent))
from hitl import Pooled  # noqa: E402
from machine import describe  # noqa: E402
from prn_effect import add_model_arguments, load_models  # noqa: E402

TAUS = np.round(np.arange(1, 20) * 0.05, 2)
ORACLE_PATCHES = (16, 32, 64)
ORACLES = tuple(f"oracle {p}" for p in ORACLE_PATCHES)
COLUMNS = ("base", "best tau", *ORACLES, "oracle 32, no emptying", "identity, union")
HEADS = ("global", "local", "union")


def add_thresholds(prob, label, pooled: Pooled, domain: str) -> None:
    """Masks that only threshold the map: at 0.5, at each tau, and the patch oracles."""
    pooled.add((domain, "base"), prob > 0.5, label)
    for tau in TAUS:
        pooled.add((domain, tau), prob > tau, label)
    for size in ORACLE_PATCHES:
        oracle = patch_optimal_thresholds(prob, label, size)[1]
        pooled.add((domain, f"oracle {size}"), oracle, label)
    kept = patch_optimal_thresholds(prob, label, 32, TAUS)[1]
    pooled.add((domain, "oracle 32, no emptying"), kept, label)


def score_image(prob, label, prn, patch: int, pooled: Pooled, domain: str) -> tuple[int, ...]:
    """Add one image's masks to ``pooled``; return its soft, wrong and confidently wrong
    pixel counts."""
    add_thresholds(prob, label, pooled, domain)
    plain = prob > 0.5
    pooled.add((domain, "identity, union"), ndimage.binary_dilation(plain, np.ones((3, 3))), label)
    glob, local = drain(iter_prn_probabilities(prn, prob, patch_size=patch))
    pooled.add((domain, "global"), glob > 0.5, label)
    pooled.add((domain, "local"), local > 0.5, label)
    pooled.add((domain, "union"), combine_prn_outputs(glob, local) > 0, label)
    soft = (prob > 0.05) & (prob < 0.95)
    wrong = plain != label
    return int(soft.sum()), int(wrong.sum()), int((wrong & ~soft).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", default="roads,polyps,salient")
    parser.add_argument("--images", type=int, default=6, help="images per domain")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--patch", type=int, default=32, help="PRN patch size")
    parser.add_argument("--seed", type=int, default=7000, help="the tuning split's seed")
    add_model_arguments(parser)
    args = parser.parse_args()
    started = time.perf_counter()
    base, prn = load_models(args)
    pooled, counts, domains = Pooled(), {}, args.domains.split(",")
    for domain in domains:
        total = np.zeros(3)
        for sample in make_dataset(domain, args.images, args.size, seed=args.seed):
            prob = predict(base, sample.image).probabilities.astype(np.float32)
            total += score_image(prob, sample.label > 0, prn, args.patch, pooled, domain)
        pixels = args.images * args.size**2
        counts[domain] = (total[0] / pixels, total[2] / max(total[1], 1))
    print("# PRN diagnosis: headroom of patch-wise thresholds, and each head\n")
    print(
        f"`{args.base}` maps, PRN `{args.prn}` at patch {args.patch} px; {args.images} images "
        f"of {args.size} px per domain (dataset seed {args.seed}), pooled IoU. Machine: "
        f"{describe()}, shared with other jobs; {time.perf_counter() - started:.0f} s.\n"
    )
    columns = (*COLUMNS, *(f"PRN {h}" for h in HEADS), "soft", "confident errors")
    print("| domain | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for domain in domains:
        best = max(TAUS, key=lambda tau: pooled.iou((domain, tau)))
        cells = [pooled.iou((domain, c)) for c in COLUMNS[:1]]
        cells += [pooled.iou((domain, best))]
        cells += [pooled.iou((domain, c)) for c in (*COLUMNS[2:], *HEADS)]
        text = [f"{v:.3f}" for v in cells]
        text[1] += f" ({best:.2f})"
        text += [f"{v:.3f}" for v in counts[domain]]
        print(f"| {domain} | " + " | ".join(text) + " |")


if __name__ == "__main__":
    main()
