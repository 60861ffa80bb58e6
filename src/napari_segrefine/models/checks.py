"""Argument and input checks shared by the networks."""

from __future__ import annotations

from torch import Tensor

from ..errors import SegRefineError


def check_input(x: Tensor, in_channels: int, multiple: int, model_name: str, fix: str) -> None:
    """Raise `SegRefineError` unless ``x`` is B x in_channels x H x W, H and W multiples.

    Args:
        fix: what the user should do about a size that is not a multiple.
    """
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise SegRefineError(
            f"{model_name} expects a B x {in_channels} x H x W tensor, got shape "
            f"{tuple(x.shape)}; add a batch axis or convert the input to {in_channels} channels"
        )
    height, width = x.shape[-2:]
    if height % multiple or width % multiple:
        raise SegRefineError(
            f"{model_name} needs height and width that are multiples of {multiple}, "
            f"got {height}x{width}; {fix}"
        )


def check_positive(**values: int) -> None:
    """Raise `SegRefineError` for any constructor count below 1."""
    for name, value in values.items():
        if int(value) < 1:
            raise SegRefineError(f"{name} must be at least 1, got {value}; pass a positive count")
