"""Do corrections pay off? Held-out IoU per corrected patch, against a pixel classifier.

For each image of a case, a simulated user corrects k patches of 64 px in the LEFT half
(patches where the current mask is wrong come first, in a seeded random order; then the
rest), and every method learns from exactly those pixels. IoU is pooled over the RIGHT
halves, which nobody corrected. Methods:

- ``zero-shot``: the starting model as shipped;
- ``otsu``: a global Otsu threshold, its polarity taken from the corrected pixels;
- ``forest``: the classical baseline (ilastik, APOC, convpaint): scikit-image's
  multiscale filter features (sigma 1..16) and a random forest (100 trees, depth 12,
  at most 30,000 corrected pixels);
- ``head``: `napari_segrefine.train.fit_head` with its defaults, always applied;
- ``loop``: what the tool shows: the head when its guard adopts it, else the
  starting model's mask;
- ``finetune`` (with ``--finetune-steps N``): the network fine-tuned on the same pixels
  (`napari_segrefine.train.finetune`, its guard keeping the start unless a step beats it).

Cases: real images from `real_data.py`: ``tuning`` (used to choose the head's
settings), ``held-out`` (VOC and Zurich; looked at in an earlier round), ``fresh``
(reported once, then tuned on: ``seen`` is tuning + fresh), ``final`` and ``final2`` to
``final12`` (never tuned on; ``final2`` to ``final12`` are each reported once, at the end
of the round that added it; ``final7`` and ``final8`` are tuning sets since round 11,
``final9`` since round 12, ``final10`` since round 13);
synthetic domain shift: the training domains acquired differently, ``shift-tuning`` to
check settings on and ``shift`` to report.

    python benchmarks/hitl.py --cases tuning --ks 2,8 --seeds 0,1 --heads none,encoder
    python benchmarks/hitl.py --cases fresh --per-set 1 --crop 512 > fresh.md
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from skimage.color import rgb2gray
from skimage.feature import multiscale_basic_features
from skimage.filters import gaussian, threshold_otsu
from sklearn.ensemble import RandomForestClassifier

from napari_segrefine import create_model, predict
from napari_segrefine.data import make_sample
from napari_segrefine.errors import SegRefineError
from napari_segrefine.train import FinetuneConfig, finetune
from napari_segrefine.train.head import HeadConfig, fit_head

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe  # noqa: E402
from real_data import (  # noqa: E402
    FINAL,
    FINAL2,
    FINAL3,
    FINAL4,
    FINAL5,
    FINAL6,
    FINAL7,
    FINAL8,
    FINAL9,
    FINAL10,
    FINAL11,
    FINAL12,
    load_real_sets,
)

PATCH = 64
CROP = 768
TUNING = ("nuclei_dsb2018", "bacteria_phase", "spacenet_buildings", "spacenet_roads")
HELD_OUT = ("voc_objects", "zurich_buildings", "zurich_roads", "zurich_trees")
FRESH = ("skin_corneum", "skin_epidermis", "conifer_cells", "quokka_animal")
RGB_BANDS = {"zurich_buildings": [2, 1, 0], "zurich_roads": [2, 1, 0], "zurich_trees": [2, 1, 0]}


def load_cases(
    which: str, per_set: int, crop: int = CROP
) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """The named group of sets, or one set by name; crops centred on the objects."""
    if which in SHIFT_GROUPS:
        return shifted_cases(SHIFT_GROUPS[which], per_set, crop)
    groups = {
        "tuning": TUNING,
        "held-out": HELD_OUT,
        "all": TUNING + HELD_OUT,
        "fresh": FRESH,
        "seen": TUNING + FRESH,
        "final": FINAL,
        "final2": FINAL2,
        "final3": FINAL3,
        "final4": FINAL4,
        "final5": FINAL5,
        "final6": FINAL6,
        "final7": FINAL7,
        "final8": FINAL8,
        "final9": FINAL9,
        "final10": FINAL10,
        "final11": FINAL11,
        "final12": FINAL12,
    }
    names = groups.get(which, (which,))
    real = load_real_sets()
    cases = {}
    for name in names:
        pairs = real[name]
        step = max(1, len(pairs) // per_set)
        picked = pairs[::step][:per_set]
        if name in RGB_BANDS:
            picked = [(image[..., RGB_BANDS[name]], mask) for image, mask in picked]
        cases[name] = [_crop_on_objects(image, mask, crop) for image, mask in picked]
    return cases


def shifted_cases(
    shifts: dict, per_set: int, size: int
) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Synthetic domain shift: the shipped model's training domains, acquired differently.

    Each case takes samples of a domain the model was trained on (seeds it never saw) and
    changes how they look: inverted contrast with uneven illumination, blur with noise in a
    12-bit range, or the scene at half scale (objects half as large). ``shifts`` maps a
    case name to (domain, change, first seed).
    """
    rng = np.random.default_rng(SHIFT_SEED)
    cases = {}
    for name, (domain, shift, seed) in shifts.items():
        pairs = []
        for index in range(per_set):
            sample = make_sample(domain, (size, size), seed + index)
            pairs.append(shift(sample.image.astype(np.float64) / 255, sample.label > 0, rng))
        cases[name] = pairs
    return cases


