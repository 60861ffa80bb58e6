"""Fine-tune a model on (image, corrected label, valid mask) triples.

`iter_finetune` is a generator: it yields a `TrainEvent` after every step (loss, and
the validation IoU when one was measured) and returns a `FinetuneResult` holding the
model with its best weights; `finetune` drains it. Set the ``stop`` event to end it
cleanly between steps: the result then keeps the best weights so far.
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
from ..generators import Progress, drain
from ..models import get_spec, model_config
from .datasets import CorrectionDataset, split_samples
from .steps import TaskAdapter, task_adapter


def require_counts(settings: object, names: Sequence[str]) -> None:
    """Refuse settings among ``names`` below 1, naming the first one."""
    for name in names:
        if int(getattr(settings, name)) < 1:
            raise SegRefineError(f"{name} must be at least 1, got {getattr(settings, name)}")


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
        require_counts(self, ("steps", "batch_size", "patch_size", "val_every", "patience"))
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise SegRefineError(f"learning rate must be a positive number, got {self.lr}")
        if not 0 <= self.val_fraction < 1:
            raise SegRefineError(f"val_fraction must be in [0, 1), got {self.val_fraction}")


@dataclass(frozen=True)
class TrainEvent(Progress):
    """Progress of one step (``done`` steps of ``total``); ``val_iou`` on validation steps."""

    loss: float = 0.0
    val_iou: float | None = None
    best_iou: float | None = None
    seconds_left: float = 0.0

    @property
    def step(self) -> int:
        """The step just done (``done``)."""
        return self.done


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
    """Train mode, with frozen BatchNorm statistics unless the config says otherwise.

    Frozen BatchNorm statistics are the default: a few corrected patches are too
    narrow a sample to re-estimate them, and doing so degrades the whole image. A
    frozen encoder (`SegRefineModel.freeze_encoder`) stays in eval mode by itself.
    """
    model.train()
    if config.freeze_batchnorm:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


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


def _validate_when_due(
    adapter: TaskAdapter,
    model: nn.Module,
    val_items: list | None,
    device: torch.device,
    state: TrainState,
    config: FinetuneConfig,
) -> float | None:
    """Validation IoU on validation steps (keeping the best weights), else None."""
    due = state.step % config.val_every == 0 or state.step == config.steps
    if val_items is None or not due:
        return None
    val_iou = adapter.validate(model, val_items, device)
    if state.best_iou is None or val_iou > state.best_iou:
        state.best_iou, state.since_best, state.improved = val_iou, 0, True
        state.best_weights = copy.deepcopy(model.state_dict())
    else:
        state.since_best += 1
    return val_iou


def _event(
    state: TrainState, total: int, loss: float, val_iou: float | None, seconds_left: float
) -> TrainEvent:
    message = f"step {state.step}/{total}, loss {loss:.4f}"
    if state.best_iou is not None:
        message += f", best val IoU {state.best_iou:.3f}"
    message += f", {seconds_left:.0f} s left"
    return TrainEvent(state.step, total, message, loss, val_iou, state.best_iou, seconds_left)


Samples = Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]]


def finetune(
    model: nn.Module,
    samples: Samples,
    config: FinetuneConfig | None = None,
    *,
    stop: threading.Event | None = None,
    resume: TrainState | None = None,
) -> FinetuneResult:
    """Fine-tune ``model`` on corrected pixels: `iter_finetune`, drained."""
    return drain(iter_finetune(model, samples, config, stop=stop, resume=resume))


run_finetune = finetune  # its name before `finetune` drained `iter_finetune`


def iter_finetune(
    model: nn.Module,
    samples: Samples,
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
        config: settings; defaults to `FinetuneConfig()`. ``freeze_encoder`` freezes
            the model's `encoder_modules` (for PRN: the encoder both decoders share).
        stop: set it to stop between steps; the result keeps the best weights so far
            and says ``stopped_by_user``.
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
    model.freeze_encoder(config.freeze_encoder)
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
        val_iou = _validate_when_due(adapter, model, val_items, device, state, config)
        elapsed = time.perf_counter() - started
        seconds_left = elapsed / (state.step - first_step) * (config.steps - state.step)
        event = _event(state, config.steps, float(loss.detach()), val_iou, seconds_left)
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
