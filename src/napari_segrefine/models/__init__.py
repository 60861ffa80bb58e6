"""Models: BASNet, BiSeNet V1/V2 and PatchRefineNet, their registry and checkpoints."""

from .checkpoint import load_checkpoint, save_checkpoint
from .normalization import Normalization
from .registry import (
    DEFAULT_BINARY_MODEL,
    DEFAULT_PRN_MODEL,
    ModelConfig,
    ModelSpec,
    create_model,
    get_spec,
    list_models,
    model_config,
)

__all__ = [
    "DEFAULT_BINARY_MODEL",
    "DEFAULT_PRN_MODEL",
    "ModelConfig",
    "ModelSpec",
    "Normalization",
    "create_model",
    "get_spec",
    "list_models",
    "load_checkpoint",
    "model_config",
    "save_checkpoint",
]
