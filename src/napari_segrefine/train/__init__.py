"""Fine-tuning on corrections: datasets, losses and the training loop."""

from .datasets import CorrectionDataset, split_samples
from .loop import (
    FinetuneConfig,
    FinetuneResult,
    TrainEvent,
    TrainState,
    finetune,
    iter_finetune,
    run_finetune,
)

__all__ = [
    "CorrectionDataset",
    "FinetuneConfig",
    "FinetuneResult",
    "TrainEvent",
    "TrainState",
    "finetune",
    "iter_finetune",
    "run_finetune",
    "split_samples",
]
