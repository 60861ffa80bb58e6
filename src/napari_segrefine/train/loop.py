"""Fine-tune a model on (image, corrected label, valid mask) triples.

`finetune` is a generator: it yields a `TrainEvent` after every step (loss, and the
validation IoU when one was measured) and returns a `FinetuneResult` holding the
model with its best weights. Set the ``stop`` event to end it cleanly between steps.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from ..engine import resolve_device
from ..errors import SegRefineError
from ..generators import drain
from ..models.registry import get_spec, model_config
from .datasets import CorrectionDataset, split_samples
from .steps import TaskAdapter, task_adapter


@dataclass
class FinetuneConfig:
    """Settings of one fine-tuning run (all recorded in the checkpoint provenance)."""

    steps: int = 200
    lr: float = 1e-4
    weight_decay: float = 1e-4
    batch_size: int = 4
    patch_size: int = 256
    freeze_encoder: bool = False
    freeze_batchnorm: bool = True
    val_fraction: float = 0.2
    val_every: int = 20
    val_crops: int = 8
    patience: int = 5
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    prn_patch_size: int = 64
    num_workers: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "patch_size", "val_every", "patience"):
            if int(getattr(self, name)) < 1:
                raise SegRefineError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise SegRefineError(f"learning rate must be a positive number, got {self.lr}")
        if not 0 <= self.val_fraction < 1:
            raise SegRefineError(f"val_fraction must be in [0, 1), got {self.val_fraction}")


@dataclass
class TrainEvent:
    """Progress of one step; ``val_iou`` is set on the steps that validated."""

    step: int
    total: int
    loss: float
    val_iou: float | None = None
    best_iou: float | None = None
    seconds_left: float = 0.0


@dataclass
class TrainState:
    """Everything needed to resume: optimizer state, step count, best weights."""

    step: int = 0
    optimizer: dict[str, Any] = field(default_factory=dict)
    best_weights: dict[str, Tensor] | None = None
    best_iou: float | None = None
    start_iou: float | None = None
    improved: bool = False
    since_best: int = 0
    history: list[TrainEvent] = field(default_factory=list)


@dataclass
class FinetuneResult:
    """The outcome: the model (best weights loaded), history and why it ended."""

    model: nn.Module = field(repr=False)
    state: TrainState = field(repr=False)
    stopped_by_user: bool = False
    stopped_early: bool = False

    @property
    def history(self) -> list[TrainEvent]:
        return self.state.history

    @property
    def best_iou(self) -> float | None:
        return self.state.best_iou

    @property
    def kept_start(self) -> bool:
        """True when no step beat the starting weights on the held-out pixels.

        The starting weights are validated first and count as the best so far, so an
        update that would lower the held-out IoU is never adopted.
        """
        return self.state.start_iou is not None and not self.state.improved


def _train_mode(model: nn.Module, config: FinetuneConfig) -> None:
    """Train mode, with frozen parts held in eval mode (no BatchNorm statistics drift).

    Frozen BatchNorm statistics are the default: a few corrected patches are too
    narrow a sample to re-estimate them, and doing so degrades the whole image.
    """
    model.train()
    if config.freeze_batchnorm:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
    if config.freeze_encoder:
        for module in model.encoder_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad_(False)


def _validation_set(val_samples, adapter: TaskAdapter, config: FinetuneConfig):
    if not val_samples:
        return None
    dataset = adapter.dataset(val_samples, config, augment=False, seed=config.seed + 1)
    dataset.length = config.val_crops
    return [dataset[i] for i in range(len(dataset))]


class _RunningIndex(Dataset):
    """Item k of a whole run: item ``k % len`` of epoch ``k // len`` of the dataset.

    Items depend only on k, so batches are the same with or without loader workers.
    """

    def __init__(self, dataset: CorrectionDataset, total: int) -> None:
        self.dataset, self.total = dataset, total

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, k: int) -> dict[str, Tensor]:
        self.dataset.set_epoch(k // len(self.dataset))
        return self.dataset[k % len(self.dataset)]


def _batches(dataset: CorrectionDataset, first_step: int, config: FinetuneConfig):
    size = config.batch_size
    items = _RunningIndex(dataset, config.steps * size)
    order = range(first_step * size, config.steps * size)
    return iter(DataLoader(items, size, sampler=order, num_workers=config.num_workers))


def finetune(
    model: nn.Module,
    samples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    config: FinetuneConfig | None = None,
    *,
    stop: threading.Event | None = None,
    resume: TrainState | None = None,
) -> Generator[TrainEvent, None, FinetuneResult]:
    """Fine-tune ``model`` on corrected pixels (AdamW, AMP on GPU, early stopping).

    Args:
        model: a model from `create_model`/`load_checkpoint` (BASNet, BiSeNet or PRN;
            PRN samples are (probability map, ground truth, valid)).
        samples: (image, label, valid) triples; ``valid`` marks the corrected or
            confirmed pixels (None: all). Only those pixels drive the loss.
        config: settings; defaults to `FinetuneConfig()`.
        stop: set it to stop between steps; the best weights so far are kept.
        resume: a `TrainState` from an earlier result to continue from.

    Yields:
        A `TrainEvent` per step.

    Returns:
        `FinetuneResult` with the best validation weights loaded (the last weights
        when there is no validation split).
    """
    config = config or FinetuneConfig()
    cfg = model_config(model)
    adapter = task_adapter(get_spec(cfg.arch).family, cfg, config)
    torch.manual_seed(config.seed)
    train_samples, val_samples = split_samples(samples, config.val_fraction, config.seed)
    dataset = adapter.dataset(train_samples, config, augment=True, seed=config.seed)
    val_items = _validation_set(val_samples, adapter, config)
    device = resolve_device(config.device)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    state = resume or TrainState()
    if resume is not None and resume.optimizer:
        optimizer.load_state_dict(resume.optimizer)
    amp = config.amp and device.type == "cuda"
    result = FinetuneResult(model, state)
    started, first_step = time.perf_counter(), state.step
    batches = _batches(dataset, first_step, config)
    if val_items is not None and resume is None:
        state.start_iou = state.best_iou = adapter.validate(model, val_items, device)
        state.best_weights = copy.deepcopy(model.state_dict())
    while state.step < config.steps:
        if stop is not None and stop.is_set():
            result.stopped_by_user = True
            break
        _train_mode(model, config)
        batch = {k: v.to(device, non_blocking=True) for k, v in next(batches).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = adapter.loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        state.step += 1
        event = TrainEvent(state.step, config.steps, float(loss.detach()))
        if val_items is not None and (
            state.step % config.val_every == 0 or state.step == config.steps
        ):
            event.val_iou = adapter.validate(model, val_items, device)
            if state.best_iou is None or event.val_iou > state.best_iou:
                state.best_iou, state.since_best, state.improved = event.val_iou, 0, True
                state.best_weights = copy.deepcopy(model.state_dict())
            else:
                state.since_best += 1
        event.best_iou = state.best_iou
        elapsed = time.perf_counter() - started
        done = state.step - first_step
        event.seconds_left = elapsed / done * (config.steps - state.step)
        state.history.append(event)
        yield event
        if state.since_best >= config.patience:
            result.stopped_early = True
            break
    state.optimizer = optimizer.state_dict()
    if state.best_weights is not None:
        model.load_state_dict(state.best_weights)
    model.eval()
    cfg.provenance["finetune"] = {
        **asdict(config),
        "steps_done": state.step,
        "best_val_iou": state.best_iou,
        "start_val_iou": state.start_iou,
        "final_loss": state.history[-1].loss if state.history else None,
    }
    return result


def run_finetune(model: nn.Module, samples, config: FinetuneConfig | None = None, **kwargs):
    """Drive `finetune` to the end and return its `FinetuneResult` (no progress)."""
    return drain(finetune(model, samples, config, **kwargs))
