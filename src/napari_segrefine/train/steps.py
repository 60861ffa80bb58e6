"""What differs between model families during fine-tuning: data, loss, validation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ..models.config import ModelConfig
from ..refine.pipeline import combine_prn_outputs, prn_combine_rule
from ..refine.thresholds import patch_optimal_thresholds
from .datasets import CorrectionDataset
from .losses import basnet_hybrid_loss, bisenet_loss, prn_loss


def pooled_iou(pred: Tensor, target: Tensor, valid: Tensor, num_classes: int) -> float:
    """IoU over all valid pixels of a batch: foreground IoU, or mean over present classes."""
    keep = valid.bool().reshape(pred.shape)
    pred, target = pred[keep], target.reshape(pred.shape)[keep]
    classes = [1] if num_classes == 1 else range(num_classes)
    scores = []
    for c in classes:
        union = ((pred == c) | (target == c)).sum().item()
        if union:
            scores.append(((pred == c) & (target == c)).sum().item() / union)
    return float(np.mean(scores)) if scores else 1.0


def prn_mask(global_logits: Tensor, local_logits: Tensor | None, rule: str = "union") -> Tensor:
    """PRN's final masks (B x 1 x H x W, bool) of a batch: `combine_prn_outputs` per image."""
    glob = torch.sigmoid(global_logits[:, 0].float()).cpu().numpy()
    local = None if local_logits is None else torch.sigmoid(local_logits[:, 0].float()).cpu()
    masks = [
        combine_prn_outputs(plane, None if local is None else local[i].numpy(), rule=rule)
        for i, plane in enumerate(glob)
    ]
    return torch.from_numpy(np.stack(masks)[:, None] > 0).to(global_logits.device)


@dataclass
class TaskAdapter:
    """Fine-tuning recipe of one model family."""

    family: str
    config: ModelConfig
    prn_patch_size: int = 64

    @property
    def num_classes(self) -> int:
        return 1 if self.family == "prn" else self.config.num_classes

    def dataset(self, samples, settings, *, augment: bool, seed: int) -> CorrectionDataset:
        is_prn = self.family == "prn"
        return CorrectionDataset(
            samples,
            patch_size=settings.patch_size,
            normalization=self.config.normalization,
            num_classes=self.num_classes,
            in_channels=1 if is_prn else int(self.config.kwargs.get("in_channels", 3)),
            augment=augment,
            photometric=not is_prn,
            seed=seed,
        )

    def loss(self, model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        image, label, valid = batch["image"], batch["label"], batch["valid"]
        if self.family == "prn":
            glob, local = model(image, patch_size=self.prn_patch_size)
            pseudo = self._pseudo_labels(image, label)
            return prn_loss(glob, local, pseudo, label, valid)
        outputs = model(image)
        if self.family == "basnet":
            return basnet_hybrid_loss(outputs, label, valid)
        return bisenet_loss(outputs, label, valid)

    def _pseudo_labels(self, prob: Tensor, gt: Tensor) -> Tensor:
        labels = [
            patch_optimal_thresholds(p[0].cpu().numpy(), g[0].cpu().numpy(), self.prn_patch_size)[
                1
            ]
            for p, g in zip(prob.detach().float(), gt)
        ]
        return torch.from_numpy(np.stack(labels)[:, None].astype(np.float32)).to(prob.device)

    @torch.no_grad()
    def validate(self, model: nn.Module, items: list[dict[str, Tensor]], device) -> float:
        model.eval()
        image = torch.stack([it["image"] for it in items]).to(device)
        label = torch.stack([it["label"] for it in items]).to(device)
        valid = torch.stack([it["valid"] for it in items]).to(device)
        if self.family == "prn":
            outputs = model(image, patch_size=self.prn_patch_size)
            pred = prn_mask(*outputs, prn_combine_rule(model)).long()
        else:
            logits = model(image)
            pred = (logits > 0).long() if logits.shape[1] == 1 else logits.argmax(1, keepdim=True)
        target = label.long() if self.num_classes == 1 else label[:, None]
        return pooled_iou(pred, target, valid, self.num_classes)


def task_adapter(family: str, config: ModelConfig, settings) -> TaskAdapter:
    """The `TaskAdapter` for a model family and run settings."""
    return TaskAdapter(family, config, prn_patch_size=settings.prn_patch_size)
