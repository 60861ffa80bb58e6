"""What every network family offers besides ``forward``: its encoder, to freeze."""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import nn


class SegRefineModel(nn.Module, ABC):
    """Base of BASNet, BiSeNet V1/V2 and PatchRefineNet.

    Fine-tuning on a few corrected patches often trains only the decoder:
    `freeze_encoder` stops the encoder's gradients and holds it in eval mode (its
    batch-norm statistics stay as they are), also across later ``train()`` calls.
    """

    encoder_frozen: bool = False
    # Whether folding BatchNorm into the convolutions before it (`models.fuse`) keeps the
    # model's answers: False for a model that reads its network's inner activations,
    # which folding changes (the convolution's output becomes the normalized one).
    foldable: bool = True
    # What ``precision="auto"`` runs it in: "auto" (bf16 autocast on CUDA, fp32 on the
    # CPU), or "fp32" for a model whose answers hinge on exact feature values.
    auto_precision: str = "auto"

    @abstractmethod
    def encoder_modules(self) -> list[nn.Module]:
        """The modules that make up the encoder (the part `freeze_encoder` freezes)."""

    def freeze_encoder(self, frozen: bool = True) -> None:
        """Freeze the encoder (``frozen=False`` makes it trainable again)."""
        self.encoder_frozen = frozen
        for module in self.encoder_modules():
            module.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> SegRefineModel:
        """Like `nn.Module.train`, but a frozen encoder stays in eval mode."""
        super().train(mode)
        if self.encoder_frozen:
            for module in self.encoder_modules():
                module.eval()
        return self
