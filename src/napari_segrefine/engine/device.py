"""Which device and which floating-point precision a prediction runs with."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..errors import SegRefineError

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device to run on.

    Args:
        device: ``auto`` (CUDA, then Apple MPS, then CPU), ``cpu``, ``cuda``,
            ``cuda:N`` or ``mps``, or a `torch.device`.

    Returns:
        An available `torch.device`.

    Raises:
        SegRefineError: the name is not a device, or that device is not available here.
    """
    if isinstance(device, str) and device.strip().lower() == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        resolved = torch.device(device.strip().lower() if isinstance(device, str) else device)
    except (RuntimeError, TypeError):
        raise SegRefineError(
            f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
        ) from None
    _check_available(resolved)
    return resolved


def _check_available(device: torch.device) -> None:
    if device.type == "cpu":
        return
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = device.index or 0
        if index < count:
            return
        found = f"{count} CUDA device(s)" if count else "no CUDA device"
        raise SegRefineError(
            f"device {str(device)!r} was asked for but this machine has {found}; "
            "use device='auto' or 'cpu'"
        )
    if device.type == "mps" and _mps_available():
        return
    raise SegRefineError(
        f"device {str(device)!r} is not available on this machine; use device='auto' or 'cpu'"
    )


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; None means plain fp32.

    ``auto`` is bf16 on CUDA (fp16 where the GPU lacks bf16) and fp32 elsewhere: on the
    CPU, bf16 is an explicit choice (faster where the CPU has bf16 instructions, but it
    moves probabilities by up to a few hundredths). ``bf16`` on a CPU without bf16
    instructions falls back to fp32 with a warning.

    Raises:
        SegRefineError: ``precision`` is not one of `PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise SegRefineError(
            f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}"
        )
    if precision == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "bf16" and device.type == "cpu" and not cpu_supports_bf16():
        warnings.warn("this CPU has no bf16 instructions: running in fp32", stacklevel=2)
        return None
    return _DTYPES.get(precision)


def cpu_supports_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (AVX512-BF16 or AMX)."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check is not None and check())


def autocasting(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to ``dtype`` on ``device``; a no-op context for None (fp32)."""
    return torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()


@contextmanager
def evaluating(model: nn.Module, device: torch.device) -> Iterator[nn.Module]:
    """``model`` moved to ``device`` in eval mode; its training flag restored afterwards."""
    was_training = model.training
    model.to(device).eval()
    try:
        yield model
    finally:
        model.train(was_training)
