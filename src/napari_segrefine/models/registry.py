"""The model registry: names -> constructors, default settings and normalization."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from ..errors import SegRefineError
from .normalization import (
    BASNET_NORM,
    BISENET_CITY_NORM,
    IMAGENET_NORM,
    PROBABILITY_NORM,
    Normalization,
)

InputKind = Literal["image", "probability"]

DEFAULT_BINARY_MODEL = "basnet_lite"  # used when a user names no model (shipped weights)
DEFAULT_PRN_MODEL = "prn_p64_lite"


@dataclass(frozen=True)
class ModelSpec:
    """One registered model configuration.

    Attributes:
        name: registry name (``basnet``, ``bisenetv2_binary`` ...).
        family: architecture family used to match checkpoints
            (``basnet``, ``bisenetv1``, ``bisenetv2``, ``prn``).
        target: ``module:Class`` of the ``nn.Module``, imported on first use.
        kwargs: default constructor keyword arguments.
        normalization: what the model expects as input.
        input_kind: ``image`` for segmenters, ``probability`` for PRN.
        description: one line for `napari-segrefine models`.
        weights: names of published weights in `weights.PUBLISHED_WEIGHTS`.
    """

    name: str
    family: str
    target: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    normalization: Normalization = BASNET_NORM
    input_kind: InputKind = "image"
    description: str = ""
    weights: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.input_kind not in ("image", "probability"):
            raise ValueError(f"{self.name}: input_kind must be 'image' or 'probability'")

    def model_class(self) -> type[nn.Module]:
        module_name, class_name = self.target.split(":")
        module = importlib.import_module(f"napari_segrefine.models.{module_name}")
        return getattr(module, class_name)


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


def _specs() -> list[ModelSpec]:
    prn_help = "PatchRefineNet on probability maps"
    return [
        ModelSpec(
            "basnet",
            "basnet",
            "basnet:BASNet",
            {},
            BASNET_NORM,
            description="BASNet (ResNet-34 encoder, 87.1 M params), salient objects",
            weights=("basnet_duts",),
        ),
        ModelSpec(
            "basnet_lite",
            "basnet",
            "basnet:BASNet",
            {"width": 8},
            BASNET_NORM,
            description="BASNet at 1/8 width for CPUs, tests and the shipped demo",
        ),
        ModelSpec(
            "bisenetv1",
            "bisenetv1",
            "bisenetv1:BiSeNetV1",
            {"num_classes": 19},
            BISENET_CITY_NORM,
            description="BiSeNet V1 (ResNet-18 context path), semantic",
            weights=("bisenetv1_city", "bisenetv1_coco", "bisenetv1_ade20k"),
        ),
        ModelSpec(
            "bisenetv2",
            "bisenetv2",
            "bisenetv2:BiSeNetV2",
            {"num_classes": 19},
            BISENET_CITY_NORM,
            description="BiSeNet V2 (detail + semantic branches), semantic",
            weights=("bisenetv2_city", "bisenetv2_coco", "bisenetv2_ade20k"),
        ),
        ModelSpec(
            "bisenetv1_binary",
            "bisenetv1",
            "bisenetv1:BiSeNetV1",
            {"num_classes": 1},
            IMAGENET_NORM,
            description="BiSeNet V1 with one foreground logit (binary masks)",
        ),
        ModelSpec(
            "bisenetv2_binary",
            "bisenetv2",
            "bisenetv2:BiSeNetV2",
            {"num_classes": 1},
            IMAGENET_NORM,
            description="BiSeNet V2 with one foreground logit (binary masks)",
        ),
        ModelSpec(
            "prn_p64",
            "prn",
            "prn:PatchRefineNet",
            {"variant": "p64"},
            PROBABILITY_NORM,
            "probability",
            f"{prn_help}, 8x8 local patches",
            weights=("prn_p64_duts", "prn_p64_kvasir", "prn_p64_deepglobe"),
        ),
        ModelSpec(
            "prn_p4",
            "prn",
            "prn:PatchRefineNet",
            {"variant": "p4"},
            PROBABILITY_NORM,
            "probability",
            f"{prn_help}, 4x4 local patches",
        ),
        ModelSpec(
            "prn_p0",
            "prn",
            "prn:PatchRefineNet",
            {"variant": "p0"},
            PROBABILITY_NORM,
            "probability",
            f"{prn_help}, global path only",
        ),
        ModelSpec(
            "prn_p64_lite",
            "prn",
            "prn:PatchRefineNet",
            {"variant": "p64", "width": 16},
            PROBABILITY_NORM,
            "probability",
            f"{prn_help}, 8x8 patches, half width (shipped demo)",
        ),
        ModelSpec(
            "adapted_head",
            "adapted",
            "adapted:AdaptedModel",
            {},
            BASNET_NORM,
            description="a base model plus a tree head fitted to your corrections "
            "(napari-segrefine train --kind head)",
        ),
    ]


_REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _specs()}


def list_models() -> list[str]:
    """Names of all registered models."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The registered spec of ``name``; a `SegRefineError` naming the choices if unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        choices = ", ".join(list_models())
        raise SegRefineError(
            f"unknown model {name!r}; choose one of: {choices} "
            "(or load a file with --checkpoint / load_checkpoint)"
        ) from None


def build_model(config: ModelConfig) -> nn.Module:
    """Instantiate the module described by ``config`` and attach the config to it."""
    spec = get_spec(config.arch)
    try:
        model = spec.model_class()(**config.kwargs)
    except TypeError as err:
        raise SegRefineError(
            f"model {config.arch!r} does not accept these settings: {err}"
        ) from None
    model.segrefine_config = config
    return model


def create_model(
    name: str, *, num_classes: int | None = None, pretrained: bool | str = False, **kwargs: Any
) -> nn.Module:
    """Build a registered model.

    Args:
        name: a name from `list_models`.
        num_classes: output classes (binary models have 1 foreground logit).
        pretrained: False (random init); True: the package's shipped demo weights when
            it has them, else the first registered published weights (downloaded into
            the cache, checked where a sha256 is known); or a checkpoint path.
        **kwargs: further constructor arguments (e.g. ``aux=False`` for BiSeNet).

    Returns:
        The model, in eval mode, with ``model.segrefine_config`` set.
    """
    spec = get_spec(name)
    merged = {**spec.kwargs, **kwargs}
    if num_classes is not None:
        merged["num_classes"] = int(num_classes)
    if pretrained is not False:
        from .checkpoint import load_checkpoint
        from .weights import default_weights_path

        path = default_weights_path(spec) if pretrained is True else pretrained
        model = load_checkpoint(path, arch=name, **merged)
        return model.eval()
    config = ModelConfig(name, merged, spec.normalization, spec.input_kind)
    return build_model(config).eval()


def model_config(model: nn.Module) -> ModelConfig:
    """The `ModelConfig` a model was built with; a clear error for foreign modules."""
    config = getattr(model, "segrefine_config", None)
    if config is None:
        raise SegRefineError(
            f"{type(model).__name__} was not built by napari-segrefine; "
            "create it with create_model() or load_checkpoint()"
        )
    return config
