"""A base segmenter plus a light head fitted to the user's corrected pixels.

The head is a forest of decision trees (`TreeEnsemble`) over per-pixel features: the
classic multiscale filters of `FilterBank` (what ilastik-style classifiers use) and
what the base network already computes (its output and side-output probabilities and
its early encoder activations). Fitting takes seconds on a CPU, so the mask can follow
the user's corrections as they paint; `napari_segrefine.train.head` grows the trees.

The whole thing is an ordinary model: `predict` tiles it, `save_checkpoint` writes it
(base weights and trees in one safetensors file) and `load_checkpoint` reads it back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import SegRefineModel
from .config import ModelConfig, build_model
from .filter_bank import DEFAULT_SIGMAS, FilterBank
from .normalization import BASNET_NORM
from .registry import DEFAULT_BINARY_MODEL, ModelSpec, get_spec, register_family
from .trees import TreeEnsemble

DEEP_CHOICES = ("none", "outputs", "encoder")
ENCODER_MAX_STRIDE = 8  # encoder activations coarser than this add little per pixel
EPS = 1e-4


def base_config_dict(name: str = DEFAULT_BINARY_MODEL) -> dict[str, Any]:
    """The config (as saved in checkpoints) of a registered model, for ``base=``."""
    spec = get_spec(name)
    return ModelConfig(name, dict(spec.kwargs), spec.normalization, spec.input_kind).to_dict()


class AdaptedModel(SegRefineModel):
    """Base network + per-pixel features + a tree-ensemble head: one foreground logit.

    Args:
        base: config dict of the base model (``ModelConfig.to_dict()``); None: the
            default binary model.
        sigmas: scales of the filter bank, in pixels.
        deep: which base-network features the head sees: ``none``; ``outputs`` (the
            probabilities of its main and side outputs); ``encoder`` (those plus its
            encoder activations up to stride 8, upsampled).
        num_trees, num_nodes, depth: size of the tree ensemble (set by the fitting code).
        threshold: the trees' foreground share at which the output logit is 0 (chosen
            by the fitting code to suit the corrections; 0.5 is a plain vote).

    Input: B x C x H x W, normalized as the base expects; output: B x 1 x H x W logits.
    """

    foldable = False  # its trees read encoder activations, as fitted: unfolded
    auto_precision = "fp32"  # its trees split the fp32 features they were fitted on

    def __init__(
        self,
        base: dict[str, Any] | None = None,
        sigmas: Sequence[float] = DEFAULT_SIGMAS,
        deep: str = "encoder",
        num_trees: int = 1,
        num_nodes: int = 1,
        depth: int = 1,
        threshold: float = 0.5,
    ) -> None:
        super().__init__()
        if deep not in DEEP_CHOICES:
            raise ValueError(f"deep must be one of {DEEP_CHOICES}, got {deep!r}")
        base_config = ModelConfig.from_dict(base or base_config_dict())
        self.base = build_model(base_config)
        self.deep = deep
        in_channels = int(base_config.kwargs.get("in_channels", 3))
        self.bank = FilterBank(in_channels, sigmas)
        self.trees = TreeEnsemble(num_trees, num_nodes, depth)
        self.shift = math.log(threshold / (1 - threshold))
        self._fine_count: int | None = None  # see `encoder_features`
        self.requires_grad_(False)

    def encoder_modules(self) -> list[nn.Module]:
        """The base network's encoder (the head itself is fitted, not trained)."""
        return self.base.encoder_modules()

    def forward(self, x: Tensor) -> Tensor:
        features = self.pixel_features(x)
        batch, count, height, width = features.shape
        flat = features.permute(0, 2, 3, 1).reshape(-1, count)
        prob = self.trees(flat).reshape(batch, height, width, 1).permute(0, 3, 1, 2)
        return (torch.logit(prob.clamp(EPS, 1 - EPS)) - self.shift).to(x.dtype)

    @torch.no_grad()
    def pixel_features(self, x: Tensor) -> Tensor:
        """B x F x H x W features the head classifies (filters, then deep features)."""
        parts = [self.bank(x)]
        if self.deep != "none":
            outputs, encoded = self._run_base(x, self.deep == "encoder")
            parts.append(outputs)
            parts.extend(encoded)
        return torch.cat([part.float() for part in parts], dim=1)

    @torch.no_grad()
    def base_outputs(self, x: Tensor) -> Tensor:
        """B x K x H x W sigmoids of the base's outputs, main first, then side outputs
        (the deep features after the filters)."""
        return self._run_base(x, keep_encoder=False)[0]

    @torch.no_grad()
    def encoder_features(self, x: Tensor) -> list[Tensor]:
        """The fine encoder activations `pixel_features` reads, each B x C x H x W, from
        a pass of the base that stops as soon as the last of them is computed."""
        if self._fine_count is None:  # how many there are: one pass of a small input
            probe = x.new_zeros((1, x.shape[1], 64, 64))
            self._fine_count = len(self._run_base(probe, keep_encoder=True)[1])
        return self._run_base(x, keep_encoder=True, stop_after=self._fine_count)[1]

    def _run_base(
        self, x: Tensor, keep_encoder: bool, stop_after: int | None = None
    ) -> tuple[Tensor | None, list[Tensor]]:
        """Sigmoid of all outputs (main and side) and, if asked, the fine encoder
        activations; with ``stop_after``, the pass ends once that many activations are
        kept, and no outputs come back (None).

        The base runs with its top-level training flag set, which makes BASNet and
        BiSeNet return their side outputs, and every submodule in eval mode, so
        BatchNorm uses its running statistics.
        """
        encoded: list[Tensor] = []
        hooks = []
        if keep_encoder:
            size = x.shape[-2:]

            def keep(module: nn.Module, args: Any, output: Any) -> None:
                if (
                    isinstance(output, Tensor)
                    and size[0] // output.shape[-2] <= ENCODER_MAX_STRIDE
                ):
                    encoded.append(F.interpolate(output, size=size, mode="bilinear"))
                if stop_after is not None and len(encoded) >= stop_after:
                    raise _EncoderDone

            hooks = [m.register_forward_hook(keep) for m in self.base.encoder_modules()]
        was_training = self.base.training
        self.base.eval()
        self.base.training = True
        try:
            outputs = self.base(x)
        except _EncoderDone:
            return None, encoded
        finally:
            self.base.train(was_training)
            for hook in hooks:
                hook.remove()
        outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
        return torch.cat([torch.sigmoid(o) for o in outputs], dim=1), encoded


class _EncoderDone(Exception):
    """Raised in a hook to end a pass of the base once its encoder features are in."""


register_family(
    ModelSpec(
        "adapted_head",
        "adapted",
        AdaptedModel,
        {},
        BASNET_NORM,
        description="a base model plus a tree head fitted to your corrections "
        "(napari-segrefine train --kind head)",
    )
)
