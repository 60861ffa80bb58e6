"""Recognize an upstream state dict: which architecture, and with which settings.

Each family registers its `CheckpointSignature` beside its network; this module only
asks them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import SegRefineError
from .config import ModelConfig
from .registry import CheckpointSignature, Tensors, get_spec, signatures


def guess_signature(state: Tensors) -> CheckpointSignature | None:
    """The signature of the family whose signature key the state dict holds, if any."""
    return next((sig for sig in signatures() if sig.key in state), None)


def guess_config(
    state: Tensors, path: Path, arch: str | None, overrides: dict[str, Any]
) -> ModelConfig:
    """Build the `ModelConfig` of an upstream state dict (dropping unused keys).

    Keys of parts the settings do not build (BiSeNet aux heads with ``aux=False``)
    are removed from ``state``.
    """
    signature = guess_signature(state)
    if signature is None:
        sample = ", ".join(list(state)[:3])
        raise SegRefineError(
            f"{path} is not a BASNet, BiSeNet or PatchRefineNet checkpoint "
            f"(first keys: {sample}); pass arch= only for a file of a registered model"
        )
    family = signature.family
    settings = signature.read_settings(state)
    name = arch or signature.model_name(settings)
    spec = get_spec(name)
    if spec.family != family:
        raise SegRefineError(
            f"{path} looks like a {family} checkpoint, not {name} ({spec.family}); "
            f"load it without arch= or with a {family} model"
        )
    kwargs = {**spec.kwargs, **settings, **overrides}
    unused = signature.unused_prefixes(kwargs)
    for key in [k for k in state if unused and k.startswith(unused)]:
        del state[key]
    norm = signature.normalization(kwargs) or spec.normalization
    return ModelConfig(name, kwargs, norm, spec.input_kind)
