"""Train the small demo models shipped in src/napari_segrefine/weights/.

Reruns anywhere: on a GPU with the default budget (minutes on an H100), or on a CPU
with a smaller one, e.g. ``--steps 300 --images 40``. Every number it reports comes from
held-out synthetic images it generates from the seed, never seen in training.

    python scripts/train_demo_weights.py --out src/napari_segrefine/weights

Writes ``basnet_lite``, ``bisenetv2_binary`` and ``prn_p64_lite`` as float16 safetensors
(config and provenance in the header) and adds each to ``TRAINING.json`` with its settings,
seed and held-out test metrics.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from napari_segrefine import create_model, load_checkpoint, predict, refine, save_checkpoint
from napari_segrefine.data import DOMAINS, make_sample
from napari_segrefine.models import model_config
from napari_segrefine.train import FinetuneConfig, finetune

BASE_MODELS = ("basnet_lite", "bisenetv2_binary")
PRN_MODEL = "prn_p64_lite"
PRN_PATCH = 32


def _sample(args: tuple[str, int, int]) -> tuple[np.ndarray, np.ndarray]:
    domain, size, seed = args
    sample = make_sample(domain, (size, size), seed)
    return sample.image, sample.label


def make_set(n_per_domain: int, size: int, seed: int, workers: int) -> list:
    """(image, label, None) triples, ``n_per_domain`` of each synthetic domain."""
    jobs = [(d, size, seed + i) for d in DOMAINS for i in range(n_per_domain)]
    with ProcessPoolExecutor(workers) as pool:
        pairs = list(pool.map(_sample, jobs, chunksize=8))
    return [(image, label, None) for image, label in pairs]


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Pooled IoU of stacked binary masks (empty union: 1)."""
    pred, gt = np.asarray(pred) > 0, np.asarray(gt) > 0
    union = np.logical_or(pred, gt).sum()
    return float(np.logical_and(pred, gt).sum() / union) if union else 1.0


def probabilities(model, images, device: str) -> list[np.ndarray]:
    return [predict(model, image, device=device).probabilities for image, _, _ in images]


def per_domain_iou(masks, test_set, n_per_domain: int) -> dict[str, float]:
    scores = {}
    for k, domain in enumerate(DOMAINS):
        part = slice(k * n_per_domain, (k + 1) * n_per_domain)
        scores[domain] = iou(np.stack(masks[part]), np.stack([t[1] for t in test_set[part]]))
    scores["all"] = iou(np.stack(masks), np.stack([t[1] for t in test_set]))
    return scores


def train(name: str, samples, config: FinetuneConfig):
    model = create_model(name)
    started = time.perf_counter()
    result = finetune(model, samples, config)
    for event in result.history:
        if event.val_iou is not None:
            print(f"  {name} step {event.step}: loss {event.loss:.4f} val IoU {event.val_iou:.4f}")
    print(f"  {name}: best val IoU {result.best_iou} in {time.perf_counter() - started:.0f} s")
    return result.model


def save(model, out: Path, metrics: dict, seed: int) -> None:
    """Write the model (float16) and add its entry to ``TRAINING.json``."""
    name = model_config(model).arch
    save_checkpoint(
        model.cpu(),
        out / name,
        half=True,
        metrics=metrics,
        data="napari_segrefine.data synthetic",
        data_seed=seed,
    )
    report_path = out / "TRAINING.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    report[name] = model_config(model).provenance | {"metrics": metrics}
    report_path.write_text(json.dumps(report, indent=2, default=str))
    print(f"  saved {name}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("src/napari_segrefine/weights"))
    parser.add_argument(
        "--models",
        default=",".join((*BASE_MODELS, PRN_MODEL)),
        help="which to train; PRN refines the basnet_lite in --out if not",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--prn-steps", type=int, default=800)
    parser.add_argument("--images", type=int, default=240, help="training images per domain")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    wanted = args.models.split(",")
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    n_test = 10
    print("generating data", flush=True)
    base_set = make_set(args.images, args.size, args.seed, args.workers)
    test_set = make_set(n_test, 512, args.seed + 200_000, args.workers)
    common = dict(
        batch_size=args.batch_size,
        patch_size=256,
        val_fraction=0.05,
        patience=1000,
        device=args.device,
        seed=args.seed,
        num_workers=args.workers,
    )
    device_name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    machine = {"device": device_name, "torch": torch.__version__}
    base_cfg = FinetuneConfig(
        steps=args.steps, lr=1e-3, val_every=max(args.steps // 10, 1), **common
    )
    test_probs = {}
    for name in [n for n in BASE_MODELS if n in wanted]:
        model = train(name, base_set, base_cfg)
        test_probs[name] = probabilities(model, test_set, args.device)
        metrics = {
            "test_iou": per_domain_iou([p > 0.5 for p in test_probs[name]], test_set, n_test),
            "machine": machine,
        }
        print(f"  {name}: {metrics}", flush=True)
        save(model, args.out, metrics, args.seed)
    if PRN_MODEL not in wanted:
        return
    base_name = BASE_MODELS[0]
    base = load_checkpoint(args.out / f"{base_name}.safetensors")
    if base_name not in test_probs:
        test_probs[base_name] = probabilities(base, test_set, args.device)
    print(f"PRN inputs: {base_name} probabilities", flush=True)
    prn_set = make_set(max(args.images // 3, 4), args.size, args.seed + 100_000, args.workers)
    prn_samples = [
        (prob, label, None)
        for prob, (_, label, _) in zip(probabilities(base, prn_set, args.device), prn_set)
    ]
    prn_cfg = FinetuneConfig(
        steps=args.prn_steps,
        lr=8e-4,
        prn_patch_size=PRN_PATCH,
        val_every=max(args.prn_steps // 10, 1),
        **common,
    )
    prn = train(PRN_MODEL, prn_samples, prn_cfg)
    refined = [
        refine(p, patch_size=PRN_PATCH, prn=prn, device=args.device) for p in test_probs[base_name]
    ]
    metrics = {
        "base": base_name,
        "patch_size": PRN_PATCH,
        "test_iou_base": per_domain_iou(
            [p > 0.5 for p in test_probs[base_name]], test_set, n_test
        ),
        "test_iou_refined": per_domain_iou(refined, test_set, n_test),
        "machine": machine,
    }
    print(f"  {PRN_MODEL}: {metrics}", flush=True)
    save(prn, args.out, metrics, args.seed)


if __name__ == "__main__":
    main()
