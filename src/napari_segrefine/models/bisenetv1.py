"""BiSeNet V1 with a ResNet-18 context path, laid out like CoinCheung/BiSeNet.

Module names and shapes follow ``lib/models/bisenetv1.py`` of CoinCheung/BiSeNet so
that the released ``model_final_v1_*_new.pth`` files (``ffm_layout="current"``) and
the older ``model_final_v1_city.pth`` (``ffm_layout="legacy"``) load strictly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import SegRefineError
from .base import SegRefineModel
from .checks import check_input, check_positive
from .normalization import (
    ADE20K_MEAN,
    ADE20K_STD,
    BISENET_CITY_NORM,
    COCO_MEAN,
    COCO_STD,
    IMAGENET_NORM,
    Normalization,
)
from .registry import CheckpointSignature, ModelSpec, Settings, Tensors, register_family
from .resnet import ResNetTrunk

FFMLayout = Literal["current", "legacy"]
INPUT_MULTIPLE = 32
PAD_HINT = "pad the input (predict() pads for you)"
# BiSeNet release files are told apart by their class count: 171 COCO-Stuff, 150 ADE20k.
_DATASET_NORMALIZATION = {
    171: Normalization("dtype_max", COCO_MEAN, COCO_STD),
    150: Normalization("dtype_max", ADE20K_MEAN, ADE20K_STD),
}


class ConvBNReLU(nn.Module):
    """Convolution (no bias, 'same' padding) + BatchNorm + ReLU; keys ``conv``, ``bn``."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
        )
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))


def global_mean(x: Tensor) -> Tensor:
    """Spatial mean, kept as a B x C x 1 x 1 map."""
    return x.mean(dim=(2, 3), keepdim=True)