def _inverted_uneven(image, label, rng):
    ramp = np.linspace(0.6, 1.4, image.shape[1])[None, :, None]
    return (1 - image) * ramp, label


def _blurred_noisy_12bit(image, label, rng):
    blurred = gaussian(image, sigma=2, channel_axis=-1)
    noisy = blurred + rng.normal(0, 0.08, image.shape)
    return np.clip(noisy * 4095, 0, 4095).astype(np.uint16), label


def _half_scale(image, label, rng):
    tiled = np.concatenate([np.concatenate([image, image[:, ::-1]], 1)] * 2, 0)
    mask = np.concatenate([np.concatenate([label, label[:, ::-1]], 1)] * 2, 0)
    return tiled[::2, ::2], mask[::2, ::2]


SHIFT_SEED = 9000
SHIFT_GROUPS = {  # "shift-tuning" chooses settings; "shift" reports them
    "shift": {
        "polyps_inverted_uneven": ("polyps", _inverted_uneven, SHIFT_SEED),
        "salient_blur_noise_12bit": ("salient", _blurred_noisy_12bit, SHIFT_SEED),
        "roads_half_scale": ("roads", _half_scale, SHIFT_SEED),
    },
    "shift-tuning": {
        "salient_inverted_uneven": ("salient", _inverted_uneven, SHIFT_SEED + 100),
        "roads_blur_noise_12bit": ("roads", _blurred_noisy_12bit, SHIFT_SEED + 100),
        "polyps_half_scale": ("polyps", _half_scale, SHIFT_SEED + 100),
    },
}


