"""Recognize an upstream state dict: which architecture, and with which settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import SegRefineError
from .normalization import ADE20K_MEAN, ADE20K_STD, COCO_MEAN, COCO_STD, Normalization
from .registry import ModelConfig, get_spec

Tensors = dict[str, torch.Tensor]

# BiSeNet release files are told apart by their class count: 171 COCO-Stuff, 150 ADE20k.
_BISENET_DATASET_NORM = {
    171: Normalization("dtype_max", COCO_MEAN, COCO_STD),
    150: Normalization("dtype_max", ADE20K_MEAN, ADE20K_STD),
}
_BISENET_AUX_PREFIXES = ("conv_out16.", "conv_out32.", "aux2.", "aux3.", "aux4.", "aux5_4.")


def _basnet(state: Tensors) -> dict[str, Any]:
    weight = state["inconv.weight"]
    return {"width": int(weight.shape[0]), "in_channels": int(weight.shape[1])}


def _bisenetv1(state: Tensors) -> dict[str, Any]:
    return {
        "num_classes": int(state["conv_out.conv_out.weight"].shape[0]),
        "in_channels": int(state["cp.resnet.conv1.weight"].shape[1]),
        "aux": "conv_out16.conv_out.weight" in state,
        "ffm_layout": "legacy" if "ffm.conv1.weight" in state else "current",
    }


def _bisenetv2(state: Tensors) -> dict[str, Any]:
    return {
        "num_classes": int(state["head.conv_out.1.weight"].shape[0]),
        "in_channels": int(state["detail.S1.0.conv.weight"].shape[1]),
        "aux": any(k.startswith("aux") for k in state),
    }


def _prn(state: Tensors) -> dict[str, Any]:
    if any(k.startswith("out_local") for k in state):
        variant = "p64"
    elif any(k.startswith("conv_last_local") for k in state):
        variant = "p4"
    else:
        variant = "p0"
    return {"variant": variant, "width": int(state["encoding.RRCNN1.Conv_1x1.weight"].shape[0])}


# family -> (a key only that family has, settings reader)
_SIGNATURES = {
    "basnet": ("refunet.conv0.weight", _basnet),
    "bisenetv1": ("cp.resnet.conv1.weight", _bisenetv1),
    "bisenetv2": ("detail.S1.0.conv.weight", _bisenetv2),
    "prn": ("encoding.RRCNN1.Conv_1x1.weight", _prn),
}


def guess_family(state: Tensors) -> str | None:
    """The architecture family whose signature key the state dict holds, if any."""
    for family, (key, _) in _SIGNATURES.items():
        if key in state:
            return family
    return None


def _registry_name(family: str, settings: dict[str, Any]) -> str:
    if family == "basnet":
        return "basnet_lite" if settings["width"] == 8 else "basnet"
    if family.startswith("bisenet"):
        return f"{family}_binary" if settings["num_classes"] == 1 else family
    lite = "_lite" if settings["width"] == 16 and settings["variant"] == "p64" else ""
    return f"prn_{settings['variant']}{lite}"


def guess_config(
    state: Tensors, path: Path, arch: str | None, overrides: dict[str, Any]
) -> ModelConfig:
    """Build the `ModelConfig` of an upstream state dict (dropping unused aux heads).

    A header-less full-width PRN P64 file is taken for upstream's ``p64_weights.th``
    and gets ``upstream_row7_quirk=True`` so its published numbers are reproduced.
    BiSeNet aux-head keys are dropped when ``aux=False`` is asked.
    """
    family = guess_family(state)
    if family is None:
        sample = ", ".join(list(state)[:3])
        raise SegRefineError(
            f"{path} is not a BASNet, BiSeNet or PatchRefineNet checkpoint "
            f"(first keys: {sample}); pass arch= only for a file of a registered model"
        )
    settings = _SIGNATURES[family][1](state)
    if family == "prn":
        # Upstream published only full-width P64 files; our own files carry a header.
        settings["upstream_row7_quirk"] = settings == {"variant": "p64", "width": 32}
    name = arch or _registry_name(family, settings)
    spec = get_spec(name)
    if spec.family != family:
        raise SegRefineError(
            f"{path} looks like a {family} checkpoint, not {name} ({spec.family}); "
            f"load it without arch= or with a {family} model"
        )
    kwargs = {**spec.kwargs, **settings, **overrides}
    if family.startswith("bisenet") and not kwargs.get("aux", True):
        for key in [k for k in state if k.startswith(_BISENET_AUX_PREFIXES)]:
            del state[key]
    norm = spec.normalization
    if family.startswith("bisenet"):
        norm = _BISENET_DATASET_NORM.get(kwargs["num_classes"], norm)
    return ModelConfig(name, kwargs, norm, spec.input_kind)
