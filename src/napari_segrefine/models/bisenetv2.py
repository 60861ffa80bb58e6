"""BiSeNet V2 (detail branch, semantic branch, guided aggregation), as in CoinCheung/BiSeNet.

Module names, ``nn.Sequential`` indices and shapes follow ``lib/models/bisenetv2.py`` of
CoinCheung/BiSeNet so that the released ``model_final_v2_*.pth`` files load strictly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import SegRefineModel
from .bisenetv1 import (
    INPUT_MULTIPLE,
    PAD_HINT,
    ConvBNReLU,
    bisenet_model_name,
    bisenet_specs,
    dataset_normalization,
    global_mean,
)
from .checks import check_input, check_positive
from .registry import CheckpointSignature, Settings, Tensors, register_family

EXPANSION = 6


def conv_bn(in_ch: int, out_ch: int, stride: int = 1, depthwise: bool = False) -> list[nn.Module]:
    """A bias-free 3x3 convolution (grouped per input channel when ``depthwise``) and its BN."""
    groups = in_ch if depthwise else 1
    conv = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, groups=groups, bias=False)
    return [conv, nn.BatchNorm2d(out_ch)]


def pointwise(in_ch: int, out_ch: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 1, bias=False)


def projection(in_ch: int, out_ch: int) -> nn.Sequential:
    """1x1 projection + BN whose gamma starts at zero, so a GE layer starts as its shortcut."""
    bn = nn.BatchNorm2d(out_ch)
    nn.init.zeros_(bn.weight)
    return nn.Sequential(pointwise(in_ch, out_ch), bn)


class DetailBranch(nn.Module):
    """Wide, shallow branch: 3 stages of 3x3 ConvBNReLU to 1/8 resolution, 128 channels."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.S1 = nn.Sequential(ConvBNReLU(in_channels, 64, stride=2), ConvBNReLU(64, 64))
        self.S2 = nn.Sequential(*self._stage(64, 64))
        self.S3 = nn.Sequential(*self._stage(64, 128))

    @staticmethod
    def _stage(in_ch: int, out_ch: int) -> list[nn.Module]:
        return [
            ConvBNReLU(in_ch, out_ch, stride=2),
            ConvBNReLU(out_ch, out_ch),
            ConvBNReLU(out_ch, out_ch),
        ]

    def forward(self, x: Tensor) -> Tensor:
        return self.S3(self.S2(self.S1(x)))


class StemBlock(nn.Module):
    """Semantic-branch stem to 1/4: strided conv, then conv and max-pool paths concatenated."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_channels, 16, stride=2)
        self.left = nn.Sequential(ConvBNReLU(16, 8, kernel_size=1), ConvBNReLU(8, 16, stride=2))
        self.right = nn.MaxPool2d(3, stride=2, padding=1)
        self.fuse = ConvBNReLU(32, 16)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.conv(x)
        return self.fuse(torch.cat([self.left(feat), self.right(feat)], dim=1))


class GatherExpand(nn.Module):
    """GE layer, stride 1: 3x3 conv, depthwise expansion x6, 1x1 projection, residual add."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        mid = channels * EXPANSION
        self.conv1 = ConvBNReLU(channels, channels)
        self.dwconv = nn.Sequential(*conv_bn(channels, mid, depthwise=True), nn.ReLU(inplace=True))
        self.conv2 = projection(mid, channels)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.conv2(self.dwconv(self.conv1(x))) + x)


class GatherExpandDown(nn.Module):
    """GE layer, stride 2: two depthwise convs (the first strided) and a depthwise shortcut."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        mid = in_ch * EXPANSION
        self.conv1 = ConvBNReLU(in_ch, in_ch)
        self.dwconv1 = nn.Sequential(*conv_bn(in_ch, mid, stride=2, depthwise=True))
        self.dwconv2 = nn.Sequential(*conv_bn(mid, mid, depthwise=True), nn.ReLU(inplace=True))
        self.conv2 = projection(mid, out_ch)
        self.shortcut = nn.Sequential(
            *conv_bn(in_ch, in_ch, stride=2, depthwise=True),
            pointwise(in_ch, out_ch),
            nn.BatchNorm2d(out_ch),
        )

    def forward(self, x: Tensor) -> Tensor:
        feat = self.conv2(self.dwconv2(self.dwconv1(self.conv1(x))))
        return F.relu(feat + self.shortcut(x))


class ContextEmbedding(nn.Module):
    """CE block: pooled context (BN, 1x1 ConvBNReLU) added to the input, then 3x3 ConvBNReLU."""

    def __init__(self, channels: int = 128) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.conv_gap = ConvBNReLU(channels, channels, kernel_size=1)
        self.conv_last = ConvBNReLU(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_last(self.conv_gap(self.bn(global_mean(x))) + x)


class SegmentBranch(nn.Module):
    """Narrow, deep branch; returns the features at 1/4, 1/8, 1/16, 1/32 and the CE output."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.S1S2 = StemBlock(in_channels)
        self.S3 = nn.Sequential(GatherExpandDown(16, 32), GatherExpand(32))
        self.S4 = nn.Sequential(GatherExpandDown(32, 64), GatherExpand(64))
        self.S5_4 = nn.Sequential(
            GatherExpandDown(64, 128), *(GatherExpand(128) for _ in range(3))
        )
        self.S5_5 = ContextEmbedding(128)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        feat4 = self.S1S2(x)
        feat8 = self.S3(feat4)
        feat16 = self.S4(feat8)
        feat32 = self.S5_4(feat16)
        return feat4, feat8, feat16, feat32, self.S5_5(feat32)


