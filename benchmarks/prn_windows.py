"""How far PRN in windows is from PRN on the whole map (the shipped ``prn_p64_lite``).

PRN's global decoder sees a whole window, so running a map in windows (as `refine`
does for maps larger than ``window``) changes its output near window borders. This
script predicts a synthetic sample with the shipped ``basnet_lite``, refines the
probability map with the shipped ``prn_p64_lite`` once in one window and then in smaller
overlapping windows, and prints a markdown table of the differences.

Usage::

    python benchmarks/prn_windows.py
    python benchmarks/prn_windows.py --domain roads --size 384 512 --patch 32
"""

from __future__ import annotations

import argparse

import numpy as np

from napari_segrefine import create_model, predict
from napari_segrefine.data import make_sample
from napari_segrefine.generators import drain
from napari_segrefine.refine.pipeline import prn_final_mask
from napari_segrefine.refine.prn_windows import iter_prn_probabilities

SETTINGS = [(128, 0.0), (128, 0.25), (128, 0.5), (96, 0.5), (256, 0.25)]


def prn_maps(prn, prob: np.ndarray, patch: int, window: int, overlap: float):
    """Global and local probabilities and the final mask of ``prn`` in these windows."""
    events = iter_prn_probabilities(
        prn, prob, patch_size=patch, window=window, overlap=overlap, device="cpu"
    )
    global_prob, local_prob = drain(events)
    return global_prob, local_prob, prn_final_mask(prn, global_prob, local_prob)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="polyps")
    parser.add_argument("--size", type=int, nargs=2, default=(384, 512))
    parser.add_argument("--patch", type=int, default=32)
    args = parser.parse_args()
    sample = make_sample(args.domain, tuple(args.size), 7)
    prob = predict(create_model("basnet_lite", pretrained=True), sample.image).probabilities
    prn = create_model("prn_p64_lite", pretrained=True)
    whole_g, whole_l, whole_mask = prn_maps(prn, prob, args.patch, max(prob.shape), 0.0)
    print(f"{args.domain} {args.size[0]}x{args.size[1]}, patch {args.patch}, prn_p64_lite\n")
    print("| window | overlap | mean abs diff global | max abs diff global | max abs diff local "
          "| mask pixels differing |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    for window, overlap in SETTINGS:
        g, loc, mask = prn_maps(prn, prob, args.patch, window, overlap)
        differing = int(np.count_nonzero(mask != whole_mask))
        print(
            f"| {window} | {overlap} | {np.abs(g - whole_g).mean():.4f} | "
            f"{np.abs(g - whole_g).max():.3f} | {np.abs(loc - whole_l).max():.3f} | "
            f"{differing} of {mask.size} ({differing / mask.size:.3%}) |"
        )


if __name__ == "__main__":
    main()
