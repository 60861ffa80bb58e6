"""ResNet-18/34 building blocks with torchvision's module and key names.

torchvision does not import next to the CPU build of torch on our machines, so the
few pieces BASNet and BiSeNet need are written here; the state-dict keys
(``conv1``, ``bn1``, ``layerN.B.downsample.0`` ...) match torchvision's so that
upstream checkpoints load strictly.
"""

from __future__ import annotations

from torch import Tensor, nn


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution without bias, padding 1 (as in torchvision)."""
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 conv+BN layers with an identity (or 1x1 conv+BN) shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_ch, out_ch, stride)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(out_ch, out_ch)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


def make_layer(in_ch: int, out_ch: int, blocks: int, stride: int = 1) -> nn.Sequential:
    """A ResNet stage: ``blocks`` BasicBlocks, the first one strided."""
    layers = [BasicBlock(in_ch, out_ch, stride)]
    layers += [BasicBlock(out_ch, out_ch) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


RESNET18_BLOCKS = (2, 2, 2, 2)
RESNET34_BLOCKS = (3, 4, 6, 3)


class ResNetTrunk(nn.Module):
    """ResNet stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool) and ``layer1..4``.

    Returns the outputs of ``layer2``, ``layer3`` and ``layer4`` (strides 8, 16, 32),
    which is what BiSeNet V1's context path consumes. No ``fc`` head.
    """

    def __init__(
        self,
        blocks: tuple[int, int, int, int] = RESNET18_BLOCKS,
        widths: tuple[int, int, int, int] = (64, 128, 256, 512),
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = make_layer(widths[0], widths[0], blocks[0])
        self.layer2 = make_layer(widths[0], widths[1], blocks[1], stride=2)
        self.layer3 = make_layer(widths[1], widths[2], blocks[2], stride=2)
        self.layer4 = make_layer(widths[2], widths[3], blocks[3], stride=2)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        feat4 = self.layer1(x)
        feat8 = self.layer2(feat4)
        feat16 = self.layer3(feat8)
        feat32 = self.layer4(feat16)
        return feat8, feat16, feat32
