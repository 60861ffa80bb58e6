"""Building blocks of PatchRefineNet: recurrent-residual convs, attention gates, PSP.

Attribute names and ``nn.Sequential`` positions follow the published PRN checkpoints
(``Conv_1x1``, ``RCNN``, ``Up.up.1``, ``Attn.W_g.0`` ...), so those files load strictly.
All convolutions carry a bias; batch norms use torch defaults.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PSP_BINS = (1, 2, 4, 8)


def conv_bn_relu(in_ch: int, out_ch: int) -> list[nn.Module]:
    """3x3 conv (bias, padding 1), batch norm and ReLU, as a list of layers."""
    return [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]


class RecurrentConv(nn.Module):
    """One shared 3x3 conv-BN-ReLU ``f`` applied three times: y = f(x), then twice y = f(x + y)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(*conv_bn_relu(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        for _ in range(2):
            y = self.conv(x + y)
        return y


class RecurrentResidualBlock(nn.Module):
    """1x1 projection to ``out_ch``, then two recurrent convs with a residual connection."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.RCNN = nn.Sequential(RecurrentConv(out_ch), RecurrentConv(out_ch))
        self.Conv_1x1 = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.Conv_1x1(x)
        return x + self.RCNN(x)


class UpsampleConv(nn.Module):
    """Nearest-neighbour x2 upsampling followed by conv-BN-ReLU."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), *conv_bn_relu(in_ch, out_ch)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.up(x)


class AttentionGate(nn.Module):
    """Additive attention: a per-pixel sigmoid weight from gate and skip rescales the skip."""

    def __init__(self, gate_ch: int, skip_ch: int, inner_ch: int) -> None:
        super().__init__()
        self.W_g = nn.Sequential(nn.Conv2d(gate_ch, inner_ch, 1), nn.BatchNorm2d(inner_ch))
        self.W_x = nn.Sequential(nn.Conv2d(skip_ch, inner_ch, 1), nn.BatchNorm2d(inner_ch))
        self.psi = nn.Sequential(nn.Conv2d(inner_ch, 1, 1), nn.BatchNorm2d(1), nn.Sigmoid())

    def forward(self, gate: Tensor, skip: Tensor) -> Tensor:
        weight = self.psi(torch.relu(self.W_g(gate) + self.W_x(skip)))
        return skip * weight


class PyramidPooling(nn.Module):
    """PSP context: pooled bins (1x1 conv, bilinear back up) + identity, fused by a 1x1 conv."""

    def __init__(self, channels: int, bins: tuple[int, ...] = PSP_BINS) -> None:
        super().__init__()
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(size), nn.Conv2d(channels, channels, 1, bias=False))
            for size in bins
        )
        self.bottleneck = nn.Conv2d(channels * (len(bins) + 1), channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        pooled = [
            F.interpolate(stage(x), size=size, mode="bilinear", align_corners=False)
            for stage in self.stages
        ]
        return torch.relu(self.bottleneck(torch.cat([*pooled, x], dim=1)))


class PRNEncoder(nn.Module):
    """Four recurrent-residual stages (max-pool between them) and PSP on the deepest map.

    Returns the maps at full, 1/2, 1/4 and 1/8 resolution with ``width``, 2x, 4x and
    8x ``width`` channels; the 1/8 map has passed through the PSP module.
    """

    def __init__(self, width: int, in_ch: int = 1) -> None:
        super().__init__()
        self.Maxpool = nn.MaxPool2d(2, 2)
        self.RRCNN1 = RecurrentResidualBlock(in_ch, width)
        self.RRCNN2 = RecurrentResidualBlock(width, 2 * width)
        self.RRCNN3 = RecurrentResidualBlock(2 * width, 4 * width)
        self.RRCNN4 = RecurrentResidualBlock(4 * width, 8 * width)
        self.psp = PyramidPooling(8 * width)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        full = self.RRCNN1(x)
        half = self.RRCNN2(self.Maxpool(full))
        quarter = self.RRCNN3(self.Maxpool(half))
        eighth = self.psp(self.RRCNN4(self.Maxpool(quarter)))
        return full, half, quarter, eighth


class PRNDecoderStage(nn.Module):
    """Upsample the coarse map, gate the skip with it, concatenate, recurrent-residual block."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.Up = UpsampleConv(in_ch, out_ch)
        self.Up_Conv = RecurrentResidualBlock(2 * out_ch, out_ch)
        self.Attn = AttentionGate(out_ch, out_ch, out_ch // 2)

    def forward(self, skip: Tensor, coarse: Tensor) -> Tensor:
        up = self.Up(coarse)
        return self.Up_Conv(torch.cat([self.Attn(up, skip), up], dim=1))
