"""What a built model carries along (`ModelConfig`), and building a model from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..errors import SegRefineError
from .normalization import Normalization
from .registry import InputKind, get_spec


@dataclass
class ModelConfig:
    """What a built model carries along (``model.segrefine_config``).

    Saved next to the weights by `save_checkpoint` so a file rebuilds the exact model.
    """

    arch: str
    kwargs: dict[str, Any]
    normalization: Normalization
    input_kind: InputKind
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return int(self.kwargs.get("num_classes", 1))

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "kwargs": dict(self.kwargs),
            "normalization": self.normalization.to_dict(),
            "input_kind": self.input_kind,
            "provenance": dict(self.provenance),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return cls(
            arch=data["arch"],
            kwargs=dict(data.get("kwargs", {})),
            normalization=Normalization.from_dict(data.get("normalization", {})),
            input_kind=data.get("input_kind", "image"),
            provenance=dict(data.get("provenance", {})),
        )


def build_model(config: ModelConfig) -> nn.Module:
    """Instantiate the module described by ``config`` and attach the config to it."""
    spec = get_spec(config.arch)
    try:
        model = spec.model_class(**config.kwargs)
    except TypeError as err:
        raise SegRefineError(
            f"model {config.arch!r} does not accept these settings: {err}"
        ) from None
    model.segrefine_config = config
    return model


def model_config(model: nn.Module) -> ModelConfig:
    """The `ModelConfig` a model was built with; a clear error for foreign modules."""
    config = getattr(model, "segrefine_config", None)
    if config is None:
        raise SegRefineError(
            f"{type(model).__name__} was not built by napari-segrefine; "
            "create it with create_model() or load_checkpoint()"
        )
    return config
