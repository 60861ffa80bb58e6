"""Train the small demo models shipped in src/napari_segrefine/weights/.

Reruns anywhere: on a GPU with the default budget, or on a CPU with a smaller one. The
shipped ``basnet_lite`` was trained on a CPU, warm-started from the previous weights:

    OMP_NUM_THREADS=1 python scripts/train_demo_weights.py --models basnet_lite \\
        --init src/napari_segrefine/weights --threads 1 --patch-size 160 --batch-size 8 \\
        --images 60 --steps 1200 --budget-minutes 45 --device cpu

Training data: every image family of `napari_segrefine.data.families` (microscopy,
histology, endoscopy, photographs, aerial RGB / panchromatic / multispectral; 8-16 bit,
random magnification, blur, noise, uneven light, inverted contrast) plus the clean sample
domains. Every number it reports comes from held-out images generated from other seeds,
never seen in training, for each model before (with ``--init``) and after training.

``prn_p64_lite`` is trained on the shipped ``basnet_lite``'s maps of other seeds. The
shipped one is a residual PRN (it starts as the identity), trained on a CPU on the sample
domains only, its best step chosen by the local head's validation IoU:

    OMP_NUM_THREADS=1 python scripts/train_demo_weights.py --models prn_p64_lite \\
        --threads 1 --prn-kinds domains --images 240 --prn-residual --prn-combine local \\
        --patch-size 128 --batch-size 8 --prn-steps 300 --prn-lr 3e-4 --n-test 4 --device cpu

then saved with ``combine="global"`` (``load_checkpoint(path, combine="global")``): its
global head scored higher on a tuning split (``benchmarks/prn_diagnose.py``).

Writes ``basnet_lite``, ``bisenetv2_binary`` and ``prn_p64_lite`` as float16 safetensors
(config and provenance in the header) and adds each to ``TRAINING.json`` with its settings,
seed, machine, wall time and held-out test metrics.
"""

from __future__ import annotations

import argparse
import json
import platform
import threading
import time
from pathlib import Path

import numpy as np
import torch

from napari_segrefine import create_model, load_checkpoint, predict, refine, save_checkpoint
from napari_segrefine.data import DOMAINS, make_sample
from napari_segrefine.data.families import FAMILIES, make_family_sample
from napari_segrefine.models import model_config
from napari_segrefine.train import FinetuneConfig, iter_finetune

BASE_MODELS = ("basnet_lite", "bisenetv2_binary")
PRN_MODEL = "prn_p64_lite"
PRN_PATCH = 32
TEST_SEED_OFFSET = 200_000
SETS = (*(f"family:{f}" for f in FAMILIES), *(f"domain:{d}" for d in DOMAINS))


