"""How would the head guard do if it chose between two heads? Replayed from a hitl dump.

`hitl.py --heads encoder/filters_margin=off,none --dump run.json` fits, for every case,
k and seed, a head on all features and one on the filters alone, and records each one's
held-out IoU and its guard's out-of-fold IoU on the corrected blocks (the committed
`results/hitl_filters_choice_tuning.json` was made with ``--heads encoder,none`` before
the guard made this choice itself, so there the names are ``encoder`` and ``none``).
This script replays rules that pick one of the two from those guard scores alone
("filters alone when they score more than m above all features") and prints loop minus
forest per rule: mean over the cases, worst case, and how many (case, k) cells fall more
than 0.005 below the forest. The oracle row picks, per seed, whichever did better on the
held-out half (unreachable).

    python benchmarks/hitl_choice.py run.json --all encoder/filters_margin=off --detail 0
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import numpy as np

MARGINS = (-0.02, 0.0, 0.01, 0.02, 0.05)


def load(path: Path) -> tuple[dict, dict]:
    """IoU per (case, k, seed, method) and guard verdicts per (case, k, seed, head)."""
    data = json.loads(path.read_text())
    scores = {tuple(row[:4]): row[4] / row[5] if row[5] else np.nan for row in data["sums"]}
    verdicts = {tuple(v["key"]): v for v in data["verdicts"]}
    return scores, verdicts


def pick(verdicts: dict, key: tuple, *, margin: float, heads: tuple[str, str]) -> str:
    """The loop the rule shows: the filters-alone head (``heads[1]``) when its guard
    score beats the all-features head's by more than ``margin``."""
    wide, narrow = (verdicts.get((*key, f"head[{name}]")) for name in heads)
    if None in (wide, narrow) or None in (wide["guard"], narrow["guard"]):
        return f"loop[{heads[0]}]"
    return f"loop[{heads[narrow['guard'] > wide['guard'] + margin]}]"


def table(scores: dict, rule) -> tuple[list[str], list[int], np.ndarray]:
    """Loop minus forest per case and k (mean over seeds) under ``rule(key) -> method``."""
    cases = list(dict.fromkeys(key[0] for key in scores))
    ks = sorted({key[1] for key in scores})
    seeds = sorted({key[2] for key in scores})
    rows = [
        [
            np.mean(
                [scores[(c, k, s, rule((c, k, s)))] - scores[(c, k, s, "forest")] for s in seeds]
            )  # fmt: skip
            for k in ks
        ]
        for c in cases
    ]
    return cases, ks, np.array(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump", type=Path)
    parser.add_argument("--all", default="encoder", help="--heads name of the all-features head")
    parser.add_argument("--filters", default="none", help="--heads name of the filters head")
    parser.add_argument("--detail", type=float, help="also print per case for this margin")
    args = parser.parse_args()
    scores, verdicts = load(args.dump)
    heads = (args.all, args.filters)
    loops = tuple(f"loop[{name}]" for name in heads)

    def oracle(key):
        return max(loops, key=lambda method: scores[(*key, method)])

    rules = {
        "all features always": lambda key: loops[0],
        "filters alone always": lambda key: loops[1],
    }
    for margin in MARGINS:
        rules[f"guard picks, m = {margin}"] = partial(pick, verdicts, margin=margin, heads=heads)
    rules["oracle (per seed, held-out)"] = oracle
    _, ks, _ = table(scores, rules["all features always"])
    header = " | ".join(f"k={k}" for k in ks)
    print(f"| rule | mean {header} | worst case {header} | cells < -0.005 |")
    print("|---|" + "---|" * (2 * len(ks) + 1))
    for name, rule in rules.items():
        _, _, diff = table(scores, rule)
        means = " | ".join(f"{x:+.3f}" for x in diff.mean(0))
        worst = " | ".join(f"{x:+.3f}" for x in diff.min(0))
        print(f"| {name} | {means} | {worst} | {(diff < -0.005).sum()} |")
    if args.detail is not None:
        cases, _, diff = table(scores, partial(pick, verdicts, margin=args.detail, heads=heads))
        print(f"\nPer case, guard picks with m = {args.detail}:\n")
        print(f"| case | {header} |\n|---|" + "---|" * len(ks))
        for case, row in zip(cases, diff):
            print(f"| {case} | " + " | ".join(f"{x:+.3f}" for x in row) + " |")


if __name__ == "__main__":
    main()