def _crop_on_objects(image: np.ndarray, mask: np.ndarray, crop: int):
    """A crop of at most ``crop`` px a side, centred on the median foreground pixel."""
    rows, cols = np.nonzero(mask)
    window = []
    for axis, centre in enumerate((np.median(rows), np.median(cols))):
        side = min(crop, mask.shape[axis])
        start = int(np.clip(centre - side // 2, 0, mask.shape[axis] - side))
        window.append(slice(start, start + side))
    return image[tuple(window)], mask[tuple(window)]


def left_cells(shape: tuple[int, ...]) -> list[tuple[slice, slice]]:
    """The whole ``PATCH`` px patches of an image's left half, row by row."""
    rows, cols = shape[0] // PATCH, (shape[1] // 2) // PATCH
    return [(slice(r * PATCH, (r + 1) * PATCH), slice(c * PATCH, (c + 1) * PATCH))
            for r in range(rows) for c in range(cols)]  # fmt: skip


def user_patches(current: np.ndarray, label: np.ndarray, seed: int) -> list[tuple[slice, slice]]:
    """Left-half patches in the order a user fixes them: wrong ones first, seeded."""
    rng = np.random.default_rng(seed)
    cells = left_cells(label.shape)
    wrong = [c for c in cells if (current[c] != label[c]).mean() > 0.01]
    right = [c for c in cells if (current[c] != label[c]).mean() <= 0.01]
    return [wrong[i] for i in rng.permutation(len(wrong))] + [
        right[i] for i in rng.permutation(len(right))
    ]


def gray(image: np.ndarray) -> np.ndarray:
    values = image.astype(np.float64)
    return rgb2gray(values / max(values.max(), 1e-12)) if values.ndim == 3 else values


def otsu(image: np.ndarray, label: np.ndarray, valid: np.ndarray) -> np.ndarray:
    plane = gray(image)
    mask = plane > threshold_otsu(plane)
    return ~mask if (mask[valid] == label[valid]).mean() < 0.5 else mask


def forest(image, label, valid, features, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x, y = features[valid], label[valid]
    keep = rng.permutation(len(y))[:30_000]
    if len(np.unique(y[keep])) < 2:
        return np.full(label.shape, bool(y[0]))
    model = RandomForestClassifier(100, max_depth=12, n_jobs=-1, random_state=seed)
    model.fit(x[keep], y[keep])
    flat = features.reshape(-1, features.shape[-1])
    return model.predict(flat).reshape(label.shape).astype(bool)


class Pooled:
    """Intersection and union summed over images, per (case, k, method)."""

    def __init__(self) -> None:
        self.sums: dict[tuple, np.ndarray] = defaultdict(lambda: np.zeros(2))

    def add(self, key: tuple, pred: np.ndarray, label: np.ndarray) -> None:
        self.sums[key] += (np.logical_and(pred, label).sum(), np.logical_or(pred, label).sum())

    def iou(self, key: tuple) -> float:
        inter, union = self.sums[key]
        return float(inter / union) if union else float("nan")

    def mean(self, case: str, k: int, method: str, seeds: list[int]) -> float:
        """The IoU of (case, k, method), mean over ``seeds``."""
        return float(np.nanmean([self.iou((case, k, seed, method)) for seed in seeds]))


def print_table(corner: str, headers: list[str], rows: dict, fmt: str = ".3f") -> None:
    """A markdown table: a header row, then one row of formatted numbers per label."""
    print(f"| {corner} | " + " | ".join(headers) + " |")
    print("|---|" + "---|" * len(headers))
    for label, values in rows.items():
        print(f"| {label} | " + " | ".join(f"{value:{fmt}}" for value in values) + " |")


def int_list(text: str) -> list[int]:
    """``"1,2,4"`` -> [1, 2, 4] (an argparse type)."""
    return [int(part) for part in text.split(",")]


def run(cases, args, verdicts: list) -> tuple[Pooled, dict, dict]:
    """Every method on every case, k and seed; the head guard's verdicts go to ``verdicts``."""
    base = create_model(args.model, pretrained=True)
    pooled, seconds, adopted = Pooled(), defaultdict(list), defaultdict(list)
    heads = args.heads.split(",")
    for case, pairs in cases.items():
        for index, (image, mask) in enumerate(pairs):
            label = mask > 0
            held = np.zeros(label.shape, bool)
            held[:, label.shape[1] // 2 :] = True
            zero = predict(base, image).mask.astype(bool)
            image_features = multiscale_basic_features(
                image if image.ndim == 3 else image[..., None],
                channel_axis=-1,
                sigma_min=1,
                sigma_max=16,
            )
            for seed in args.seeds:
                order = user_patches(zero, label, seed)
                for k in args.ks:
                    valid = np.zeros(label.shape, bool)
                    for cell in order[:k]:
                        valid[cell] = True
                    key = (case, k, seed)
                    pooled.add((*key, "zero-shot"), zero[held], label[held])
                    pooled.add((*key, "otsu"), otsu(image, label, valid)[held], label[held])
                    started = time.perf_counter()
                    rf = forest(image, label, valid, image_features, seed)
                    seconds[(case, "forest")].append(time.perf_counter() - started)
                    pooled.add((*key, "forest"), rf[held], label[held])
                    for deep in heads:
                        name = "head" if len(heads) == 1 else f"head[{deep}]"
                        started = time.perf_counter()
                        try:
                            result = fit_head(
                                base, [(image, label, valid)], head_config(deep, seed)
                            )
                        except SegRefineError:  # one class corrected: nothing to fit yet
                            pooled.add((*key, name), zero[held], label[held])
                            pooled.add((*key, f"loop{name[4:]}"), zero[held], label[held])
                            continue
                        mask_head = predict(result.model, image).mask.astype(bool)
                        seconds[(case, name)].append(time.perf_counter() - started)
                        adopted[(case, k, name)].append(result.adopted)
                        verdicts.append(
                            {"key": [case, k, seed, name], "guard": result.head_iou,
                             "current": result.current_iou, "adopted": result.adopted,
                             "reason": result.reason}
                        )  # fmt: skip
                        pooled.add((*key, name), mask_head[held], label[held])
                        shown = mask_head if result.adopted else zero
                        pooled.add((*key, f"loop{name[4:]}"), shown[held], label[held])
                    if args.finetune_steps:
                        started = time.perf_counter()
                        tuned = finetuned_mask(
                            base, image, label, valid, seed, args.finetune_steps
                        )
                        seconds[(case, "finetune")].append(time.perf_counter() - started)
                        pooled.add((*key, "finetune"), tuned[held], label[held])
                    print(f"# {case}[{index}] seed {seed} k {k} done", file=sys.stderr, flush=True)
    return pooled, seconds, adopted


def head_config(spec: str, seed: int) -> HeadConfig:
    """The head settings named by a ``--heads`` item: ``deep``, then any ``/field=value``
    of `HeadConfig` (numbers; ``off`` for None), e.g. ``encoder/guard_block=64``."""
    deep, *settings = spec.split("/")
    fields = {f.name: f.type for f in dataclasses.fields(HeadConfig)}
    values = {}
    for setting in settings:
        name, _, value = setting.partition("=")
        values[name] = None if value == "off" else (int if fields[name] == "int" else float)(value)
    return HeadConfig(deep=deep, seed=seed, **values)


def finetuned_mask(base, image, label, valid, seed: int, steps: int) -> np.ndarray:
    """The mask of a guarded fine-tune of a copy of ``base`` (its best weights, or the
    start when no step beat it on the held-out corrections)."""
    config = FinetuneConfig(steps=steps, seed=seed, val_every=max(1, steps // 5))
    result = finetune(copy.deepcopy(base), [(image, label, valid)], config)
    return predict(result.model, image).mask.astype(bool)


def report(cases, pooled: Pooled, seconds, adopted, args, elapsed: float) -> None:
    methods = sorted({key[3] for key in pooled.sums}, key=_method_order)
    print(f"# Corrections that pay off: held-out IoU per corrected patch ({args.cases})\n")
    print(
        f"Model `{args.model}` (shipped weights); patches of {PATCH} px corrected in the left "
        f"half of each image (crops of at most {args.crop} px centred on the objects), IoU pooled "
        "over the right halves; "
        f"seeds {','.join(map(str, args.seeds))} (mean over seeds). Machine: {describe()}; "
        f"{elapsed:.0f} s in all.\n"
    )
    for case, pairs in cases.items():
        shapes = ", ".join(f"{p[0].shape}" for p in pairs)
        print(f"## {case} ({len(pairs)} image(s): {shapes})\n")
        print("| method | " + " | ".join(f"k={k}" for k in args.ks) + " |")
        print("|---|" + "---|" * len(args.ks))
        for method in methods:
            cells = []
            for k in args.ks:
                scores = [pooled.iou((case, k, s, method)) for s in args.seeds]
                cells.append(f"{np.nanmean(scores):.3f}")
            print(f"| {method} | " + " | ".join(cells) + " |")
        adopted_cells = [
            f"{np.mean(adopted[(case, k, m)]):.2f}" if adopted[(case, k, m)] else "-"
            for k in args.ks
            for m in [m for m in methods if m.startswith("head")][:1]
        ]
        print("| share of head updates adopted | " + " | ".join(adopted_cells) + " |\n")
        _note_small_images(pairs, args.ks)
    print("## Wall time per update (fit + predict of the image), seconds, median\n")
    print("| case | " + " | ".join(sorted({m for _, m in seconds})) + " |")
    print("|---|" + "---|" * len({m for _, m in seconds}))
    for case in cases:
        row = [f"{np.median(seconds[(case, m)]):.1f}" if seconds[(case, m)] else "-"
               for m in sorted({m for _, m in seconds})]  # fmt: skip
        print(f"| {case} | " + " | ".join(row) + " |")


def _note_small_images(pairs, ks: list[int]) -> None:
    """Says which images' left halves hold fewer patches than a k asked for (they are
    corrected whole at that k, so their cells use fewer patches than k)."""
    counts = [len(left_cells(mask.shape)) for _, mask in pairs]
    short = [count for count in counts if count < max(ks)]
    if short:
        print(
            f"{len(short)} of {len(counts)} image(s) hold only {', '.join(map(str, short))} "
            f"patches of {PATCH} px in their left half: at larger k they are corrected "
            "whole, with that many patches.\n"
        )


def _method_order(name: str) -> tuple[int, str]:
    order = ("zero-shot", "otsu", "forest", "head", "loop", "finetune")
    return next((i for i, prefix in enumerate(order) if name.startswith(prefix)), 9), name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases",
        default="all",
        help="tuning, held-out, all, fresh, seen, final, final2 to final12, shift, "
        "shift-tuning, or a set",
    )
    parser.add_argument("--per-set", type=int, default=3, help="images per set at most")
    parser.add_argument("--crop", type=int, default=CROP, help="image side at most (top-left)")
    parser.add_argument("--ks", type=int_list, default="1,2,4,8,16")
    parser.add_argument("--seeds", type=int_list, default="0,1,2")
    parser.add_argument(
        "--heads", default="encoder", help="heads: deep features[/HeadConfig field=value ...]"
    )
    parser.add_argument("--model", default="basnet_lite")
    parser.add_argument(
        "--dump", type=Path, help="also write every IoU sum and guard verdict here (JSON)"
    )
    parser.add_argument(
        "--finetune-steps", type=int, default=0, help="also fine-tune the network (0: skip)"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    cases = load_cases(args.cases, args.per_set, args.crop)
    verdicts: list[dict] = []
    pooled, seconds, adopted = run(cases, args, verdicts)
    if args.dump:
        sums = [[*key, *map(float, value)] for key, value in pooled.sums.items()]
        args.dump.write_text(json.dumps({"sums": sums, "verdicts": verdicts}))
    report(cases, pooled, seconds, adopted, args, time.perf_counter() - started)


if __name__ == "__main__":
    main()
