"""The review queue in the loop the tool runs: does the head learn more from its patches?

For each image a simulated user corrects k patches of 64 px in the LEFT half, two at a
time; after each two the head is fitted to the corrected pixels (`fit_head`, defaults)
and the tool shows its mask when the guard adopts it, else what it showed before, as the
Correct dock does (runs before round 7 went back to the starting model's mask on a
refusal: `queue_loop.md`, runs 1 to 5 of `queue_loop_tuning.md`). IoU is pooled over the
RIGHT halves, which nobody corrected (the protocol of `hitl.py`). Unlike
`ranking.py`, whose learner is a random forest, the learner here is the tool's own, and
the queue is ranked again on what the tool shows after every update. Strategies:

- ``random``: left-half patches in a seeded random order;
- ``user``: `hitl.py`'s user: patches where the starting mask is wrong, in a seeded
  random order;
- ``model queue``: `rank_patches` on what the tool shows (the queue before two-class
  patches were added);
- ``queue``: `CorrectionSession.next_patch`, the shipped queue: the image's two-class
  patches (`rank_two_class_patches`) until the corrections hold both classes, then
  `rank_patches` (round 7 tried adding where the updates changed the mask as a signal, at
  commit aa2f36c, where this script's ``queue`` had it and ``queue without change`` did
  not; it lost on the sets it was not chosen on and was taken out:
  `queue_loop_tuning.md`, run 6);
- ``oracle``: the patches where what the tool shows is most wrong (needs the truth).

Cases: ``tuning`` (the queue's rule was chosen on it): `hitl.py`'s seen real sets and the
synthetic domains at data seed 100; ``report``: FINAL, FINAL2 and FINAL3 of
`real_data.py`, which no ranking setting was chosen on, and the synthetic domains at
seed 200; ``final4`` to ``final12``: one of those groups alone (never tuned on; add
``--synthetic ''`` to leave out the synthetic domains).

    python benchmarks/queue_loop.py --split tuning --seeds 0,1
    python benchmarks/queue_loop.py --split report > benchmarks/results/queue_loop.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_segrefine import create_model, predict
from napari_segrefine.correction import CorrectionSession
from napari_segrefine.engine import Prediction
from napari_segrefine.errors import SegRefineError
from napari_segrefine.ranking import rank_patches
from napari_segrefine.train.head import HeadConfig, fit_head

sys.path.insert(0, str(Path(__file__).parent))
from hitl import PATCH, Pooled, left_cells, load_cases, print_table, user_patches  # noqa: E402
from machine import describe  # noqa: E402
from ranking import add_case_options, synthetic_cases  # noqa: E402

STRATEGIES = ("random", "user", "model queue", "queue", "oracle")
BATCH = 2  # patches corrected between two updates
SPLITS = {
    "tuning": ("seen", "tuning"),
    "report": ("final,final2,final3", "held-out"),
    "final4": ("final4", "held-out"),
    "final5": ("final5", "held-out"),
    "final6": ("final6", "held-out"),
    "final7": ("final7", "held-out"),
    "final8": ("final8", "held-out"),
    "final9": ("final9", "held-out"),
    "final10": ("final10", "held-out"),
    "final11": ("final11", "held-out"),
    "final12": ("final12", "held-out"),
}


def left(prediction: Prediction, width: int) -> Prediction:
    """The prediction of the left ``width`` columns."""
    cut = (slice(None), slice(0, width))
    return Prediction(
        prediction.probabilities[cut], prediction.mask[cut], prediction.boundary[cut],
        prediction.threshold,
    )  # fmt: skip


def guarded_update(base, image, label, valid, config: HeadConfig):
    """The prediction of an update from the ``valid`` pixels; None when its guard refuses
    it or there is nothing to fit (the tool then keeps showing what it showed)."""
    try:
        result = fit_head(base, [(image, label, valid)], config)
    except SegRefineError:  # one class corrected: nothing to fit yet
        return None
    return predict(result.model, image) if result.adopted else None


def fixed_order(strategy: str, start: Prediction, label: np.ndarray, seed: int) -> list:
    """The left-half patches ``random`` or ``user`` corrects, in order."""
    if strategy == "user":
        return user_patches(start.mask > 0, label, seed)
    cells = left_cells(label.shape)
    return [cells[i] for i in np.random.default_rng(seed).permutation(len(cells))]


def next_cell(strategy: str, session: CorrectionSession, label: np.ndarray):
    """The patch ``strategy`` offers next on the session's (left-half) image."""
    if strategy == "queue":
        return session.next_patch(PATCH).slices
    shown = session.prediction
    if strategy == "model queue":
        top = rank_patches(
            shown.probabilities, PATCH, boundary=shown.boundary, refined=session.mask,
            valid=session.valid, threshold=shown.threshold, top_k=1,
        )  # fmt: skip
        return top[0].slices
    rows, cols = label.shape[0] // PATCH, label.shape[1] // PATCH
    window = (slice(0, rows * PATCH), slice(0, cols * PATCH))
    wrong = (shown.mask[window] > 0) != label[window]
    errors = wrong.reshape(rows, PATCH, cols, PATCH).mean(axis=(1, 3))
    done = session.valid[window].reshape(rows, PATCH, cols, PATCH).mean(axis=(1, 3)) >= 0.9
    r, c = divmod(int(np.argmax(np.where(done, -1.0, errors))), cols)
    return slice(r * PATCH, (r + 1) * PATCH), slice(c * PATCH, (c + 1) * PATCH)