def upsample_nearest2x(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


class AttentionRefinement(nn.Module):
    """ARM: 3x3 ConvBNReLU, then a channel gate from the pooled map (1x1 conv, BN, sigmoid)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_ch, out_ch)
        self.conv_atten = nn.Conv2d(out_ch, out_ch, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(out_ch)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.conv(x)
        gate = self.bn_atten(self.conv_atten(global_mean(feat))).sigmoid()
        return feat * gate


class ContextPath(nn.Module):
    """ResNet-18 trunk with ARMs and a global-context branch; outputs at 1/8 and 1/16."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.resnet = ResNetTrunk(in_channels=in_channels)
        self.arm16 = AttentionRefinement(256, 128)
        self.arm32 = AttentionRefinement(512, 128)
        self.conv_head32 = ConvBNReLU(128, 128)
        self.conv_head16 = ConvBNReLU(128, 128)
        self.conv_avg = ConvBNReLU(512, 128, kernel_size=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        _, feat16, feat32 = self.resnet(x)
        context = self.conv_avg(global_mean(feat32))
        head16 = self.conv_head32(upsample_nearest2x(self.arm32(feat32) + context))
        head8 = self.conv_head16(upsample_nearest2x(self.arm16(feat16) + head16))
        return head8, head16


class SpatialPath(nn.Module):
    """Three strided convolutions to 1/8 resolution, then a 1x1 projection to 128 channels."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU(in_channels, 64, kernel_size=7, stride=2)
        self.conv2 = ConvBNReLU(64, 64, stride=2)
        self.conv3 = ConvBNReLU(64, 64, stride=2)
        self.conv_out = ConvBNReLU(64, 128, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_out(self.conv3(self.conv2(self.conv1(x))))


class FeatureFusion(nn.Module, ABC):
    """FFM: fuse by a 1x1 ConvBNReLU, then add a channel-gated copy: f + f * sigmoid(g)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.convblk = ConvBNReLU(channels, channels, kernel_size=1)

    @abstractmethod
    def gate_logits(self, pooled: Tensor) -> Tensor:
        """The gate ``g`` before the sigmoid, from the B x C x 1 x 1 pooled features."""

    def forward(self, spatial: Tensor, context: Tensor) -> Tensor:
        feat = self.convblk(torch.cat([spatial, context], dim=1))
        return feat + feat * self.gate_logits(global_mean(feat)).sigmoid()


class ConvBNFeatureFusion(FeatureFusion):
    """FFM of the ``*_new.pth`` weights: gate = BN(conv1x1) (keys ``conv``, ``bn``)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.conv = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def gate_logits(self, pooled: Tensor) -> Tensor:
        return self.bn(self.conv(pooled))


class LegacyFeatureFusion(FeatureFusion):
    """FFM of the older ``model_final_v1_city.pth``: bias-free 1x1 MLP C -> C/4 -> C."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.conv1 = nn.Conv2d(channels, channels // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(channels // 4, channels, 1, bias=False)

    def gate_logits(self, pooled: Tensor) -> Tensor:
        return self.conv2(F.relu(self.conv1(pooled)))


class OutputHead(nn.Module):
    """3x3 ConvBNReLU, 1x1 classifier (with bias), bilinear upsampling by ``up_factor``."""

    def __init__(self, in_ch: int, mid_ch: int, num_classes: int, up_factor: int) -> None:
        super().__init__()
        self.up_factor = up_factor
        self.conv = ConvBNReLU(in_ch, mid_ch)
        self.conv_out = nn.Conv2d(mid_ch, num_classes, 1, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        logits = self.conv_out(self.conv(x))
        return F.interpolate(
            logits, scale_factor=float(self.up_factor), mode="bilinear", align_corners=False
        )


_FUSION_LAYOUTS: dict[str, type[FeatureFusion]] = {
    "current": ConvBNFeatureFusion,
    "legacy": LegacyFeatureFusion,
}


class BiSeNetV1(SegRefineModel):
    """BiSeNet V1 (ResNet-18 context path, narrow spatial path) returning logits.

    Eval mode returns a B x ``num_classes`` x H x W logit tensor; train mode returns a
    tuple ``(main, aux16, aux32)`` of logits at input resolution (``(main,)`` without
    aux heads). H and W must be multiples of 32.

    Args:
        num_classes: output channels; 1 is the binary configuration (foreground logit).
        in_channels: image channels fed to the context and spatial paths.
        aux: build the auxiliary heads ``conv_out16``/``conv_out32`` used in training
            (released checkpoints contain them).
        ffm_layout: ``"current"`` for ``*_new.pth`` weights, ``"legacy"`` for the older
            ``model_final_v1_city.pth`` fusion module.
    """

    def __init__(
        self,
        num_classes: int = 19,
        in_channels: int = 3,
        aux: bool = True,
        ffm_layout: FFMLayout = "current",
    ) -> None:
        super().__init__()
        check_positive(num_classes=num_classes, in_channels=in_channels)
        if ffm_layout not in _FUSION_LAYOUTS:
            raise SegRefineError(
                f"unknown ffm_layout {ffm_layout!r}; use 'current' (*_new.pth weights) "
                "or 'legacy' (model_final_v1_city.pth)"
            )
        self.in_channels = in_channels
        self.cp = ContextPath(in_channels)
        self.sp = SpatialPath(in_channels)
        self.ffm = _FUSION_LAYOUTS[ffm_layout](256)
        self.conv_out = OutputHead(256, 256, num_classes, up_factor=8)
        self.aux = aux
        if aux:
            self.conv_out16 = OutputHead(128, 64, num_classes, up_factor=8)
            self.conv_out32 = OutputHead(128, 64, num_classes, up_factor=16)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, a=1)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def encoder_modules(self) -> list[nn.Module]:
        """The backbone (the context path's ResNet-18), e.g. to freeze while fine-tuning."""
        return [self.cp.resnet]

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, ...]:
        check_input(x, self.in_channels, INPUT_MULTIPLE, type(self).__name__, PAD_HINT)
        context8, context16 = self.cp(x)
        logits = self.conv_out(self.ffm(self.sp(x), context8))
        if not self.training:
            return logits
        if not self.aux:
            return (logits,)
        return logits, self.conv_out16(context8), self.conv_out32(context16)


def dataset_normalization(settings: Settings) -> Normalization | None:
    """The normalization of a BiSeNet release file with these settings (None: Cityscapes)."""
    return _DATASET_NORMALIZATION.get(settings["num_classes"])


def bisenet_specs(version: str, model_class: type[nn.Module], help_line: str) -> list[ModelSpec]:
    """BiSeNet ``version``'s semantic model (published weights) and binary model."""
    family = f"bisenet{version}"
    title = f"BiSeNet {version.upper()}"
    weights = tuple(f"{family}_{data}" for data in ("city", "coco", "ade20k"))
    return [
        ModelSpec(
            family,
            family,
            model_class,
            {"num_classes": 19},
            BISENET_CITY_NORM,
            description=f"{title} ({help_line}), semantic",
            weights=weights,
        ),
        ModelSpec(
            f"{family}_binary",
            family,
            model_class,
            {"num_classes": 1},
            IMAGENET_NORM,
            description=f"{title} with one foreground logit (binary masks)",
        ),
    ]


def bisenet_model_name(family: str, settings: Settings) -> str:
    """The registered BiSeNet of ``family`` for these settings (binary: one class)."""
    return f"{family}_binary" if settings["num_classes"] == 1 else family


def _settings(state: Tensors) -> Settings:
    return {
        "num_classes": int(state["conv_out.conv_out.weight"].shape[0]),
        "in_channels": int(state["cp.resnet.conv1.weight"].shape[1]),
        "aux": "conv_out16.conv_out.weight" in state,
        "ffm_layout": "legacy" if "ffm.conv1.weight" in state else "current",
    }


def _unused(settings: Settings) -> tuple[str, ...]:
    return () if settings.get("aux", True) else ("conv_out16.", "conv_out32.")


register_family(
    *bisenet_specs("v1", BiSeNetV1, "ResNet-18 context path"),
    signature=CheckpointSignature(
        "bisenetv1",
        "cp.resnet.conv1.weight",
        _settings,
        lambda settings: bisenet_model_name("bisenetv1", settings),
        dataset_normalization,
        _unused,
    ),
)