def make_one(kind: str, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One (image, label) of ``family:<name>`` or ``domain:<name>``."""
    group, name = kind.split(":")
    maker = make_family_sample if group == "family" else make_sample
    sample = maker(name, (size, size), seed)
    return sample.image, sample.label


def make_set(kinds: tuple[str, ...], n: int, size: int, seed: int) -> list:
    """(image, label, None) triples, ``n`` of each kind; kind k uses seeds seed + 1000 k + i."""
    return [
        (*make_one(kind, size, seed + 1000 * k + i), None)
        for k, kind in enumerate(kinds)
        for i in range(n)
    ]


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Pooled IoU of stacked binary masks (empty union: 1)."""
    pred, gt = np.asarray(pred) > 0, np.asarray(gt) > 0
    union = np.logical_or(pred, gt).sum()
    return float(np.logical_and(pred, gt).sum() / union) if union else 1.0


def probabilities(model, images, device: str) -> list[np.ndarray]:
    return [predict(model, image, device=device).probabilities for image, _, _ in images]


def per_set_iou(masks, test_set, n: int) -> dict[str, float]:
    """Pooled IoU per kind (blocks of ``n``) and over everything."""
    scores = {}
    for k, kind in enumerate(SETS):
        part = slice(k * n, (k + 1) * n)
        scores[kind] = iou(np.stack(masks[part]), np.stack([t[1] for t in test_set[part]]))
    scores["all"] = iou(np.stack(masks), np.stack([t[1] for t in test_set]))
    return scores


def evaluate(model, test_set, n: int, device: str) -> dict[str, float]:
    return per_set_iou([p > 0.5 for p in probabilities(model, test_set, device)], test_set, n)


def train(model, samples, config: FinetuneConfig, budget_s: float):
    """Fine-tune, stopping between steps once ``budget_s`` seconds have passed."""
    stop, started = threading.Event(), time.perf_counter()
    run = iter_finetune(model, samples, config, stop=stop)
    while True:
        try:
            event = next(run)
        except StopIteration as done:
            result = done.value
            break
        if time.perf_counter() - started > budget_s:
            stop.set()
        if event.val_iou is not None or event.step % 50 == 0:
            print(
                f"  step {event.step}: loss {event.loss:.4f} val IoU {event.val_iou} "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    seconds = time.perf_counter() - started
    print(f"  best val IoU {result.state.best_iou} in {seconds:.0f} s", flush=True)
    return result.model, seconds


def save(model, out: Path, metrics: dict, seed: int, kinds: tuple[str, ...] = SETS) -> None:
    """Write the model (float16) and add its entry to ``TRAINING.json``."""
    name = model_config(model).arch
    data = f"napari_segrefine.data (synthetic): {', '.join(kinds)}"
    save_checkpoint(model.cpu(), out / name, half=True, metrics=metrics, data=data, data_seed=seed)
    report_path = out / "TRAINING.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    report[name] = model_config(model).provenance | {"metrics": metrics}
    report_path.write_text(json.dumps(report, indent=2, default=str))
    print(f"  saved {name}", flush=True)


def machine(threads: int) -> dict:
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return {
        "device": device,
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": threads,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("src/napari_segrefine/weights"))
    parser.add_argument(
        "--models",
        default=",".join((*BASE_MODELS, PRN_MODEL)),
        help="which to train; PRN refines the basnet_lite in --out if not",
    )
    parser.add_argument("--init", type=Path, help="warm-start from the weights in this folder")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--budget-minutes", type=float, default=1e9, help="stop after this")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--prn-steps", type=int, default=800)
    parser.add_argument("--prn-lr", type=float, default=8e-4)
    parser.add_argument(
        "--prn-kinds", choices=("all", "domains"), default="all", help="PRN training images"
    )
    parser.add_argument(
        "--prn-residual", action="store_true", help="PRN corrects logit(prob), starts as identity"
    )
    parser.add_argument("--prn-combine", default="union", help="PRN's rule for the final mask")
    parser.add_argument("--images", type=int, default=120, help="training images per kind")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--patch-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--n-test", type=int, default=6, help="held-out images per kind")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    return parser.parse_args()


def train_prn(args, common: dict, test_set, base_name: str, info: dict) -> None:
    """Train PRN on the probability maps of the base model in ``--out``."""
    base = load_checkpoint(args.out / f"{base_name}.safetensors")
    test_probs = probabilities(base, test_set, args.device)
    print(f"PRN inputs: {base_name} probabilities", flush=True)
    kinds = SETS if args.prn_kinds == "all" else tuple(f"domain:{d}" for d in DOMAINS)
    prn_set = make_set(kinds, max(args.images // 3, 4), args.size, args.seed + 100_000)
    prn_samples = [
        (prob, label, None)
        for prob, (_, label, _) in zip(probabilities(base, prn_set, args.device), prn_set)
    ]
    prn_cfg = FinetuneConfig(
        steps=args.prn_steps, lr=args.prn_lr, prn_patch_size=PRN_PATCH,
        val_every=max(args.prn_steps // 10, 1), **common,
    )  # fmt: skip
    prn = create_model(PRN_MODEL, residual=args.prn_residual, combine=args.prn_combine)
    prn, seconds = train(prn, prn_samples, prn_cfg, args.budget_minutes * 60)
    refined = [refine(p, patch_size=PRN_PATCH, prn=prn, device=args.device) for p in test_probs]
    metrics = {
        "base": base_name,
        "patch_size": PRN_PATCH,
        "training_kinds": list(kinds),
        "test_iou_base": per_set_iou([p > 0.5 for p in test_probs], test_set, args.n_test),
        "test_iou_refined": per_set_iou(refined, test_set, args.n_test),
        **info,
        "train_seconds": seconds,
    }
    print(f"  {PRN_MODEL}: {metrics}", flush=True)
    save(prn, args.out, metrics, args.seed, kinds)


def train_base(args, name: str, base_set, test_set, common: dict, info: dict) -> None:
    """Train (or, with ``--init``, fine-tune) one base model and save it."""
    base_cfg = FinetuneConfig(
        steps=args.steps, lr=args.lr, val_every=max(args.steps // 10, 1), **common
    )
    if args.init is not None:
        model = load_checkpoint(args.init / f"{name}.safetensors").float()
        model_config(model).provenance.pop("source")  # recorded as warm_start instead
        before = evaluate(model, test_set, args.n_test, args.device)
        print(f"  {name} before: {before}", flush=True)
    else:
        model, before = create_model(name), None
    model, seconds = train(model, base_set, base_cfg, args.budget_minutes * 60)
    metrics = {
        "test_iou": evaluate(model, test_set, args.n_test, args.device),
        "test_iou_before": before,
        "warm_start": str(args.init) if args.init else None,
        "train_seconds": seconds,
        **info,
    }
    print(f"  {name}: {metrics}", flush=True)
    save(model, args.out, metrics, args.seed)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = args.models.split(",")
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print("generating data", flush=True)
    test_set = make_set(SETS, args.n_test, args.size, args.seed + TEST_SEED_OFFSET)
    common = dict(
        batch_size=args.batch_size, patch_size=args.patch_size, val_fraction=0.05,
        patience=1000, device=args.device, seed=args.seed, freeze_batchnorm=False,
    )  # fmt: skip
    info = {"machine": machine(torch.get_num_threads()), "test_images_per_kind": args.n_test}
    names = [n for n in BASE_MODELS if n in wanted]
    if names:
        base_set = make_set(SETS, args.images, args.size, args.seed)
        print(f"  {len(base_set)} training images in {time.perf_counter() - started:.0f} s")
        for name in names:
            train_base(args, name, base_set, test_set, common, info)
    if PRN_MODEL in wanted:
        train_prn(args, common, test_set, BASE_MODELS[0], info)


if __name__ == "__main__":
    main()
