"""The tuned inference path: a model copy with BatchNorm folded, laid out channels-last.

`predict`, `refine` and the distributed workers run their tiles through `inference_copy`:
a copy of the model (the caller's model is never changed, and a copy made per call
never goes stale after fine-tuning) whose BatchNorm layers are
folded into the convolutions before them (`models.fuse`), in ``channels_last`` memory
layout on the CPU and CUDA. Both are exact up to fp32 rounding (checked on a sample when
folding). Lower precision (bf16 autocast) stays a separate, explicit choice: see
`engine.device.autocast_dtype`.

`eager()` switches the tuned path off for the code inside it (the ``bench`` command and
the tests compare the two paths with it).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from torch import nn

from ..models.fuse import fold_batchnorm

_TUNED = ContextVar("napari_segrefine_tuned", default=True)
SAMPLE_SIDE = 64  # side of the input the BatchNorm folding traces and checks with
_CHANNELS_LAST_DEVICES = ("cpu", "cuda")


@contextmanager
def eager() -> Iterator[None]:
    """Run inside this block on the plain fp32 eager model (no folding, no channels_last)."""
    token = _TUNED.set(False)
    try:
        yield
    finally:
        _TUNED.reset(token)


def tuned() -> bool:
    """Whether the tuned path is on here (it is, outside `eager`)."""
    return _TUNED.get()


@dataclass(frozen=True)
class InferenceModel:
    """The module to run tiles through and how to lay out its input.

    Attributes:
        module: the caller's model (eager) or a tuned copy of it.
        channels_last: whether inputs should be made ``channels_last`` before the call.
        folded: how many BatchNorm layers were folded into convolutions.
    """

    module: nn.Module
    channels_last: bool = False
    folded: int = 0

    def prepare(self, batch: torch.Tensor) -> torch.Tensor:
        """``batch`` in the memory layout the module runs fastest with."""
        if self.channels_last and batch.ndim == 4:
            return batch.contiguous(memory_format=torch.channels_last)
        return batch


def inference_copy(
    model: nn.Module,
    device: torch.device,
    in_channels: int,
    sample_side: int = SAMPLE_SIDE,
    **forward_kwargs,
) -> InferenceModel:
    """The model to run inference tiles through on ``device``.

    Outside `eager` (the default): a deep copy of ``model`` in eval mode on ``device``
    with BatchNorm folded (`models.fuse.fold_batchnorm`, traced and checked on a
    ``SAMPLE_SIDE`` random input; not for a model that is not ``foldable``, such as a
    head reading its network's activations) and, on the CPU and CUDA, channels_last
    weights. Inside `eager`, for a model in training mode, or one without convolutions:
    ``model`` itself.

    Args:
        model: the model, already on ``device`` and in eval mode.
        device: where it runs.
        in_channels: the channels of the model's input (for the sample).
        sample_side: side of the square random sample the folding is traced with.
        **forward_kwargs: extra keyword arguments of the model's forward (PRN's patch size).
    """
    if not tuned() or model.training or not _has_convolutions(model):
        return InferenceModel(model)
    copied = copy.deepcopy(model).eval()
    for parameter in copied.parameters():
        parameter.requires_grad_(False)
    folded = 0
    if getattr(model, "foldable", True):
        sample = _sample((in_channels, sample_side), device, next(copied.parameters(), None))
        try:
            folded = fold_batchnorm(copied, sample, **forward_kwargs)
        except (RuntimeError, TypeError, ValueError):  # it fails on the sample: no folding
            copied = copy.deepcopy(model).eval()
    channels_last = device.type in _CHANNELS_LAST_DEVICES
    if channels_last:
        copied.to(memory_format=torch.channels_last)
    return InferenceModel(copied, channels_last, folded)


def _sample(
    size: tuple[int, int], device: torch.device, like: torch.Tensor | None
) -> torch.Tensor:
    """A fixed random (1, channels, side, side) input; ``size`` is (channels, side)."""
    generator = torch.Generator().manual_seed(0)
    dtype = torch.float32 if like is None else like.dtype
    channels, side = size
    sample = torch.rand(1, channels, side, side, generator=generator)
    return sample.to(device=device, dtype=dtype)


def _has_convolutions(model: nn.Module) -> bool:
    return any(isinstance(module, nn.Conv2d) for module in model.modules())
