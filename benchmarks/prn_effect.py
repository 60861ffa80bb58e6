"""Does PRN help, and does the check tell when it does not? Held-out IoU per domain.

Per synthetic domain: a simulated user corrects k patches (the PRN patch size) of each
pool image, wrong patches first (seeded, as in `hitl.py`). Then, on held-out images of
the same domain (never corrected), pooled IoU of:

- ``base``: the base model's mask (``prob > 0.5``);
- ``shipped PRN``: refined by the shipped PRN, always (what refine did before);
- ``checked``: the shipped PRN only when `check_refinement` on the pool corrections
  says it helps there, else the base mask (what the tool now does by default);
- ``adapted PRN``: `adapt_prn` fitted to the pool corrections, always applied;
- ``adapted, guarded``: the adapted PRN when its guard adopts it, else ``checked``.

    python benchmarks/prn_effect.py > benchmarks/results/prn_effect.md

``--no-adapt`` leaves the two adaptation columns out (the slow part on a CPU);
``--prn`` takes a registered name (its shipped weights) or a checkpoint file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from napari_segrefine import create_model, load_checkpoint, predict
from napari_segrefine.data import make_dataset
from napari_segrefine.refine import check_refinement, refine
from napari_segrefine.train.prn_adapt import PRNAdaptConfig, adapt_prn

sys.path.insert(0, str(Path(__file__).parent))
from hitl import Pooled  # noqa: E402
from machine import describe  # noqa: E402

METHODS = ("base", "shipped PRN", "checked", "adapted PRN", "adapted, guarded")


def corrected(prob_mask: np.ndarray, label: np.ndarray, patch: int, k: int, seed: int):
    """The valid mask of k patches, wrong ones first in a seeded order."""
    rows, cols = label.shape[0] // patch, label.shape[1] // patch
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    rng = np.random.default_rng(seed)
    wrong = [i for i, (r, c) in enumerate(cells) if _error(prob_mask, label, r, c, patch) > 0.01]
    right = [i for i in range(len(cells)) if i not in set(wrong)]
    order = [wrong[i] for i in rng.permutation(len(wrong))]
    order += [right[i] for i in rng.permutation(len(right))]
    valid = np.zeros(label.shape, bool)
    for i in order[:k]:
        r, c = cells[i]
        valid[r * patch : (r + 1) * patch, c * patch : (c + 1) * patch] = True
    return valid


def _error(mask, label, r, c, patch) -> float:
    box = (slice(r * patch, (r + 1) * patch), slice(c * patch, (c + 1) * patch))
    return float((mask[box] != label[box]).mean())


def run_domain(domain: str, args, base, prn, pooled: Pooled, notes: list[str]) -> None:
    """Correct the pool images, check (and adapt) PRN, score the held-out images."""
    size = (args.size, args.size)
    pool = make_dataset(domain, args.pool, size, seed=300 + args.seed)
    held = make_dataset(domain, args.held_out, size, seed=400 + args.seed)
    samples = []
    for index, sample in enumerate(pool):
        prob = predict(base, sample.image).probabilities
        valid = corrected(prob > 0.5, sample.label > 0, args.patch, args.k, args.seed + index)
        samples.append((prob, sample.label > 0, valid))
    befores, afters = [], []
    for prob, _, _ in samples:
        befores.append((prob > 0.5).astype(np.uint8))
        afters.append(refine(prob, patch_size=args.patch, prn=prn))
    stack = [
        np.stack(x) for x in (befores, afters, [s[1] for s in samples], [s[2] for s in samples])
    ]
    check = check_refinement(*stack, patch_size=args.patch)
    adapted = None
    if args.adapt:
        print(f"# {domain}: checked, adapting", file=sys.stderr, flush=True)
        adapted = adapt_prn(prn, samples, args.patch, PRNAdaptConfig(args.steps, seed=args.seed))
    notes.append(
        f"- {domain}: check: {check.message}" + (f"; {adapted.reason}" if adapted else "")
    )
    for sample in held:
        prob = predict(base, sample.image).probabilities
        label = sample.label > 0
        plain = prob > 0.5
        shipped = refine(prob, patch_size=args.patch, prn=prn) > 0
        checked = shipped if check.apply else plain
        masks = [plain, shipped, checked]
        if adapted is not None:
            tuned = refine(prob, patch_size=args.patch, prn=adapted.model) > 0
            masks += [tuned, tuned if adapted.adopted else checked]
        for method, mask in zip(METHODS, masks):
            pooled.add((domain, method), mask, label)
    print(f"# {domain} done", file=sys.stderr, flush=True)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--base`` (a registered model) and ``--prn`` (a PRN name or checkpoint file)."""
    parser.add_argument("--base", default="basnet_lite")
    parser.add_argument("--prn", default="prn_p64_lite", help="a PRN name or checkpoint file")


def load_models(args: argparse.Namespace) -> tuple:
    """The base model (shipped weights) and the PRN (shipped weights, or the file)."""
    base = create_model(args.base, pretrained=True)
    if Path(args.prn).is_file():
        return base, load_checkpoint(args.prn)
    return base, create_model(args.prn, pretrained=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", default="roads,polyps,salient")
    parser.add_argument("--pool", type=int, default=2, help="images the user corrects")
    parser.add_argument("--held-out", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--patch", type=int, default=32, help="PRN patch size")
    parser.add_argument("--k", type=int, default=8, help="patches corrected per pool image")
    parser.add_argument("--steps", type=int, default=PRNAdaptConfig.steps)
    parser.add_argument("--seed", type=int, default=0)
    add_model_arguments(parser)
    parser.add_argument("--no-adapt", dest="adapt", action="store_false", help="skip adapting")
    args = parser.parse_args()
    started = time.perf_counter()
    base, prn = load_models(args)
    methods = METHODS if args.adapt else METHODS[:3]
    domains = args.domains.split(",")
    pooled, notes = Pooled(), []
    for domain in domains:
        run_domain(domain, args, base, prn, pooled, notes)
    print("# PRN before/after on held-out images, with the check and the adaptation\n")
    print(
        f"`{args.base}` + `{args.prn}`, PRN patch {args.patch} px; per domain "
        f"{args.pool} pool images with {args.k} corrected patches each (wrong patches first), "
        f"{args.held_out} held-out images of {args.size} px, pooled IoU; adaptation "
        f"{f'{args.steps} steps' if args.adapt else 'not run'}; seed {args.seed}. Machine: "
        f"{describe()}, shared with other jobs; {time.perf_counter() - started:.0f} s in all.\n"
    )
    print("| domain | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for domain in domains:
        cells = [f"{pooled.iou((domain, m)):.3f}" for m in methods]
        print(f"| {domain} | " + " | ".join(cells) + " |")
    means = [np.mean([pooled.iou((d, m)) for d in domains]) for m in methods]
    print("| mean | " + " | ".join(f"{v:.3f}" for v in means) + " |\n")
    print(
        f"What the check{' and the guard' if args.adapt else ''} said (on the pool corrections):\n"
    )
    print("\n".join(notes))


if __name__ == "__main__":
    main()
