"""Models: BASNet, BiSeNet V1/V2 and PatchRefineNet, their registry and checkpoints.

Importing this package imports every family, and each family registers its models.
"""

from . import adapted, basnet, bisenetv1, bisenetv2, prn  # noqa: F401 - they register themselves
from .base import SegRefineModel
from .checkpoint import load_checkpoint, save_checkpoint
from .config import ModelConfig, model_config
from .factory import create_model
from .normalization import Normalization
from .registry import (
    DEFAULT_BINARY_MODEL,
    DEFAULT_PRN_MODEL,
    ModelSpec,
    get_spec,
    list_models,
)
from .weights import available_weights, resolve_weights

__all__ = [
    "DEFAULT_BINARY_MODEL",
    "DEFAULT_PRN_MODEL",
    "ModelConfig",
    "ModelSpec",
    "Normalization",
    "SegRefineModel",
    "available_weights",
    "create_model",
    "get_spec",
    "list_models",
    "load_checkpoint",
    "model_config",
    "resolve_weights",
    "save_checkpoint",
]
