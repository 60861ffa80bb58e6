"""The model registry: names -> specs, families -> checkpoint signatures.

Like timm's ``_registry``, it imports nothing else from `models` at run time: each
family module (`basnet`, `bisenetv1`, `bisenetv2`, `prn`, `adapted`) registers its own
specs, and the signature of its upstream checkpoints, when it is imported; the `models`
package imports every family.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from ..errors import SegRefineError

if TYPE_CHECKING:
    from .normalization import Normalization

InputKind = Literal["image", "probability"]
Tensors = dict[str, torch.Tensor]
Settings = dict[str, Any]

DEFAULT_BINARY_MODEL = "basnet_lite"  # used when a user names no model (shipped weights)
DEFAULT_PRN_MODEL = "prn_p64_lite"


@dataclass(frozen=True)
class ModelSpec:
    """One registered model configuration.

    Attributes:
        name: registry name (``basnet``, ``bisenetv2_binary`` ...).
        family: architecture family used to match checkpoints
            (``basnet``, ``bisenetv1``, ``bisenetv2``, ``prn``).
        model_class: the ``nn.Module`` class to build.
        kwargs: default constructor keyword arguments.
        normalization: what the model expects as input.
        input_kind: ``image`` for segmenters, ``probability`` for PRN.
        description: one line for `napari-segrefine models`.
        weights: names of published weights in `weights.PUBLISHED_WEIGHTS`.
    """

    name: str
    family: str
    model_class: type[nn.Module]
    kwargs: Settings
    normalization: Normalization
    input_kind: InputKind = "image"
    description: str = ""
    weights: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.input_kind not in ("image", "probability"):
            raise ValueError(f"{self.name}: input_kind must be 'image' or 'probability'")


def _no_normalization(settings: Settings) -> Normalization | None:
    return None


def _nothing_unused(settings: Settings) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class CheckpointSignature:
    """How an upstream state dict of one family is recognized and read.

    Attributes:
        family: the architecture family.
        key: a state-dict key that only this family has.
        read_settings: constructor settings read from the tensors' shapes and keys.
        model_name: the registered model that such settings describe.
        normalization: the normalization these settings imply, when it differs from
            the registered model's (e.g. BiSeNet's COCO or ADE20k files); None keeps it.
        unused_prefixes: key prefixes to drop for these settings (e.g. aux heads
            that ``aux=False`` does not build).
    """

    family: str
    key: str
    read_settings: Callable[[Tensors], Settings]
    model_name: Callable[[Settings], str]
    normalization: Callable[[Settings], Normalization | None] = _no_normalization
    unused_prefixes: Callable[[Settings], tuple[str, ...]] = _nothing_unused


_MODELS: dict[str, ModelSpec] = {}
_SIGNATURES: dict[str, CheckpointSignature] = {}


def register_family(*specs: ModelSpec, signature: CheckpointSignature | None = None) -> None:
    """Add one family's models, and the signature of its upstream checkpoints if any.

    A family module calls this once, when it is imported.
    """
    family = specs[0].family
    if any(spec.family != family for spec in specs) or (
        signature is not None and signature.family != family
    ):
        raise ValueError(f"{[spec.name for spec in specs]} mix families")
    if family in {spec.family for spec in _MODELS.values()}:
        raise ValueError(f"family {family!r} is registered twice")
    if signature is not None:
        _SIGNATURES[family] = signature
    _MODELS.update({spec.name: spec for spec in specs})


def signatures() -> list[CheckpointSignature]:
    """The checkpoint signatures of all registered families."""
    return list(_SIGNATURES.values())


def list_models() -> list[str]:
    """Names of all registered models."""
    return sorted(_MODELS)


def get_spec(name: str) -> ModelSpec:
    """The registered spec of ``name``; a `SegRefineError` naming the choices if unknown."""
    try:
        return _MODELS[name]
    except KeyError:
        choices = ", ".join(list_models())
        raise SegRefineError(
            f"unknown model {name!r}; choose one of: {choices} "
            "(or load a file with --checkpoint / load_checkpoint)"
        ) from None