def upsample_nearest4x(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=4.0, mode="nearest")


class BilateralGuidedAggregation(nn.Module):
    """BGA: each branch gates the other at its own resolution; the sum goes through a conv."""

    def __init__(self, channels: int = 128) -> None:
        super().__init__()
        self.left1 = nn.Sequential(
            *conv_bn(channels, channels, depthwise=True), pointwise(channels, channels)
        )
        self.left2 = nn.Sequential(
            *conv_bn(channels, channels, stride=2), nn.AvgPool2d(3, stride=2, padding=1)
        )
        self.right1 = nn.Sequential(*conv_bn(channels, channels))
        self.right2 = nn.Sequential(
            *conv_bn(channels, channels, depthwise=True), pointwise(channels, channels)
        )
        self.conv = nn.Sequential(*conv_bn(channels, channels), nn.ReLU(inplace=True))

    def forward(self, detail: Tensor, semantic: Tensor) -> Tensor:
        detail_gated = self.left1(detail) * upsample_nearest4x(self.right1(semantic)).sigmoid()
        semantic_gated = self.left2(detail) * self.right2(semantic).sigmoid()
        return self.conv(detail_gated + upsample_nearest4x(semantic_gated))


class SegmentHead(nn.Module):
    """3x3 ConvBNReLU, dropout, [aux: nearest x2 + ConvBNReLU], 1x1 classifier, bilinear up.

    ``conv_out`` keeps upstream's ``nn.Sequential`` indices: ``0`` is the aux-only
    upsampling block (an identity in the main head), ``1`` the classifier.
    """

    def __init__(
        self, in_ch: int, mid_ch: int, num_classes: int, up_factor: int, aux: bool
    ) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_ch, mid_ch)
        self.drop = nn.Dropout(0.1)
        if aux:
            refine_ch = up_factor * up_factor
            refine: nn.Module = nn.Sequential(
                nn.Upsample(scale_factor=2.0), ConvBNReLU(mid_ch, refine_ch)
            )
            self.up_factor = up_factor // 2
        else:
            refine_ch, refine = mid_ch, nn.Identity()
            self.up_factor = up_factor
        self.conv_out = nn.Sequential(refine, nn.Conv2d(refine_ch, num_classes, 1, bias=True))

    def forward(self, x: Tensor) -> Tensor:
        logits = self.conv_out(self.drop(self.conv(x)))
        return F.interpolate(
            logits, scale_factor=float(self.up_factor), mode="bilinear", align_corners=False
        )


class BiSeNetV2(SegRefineModel):
    """BiSeNet V2 returning logits.

    Eval mode returns a B x ``num_classes`` x H x W logit tensor; train mode returns a
    tuple ``(main, aux2, aux3, aux4, aux5_4)`` of logits at input resolution (``(main,)``
    without aux heads). H and W must be multiples of 32.

    Args:
        num_classes: output channels; 1 is the binary configuration (foreground logit).
        in_channels: image channels fed to both branches.
        aux: build the auxiliary heads ``aux2``, ``aux3``, ``aux4``, ``aux5_4`` used in
            training (released checkpoints contain them).
    """

    def __init__(self, num_classes: int = 19, in_channels: int = 3, aux: bool = True) -> None:
        super().__init__()
        check_positive(num_classes=num_classes, in_channels=in_channels)
        self.in_channels = in_channels
        self.detail = DetailBranch(in_channels)
        self.segment = SegmentBranch(in_channels)
        self.bga = BilateralGuidedAggregation(128)
        self.head = SegmentHead(128, 1024, num_classes, up_factor=8, aux=False)
        self.aux = aux
        if aux:
            self.aux2 = SegmentHead(16, 128, num_classes, up_factor=4, aux=True)
            self.aux3 = SegmentHead(32, 128, num_classes, up_factor=8, aux=True)
            self.aux4 = SegmentHead(64, 128, num_classes, up_factor=16, aux=True)
            self.aux5_4 = SegmentHead(128, 128, num_classes, up_factor=32, aux=True)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def encoder_modules(self) -> list[nn.Module]:
        """The two backbone branches (detail and semantic), e.g. to freeze while fine-tuning."""
        return [self.detail, self.segment]

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, ...]:
        check_input(x, self.in_channels, INPUT_MULTIPLE, type(self).__name__, PAD_HINT)
        feat4, feat8, feat16, feat32, context = self.segment(x)
        logits = self.head(self.bga(self.detail(x), context))
        if not self.training:
            return logits
        if not self.aux:
            return (logits,)
        aux_logits = (
            self.aux2(feat4),
            self.aux3(feat8),
            self.aux4(feat16),
            self.aux5_4(feat32),
        )
        return (logits, *aux_logits)


def _settings(state: Tensors) -> Settings:
    return {
        "num_classes": int(state["head.conv_out.1.weight"].shape[0]),
        "in_channels": int(state["detail.S1.0.conv.weight"].shape[1]),
        "aux": any(k.startswith("aux") for k in state),
    }


def _unused(settings: Settings) -> tuple[str, ...]:
    return () if settings.get("aux", True) else ("aux2.", "aux3.", "aux4.", "aux5_4.")


register_family(
    *bisenet_specs("v2", BiSeNetV2, "detail + semantic branches"),
    signature=CheckpointSignature(
        "bisenetv2",
        "detail.S1.0.conv.weight",
        _settings,
        lambda settings: bisenet_model_name("bisenetv2", settings),
        dataset_normalization,
        _unused,
    ),
)
