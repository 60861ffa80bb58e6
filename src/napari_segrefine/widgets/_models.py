"""Choosing a model in a widget: architecture, weights (demo, published, file), device."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from magicgui.widgets import ComboBox, Container, FileEdit
from torch import nn

from ..engine.device import PRECISIONS
from ..errors import SegRefineError
from ..models import create_model, get_spec, list_models, load_checkpoint
from ..models.weights import SHIPPED, resolve_weights, shipped_weights_path

DEMO = "demo weights (shipped)"
RANDOM = "random init (untrained)"
CHECKPOINT = "checkpoint file"
PUBLISHED = "published: "
NO_PRN = "none (adaptive thresholds)"
CHECKPOINT_FILTER = "*.safetensors *.pth *.th *.pt"


def models_for(input_kind: str) -> list[str]:
    """Registered models that take ``input_kind`` (``image`` or ``probability``)."""
    return [name for name in list_models() if get_spec(name).input_kind == input_kind]


def weight_choices(arch: str) -> list[str]:
    """Where the weights of ``arch`` can come from, the best first."""
    shipped = [DEMO] if shipped_weights_path(arch) is not None else []
    published = [PUBLISHED + name for name in get_spec(arch).weights]
    return [*shipped, RANDOM, *published, CHECKPOINT]


def load_model(arch: str, weights: str, checkpoint: str | Path | None = None) -> nn.Module:
    """Build ``arch`` with the chosen weights (downloads published ones when needed)."""
    if weights == CHECKPOINT:
        if not checkpoint or not Path(checkpoint).is_file():
            raise SegRefineError(
                f"no checkpoint file at {str(checkpoint)!r}; choose a .safetensors, .pth or "
                ".th file, or other weights"
            )
        return load_checkpoint(checkpoint)
    if weights == RANDOM:
        return create_model(arch)
    source = SHIPPED if weights == DEMO else weights[len(PUBLISHED) :]
    return create_model(arch, pretrained=resolve_weights(arch, source, progress=False))


@dataclass(frozen=True)
class ModelRequest:
    """A model choice read from the widgets on the main thread, loaded in a worker."""

    arch: str
    weights: str
    checkpoint: str | None = None

    @property
    def source(self) -> str:
        """The chosen weights, in words (shown and recorded as the model's source)."""
        if self.weights == CHECKPOINT:
            return f"checkpoint {Path(str(self.checkpoint)).name}"
        if self.weights.startswith(PUBLISHED):
            return f"{self.weights[len(PUBLISHED) :]} weights"
        return {DEMO: "demo weights", RANDOM: "random weights"}[self.weights]

    def load(self) -> nn.Module:
        return load_model(self.arch, self.weights, self.checkpoint)


def device_choices() -> list[str]:
    """``auto``, ``cpu`` and the accelerators this machine has."""
    choices = ["auto", "cpu"]
    if torch.cuda.is_available():
        choices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        choices.append("mps")
    return choices


def precision_choices() -> list[str]:
    return list(PRECISIONS)


class ModelPicker(Container):
    """Architecture, weights and (for weights from a file) the checkpoint path.

    Args:
        archs: the architectures offered.
        default: the architecture selected at first.
        optional: offer `NO_PRN` first (refinement without a model).
    """

    def __init__(self, archs: list[str], default: str, optional: bool = False) -> None:
        choices = [NO_PRN, *archs] if optional else archs
        self.arch = ComboBox(label="model", choices=choices, value=default)
        self.weights = ComboBox(
            label="weights", choices=lambda _: self._weights_for(self.arch.value)
        )
        self.checkpoint = FileEdit(label="checkpoint", mode="r", filter=CHECKPOINT_FILTER)
        super().__init__(widgets=[self.arch, self.weights, self.checkpoint], labels=True)
        self.margins = (0, 0, 0, 0)
        self.arch.changed.connect(self._arch_changed)
        self.weights.changed.connect(self._weights_changed)
        self._arch_changed()

    @staticmethod
    def _weights_for(arch: str) -> list[str]:
        return [] if arch == NO_PRN else weight_choices(arch)

    def _arch_changed(self) -> None:
        self.weights.reset_choices()
        self.weights.visible = self.arch.value != NO_PRN
        self._weights_changed()

    def _weights_changed(self) -> None:
        self.checkpoint.visible = self.arch.value != NO_PRN and self.weights.value == CHECKPOINT

    @property
    def wants_model(self) -> bool:
        return self.arch.value != NO_PRN

    @property
    def untrained(self) -> bool:
        return self.wants_model and self.weights.value == RANDOM

    def request(self) -> ModelRequest | None:
        """The current choice (None for `NO_PRN`)."""
        if not self.wants_model:
            return None
        path = self.checkpoint.value if self.weights.value == CHECKPOINT else None
        return ModelRequest(self.arch.value, self.weights.value, path and str(path))
