"""Checks on what a checkpoint file claims, before any model is built from it.

A checkpoint's ``segrefine`` header is read from a file anyone may have written: it is
checked here to be a JSON object naming a registered architecture, with constructor
settings the constructor knows, of the right types and within sane ranges, and a
normalization of finite numbers. The model it describes is then laid out on PyTorch's
``meta`` device (no memory) to count its parameters against the memory free. Weights
holding NaN or infinite values are refused on save and on load.
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import SegRefineError
from ..limits import check_memory
from .config import ModelConfig
from .registry import get_spec

# Bounds of the integer constructor settings, by name (far above any real model).
INT_RANGES = {
    "width": (1, 1024),
    "num_classes": (1, 10_000),
    "in_channels": (1, 64),
    "patch_size": (1, 8192),
    "num_trees": (1, 4096),
    "num_nodes": (1, 1 << 22),
    "depth": (1, 128),
}
FLOAT_RANGES = {"threshold": (0.01, 0.99)}  # an adapted model's decision threshold
MAX_SIGMA, MAX_SIGMAS = 256, 16  # filter-bank scales of an adapted model
_SCALES = ("image_max", "dtype_max", "none")
_INPUT_KINDS = ("image", "probability")


def _fail(path: Path, problem: str) -> SegRefineError:
    return SegRefineError(
        f"{path} has a damaged or foreign 'segrefine' config: {problem}; "
        "re-save the model with save_checkpoint or load the weights with an explicit arch"
    )


def parse_header(raw: str | None, path: Path) -> dict[str, Any] | None:
    """The ``segrefine`` header of a safetensors file, parsed and checked; None if absent.

    Raises:
        SegRefineError: not JSON, not an object, an unknown ``arch``, a bad
            normalization, input kind or provenance, or bad constructor settings.
    """
    if raw is None:
        return None
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        raise _fail(path, "it is not valid JSON") from None
    if not isinstance(header, dict):
        raise _fail(path, f"expected a JSON object, got {type(header).__name__}")
    arch = header.get("arch")
    if not isinstance(arch, str):
        raise _fail(path, "it names no architecture ('arch')")
    spec = get_spec(arch)
    for key, kind in (("kwargs", dict), ("normalization", dict), ("provenance", dict)):
        if not isinstance(header.get(key, {}), kind):
            raise _fail(path, f"'{key}' must be a JSON object")
    if header.get("input_kind", spec.input_kind) != spec.input_kind:
        raise _fail(path, f"'input_kind' of {arch} must be {spec.input_kind!r}")
    _check_normalization(header.get("normalization", {}), path)
    check_settings(arch, header.get("kwargs", {}), path)
    return header


def _check_normalization(norm: dict[str, Any], path: Path) -> None:
    if norm.get("scale", "dtype_max") not in _SCALES:
        raise _fail(path, f"normalization scale must be one of {', '.join(_SCALES)}")
    for key in ("mean", "std"):
        values = norm.get(key)
        if values is None:
            continue
        if (
            not isinstance(values, list)
            or not 1 <= len(values) <= 4
            or not all(_is_number(v) for v in values)
        ):
            raise _fail(path, f"normalization {key} must be a list of 1 to 4 finite numbers")
    if any(v <= 0 for v in norm.get("std") or ()):
        raise _fail(path, "normalization std must be positive")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_settings(arch: str, kwargs: dict[str, Any], path: Path) -> None:
    """Constructor settings known to ``arch``'s class, of the default's type and in range.

    Raises:
        SegRefineError: an unknown setting, a wrong type, or a value out of `INT_RANGES`
            or `FLOAT_RANGES`.
    """
    parameters = inspect.signature(get_spec(arch).model_class).parameters
    for name, value in kwargs.items():
        if name not in parameters:
            raise _fail(path, f"{arch} has no setting {name!r}")
        default = parameters[name].default
        if name == "base":  # an adapted model's base: a model config of its own
            ok = value is None or _check_base(value, path)
        elif isinstance(default, tuple):
            ok = _is_scale_list(value)
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        elif isinstance(default, float):
            ok = _is_number(value)
        else:  # ints, and ints that default to None (patch_size)
            ok = (value is None and default is None) or (
                isinstance(value, int) and not isinstance(value, bool)
            )
        if not ok:
            raise _fail(path, f"{arch} setting {name}={value!r} has the wrong type")
        low, high = {**INT_RANGES, **FLOAT_RANGES}.get(name, (None, None))
        if _is_number(value) and low is not None and not low <= value <= high:
            raise _fail(path, f"{arch} setting {name}={value} is outside {low}..{high}")


def _check_base(base: Any, path: Path) -> bool:
    """An adapted model's ``base`` setting: a registered, non-adapted architecture."""
    if not isinstance(base, dict) or not isinstance(base.get("arch"), str):
        return False
    if get_spec(base["arch"]).family == "adapted":
        raise _fail(path, "an adapted model's base cannot itself be adapted")
    if not isinstance(base.get("kwargs", {}), dict):
        return False
    _check_normalization(base.get("normalization", {}), path)
    check_settings(base["arch"], base.get("kwargs", {}), path)
    return True


def _is_scale_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and 1 <= len(value) <= MAX_SIGMAS
        and all(_is_number(v) and 0 < v <= MAX_SIGMA for v in value)
    )


def check_model_size(config: ModelConfig, path: Path) -> None:
    """Lay the model out on the ``meta`` device and refuse it if its weights cannot fit.

    Raises:
        SegRefineError: the parameters need more memory than `limits.check_memory` allows.
    """
    spec = get_spec(config.arch)
    with torch.device("meta"):
        model = spec.model_class(**config.kwargs)
    values = sum(t.numel() for t in (*model.parameters(), *model.buffers()))
    check_memory(
        values * 4,
        f"{config.arch} as configured in {path.name} ({values:.3g} weights)",
        "check the file's settings",
    )


def check_finite(tensors: dict[str, torch.Tensor] | nn.Module, what: str, fix: str) -> None:
    """Refuse weights that hold NaN or infinite values.

    Args:
        tensors: a state dict, or a model whose state dict is checked.
        what: whose weights (``"checkpoint a.safetensors"``), for the message.
        fix: what to do about it.

    Raises:
        SegRefineError: naming the first few tensors that are not finite.
    """
    if isinstance(tensors, nn.Module):
        tensors = tensors.state_dict()
    bad = [
        key
        for key, value in tensors.items()
        if value.is_floating_point() and not bool(torch.isfinite(value).all())
    ]
    if bad:
        raise SegRefineError(
            f"{what} has NaN or infinite weights ({len(bad)} tensors, e.g. "
            f"{', '.join(bad[:3])}); {fix}"
        )
