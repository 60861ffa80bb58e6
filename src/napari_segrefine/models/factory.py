"""`create_model`: a registered model, with random or resolved weights."""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from .checkpoint import load_checkpoint
from .config import ModelConfig, build_model
from .registry import get_spec
from .weights import resolve_weights


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    pretrained: bool | str | os.PathLike[str] = False,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model.

    Args:
        name: a name from `list_models`.
        num_classes: output classes (binary models have 1 foreground logit).
        pretrained: False (random init); True: the package's shipped demo weights when
            it has them, else the first registered published weights (downloaded into
            the cache, checked where a sha256 is known); ``"shipped"`` or a published
            weights name; or a checkpoint path. See `resolve_weights`.
        **kwargs: further constructor arguments (e.g. ``aux=False`` for BiSeNet).

    Returns:
        The model, in eval mode, with ``model.segrefine_config`` set.
    """
    spec = get_spec(name)
    merged = {**spec.kwargs, **kwargs}
    if num_classes is not None:
        merged["num_classes"] = int(num_classes)
    if pretrained is not False:
        return load_checkpoint(resolve_weights(name, pretrained), arch=name, **merged)
    config = ModelConfig(name, merged, spec.normalization, spec.input_kind)
    return build_model(config).eval()