def run_strategy(strategy, base, image, label, start, seed, ks, scratch) -> dict:
    """What the tool shows after each k in ``ks`` corrected patches."""
    half = label.shape[1] // 2
    order = fixed_order(strategy, start, label, seed) if strategy in ("random", "user") else []
    session = CorrectionSession(image[:, :half], name="left", autosave_root=scratch)
    session.set_prediction(left(start, half))
    shown, valid, results = start, np.zeros(label.shape, bool), {}
    for done in range(0, max(ks), BATCH):
        for step in range(done, min(done + BATCH, max(ks))):
            cell = order[step] if order else next_cell(strategy, session, label[:, :half])
            session.paint(cell, label[cell].astype(np.uint8))
        if order and step + 1 not in ks:
            continue  # a fixed order needs no update in between
        valid[:, :half] = session.valid > 0
        update = guarded_update(base, image, label, valid, HeadConfig(seed=seed))
        if update is not None:
            shown = update
            session.set_prediction(left(shown, half))
        if step + 1 in ks:
            results[step + 1] = shown.mask > 0
    return results


def run(cases: dict, args) -> tuple[Pooled, dict]:
    base = create_model(args.model, pretrained=True)
    pooled, seconds = Pooled(), {}
    with tempfile.TemporaryDirectory() as scratch:
        for case, pairs in cases.items():
            for index, (image, mask) in enumerate(pairs):
                label = mask > 0
                held = np.zeros(label.shape, bool)
                held[:, label.shape[1] // 2 :] = True
                start = predict(base, image)
                for seed in args.seeds:
                    for strategy in args.strategies:
                        started = time.perf_counter()
                        shown = run_strategy(
                            strategy, base, image, label, start, seed, args.ks, Path(scratch)
                        )
                        seconds.setdefault(strategy, []).append(time.perf_counter() - started)
                        for k, mask_k in shown.items():
                            pooled.add((case, k, seed, strategy), mask_k[held], label[held])
                    print(f"# {case}[{index}] seed {seed} done", file=sys.stderr, flush=True)
    return pooled, seconds


def report(cases: dict, pooled: Pooled, seconds: dict, args, elapsed: float) -> None:
    print(f"# The review queue in the tool's loop ({args.split} split)\n")
    print(
        f"Base model `{args.model}` (shipped weights). k patches of {PATCH} px corrected in "
        f"the left half of each image, {BATCH} at a time, the head fitted after each "
        "batch (what the tool shows: the head when adopted, else what it showed before), "
        "IoU pooled over the right halves per case, mean over seeds "
        f"{','.join(map(str, args.seeds))}. Machine: {describe()}, shared with other "
        f"jobs; {elapsed:.0f} s in all.\n"
    )
    strategies = args.strategies
    means = {
        (case, k, s): pooled.mean(case, k, s, args.seeds)
        for case in cases for k in args.ks for s in strategies
    }  # fmt: skip
    headers = [f"{s} k={k}" for k in args.ks for s in strategies]
    rows = {case: [means[(case, k, s)] for k in args.ks for s in strategies] for case in cases}
    print_table("case", headers, rows)
    groups = {"all cases": list(cases), "real sets": [c for c in cases if "synthetic" not in c]}
    for name, members in groups.items():
        print(f"\n{name}, mean minus random:\n")
        gains = {
            strategy: [
                np.mean([means[(c, k, strategy)] - means[(c, k, "random")] for c in members])
                for k in args.ks
            ]
            for strategy in strategies[1:]
        }
        print_table("strategy", [f"k={k}" for k in args.ks], gains, "+.3f")
    print("\nSeconds per strategy run (all its updates), median: " + ", ".join(
        f"{s} {np.median(v):.0f}" for s, v in seconds.items()
    ))  # fmt: skip


def _enough_patches(name: str, pairs: list, ks: list[int]) -> bool:
    """Whether every image's left half holds ``max(ks)`` patches; says so when not."""
    for _, mask in pairs:
        count = len(left_cells(mask.shape))
        if count < max(ks):
            print(
                f"# {name} left out: an image's left half holds {count} patches of "
                f"{PATCH} px, fewer than k = {max(ks)}",
                file=sys.stderr,
            )
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="report", choices=tuple(SPLITS))
    add_case_options(parser, ks="2,4,8")
    parser.add_argument(
        "--strategies", default=",".join(STRATEGIES), type=lambda text: text.split(","),
        help=f"random first, then any of {', '.join(STRATEGIES[1:])}",
    )  # fmt: skip
    args = parser.parse_args()
    if args.strategies[0] != "random" or not set(args.strategies) <= set(STRATEGIES):
        parser.error(f"--strategies: random first, then any of {', '.join(STRATEGIES[1:])}")
    if any(k % BATCH for k in args.ks):
        parser.error(f"--ks must be multiples of {BATCH}, the patches between two updates")
    started = time.perf_counter()
    groups, synthetic_split = SPLITS[args.split]
    cases = {}
    for group in groups.split(","):
        cases.update(load_cases(group, 1, args.crop))
    domains = [d for d in args.synthetic.split(",") if d]
    cases.update(synthetic_cases(domains, synthetic_split, args.synthetic_count, 384))
    cases = {name: pairs for name, pairs in cases.items() if _enough_patches(name, pairs, args.ks)}
    pooled, seconds = run(cases, args)
    report(cases, pooled, seconds, args, time.perf_counter() - started)


if __name__ == "__main__":
    main()
