"""BASNet: boundary-aware salient object detection (Qin et al., CVPR 2019).

A ResNet-34 encoder with two extra stages, a dilated bridge, a six-stage decoder with a
side output per stage, and a residual refinement module (RRM) on the finest side output.
At ``width=64`` the modules, state-dict keys and shapes are those of the published
``basnet.pth`` (87,060,360 parameters, 517 tensors), so that file loads strictly.
Unlike upstream, the outputs are logits: apply a sigmoid for probabilities.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import SegRefineError
from .base import SegRefineModel
from .checks import check_input
from .normalization import BASNET_NORM
from .registry import CheckpointSignature, ModelSpec, Settings, Tensors, register_family
from .resnet import RESNET34_BLOCKS, BasicBlock, make_layer

STRIDE = 32
EXTRA_BLOCKS = 3
PARTS = ("1", "m", "2")
Dilations = tuple[int, int, int]


def _conv3x3(in_ch: int, out_ch: int, dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution with bias that keeps the spatial size."""
    return nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation)


def _upsample(x: Tensor, factor: int) -> Tensor:
    """Bilinear upsampling by an integer factor (align_corners False, as upstream)."""
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


def _pool(x: Tensor) -> Tensor:
    """2x2 max-pool with ceil_mode, as upstream's ``pool4``/``pool5`` and RRM pools."""
    return F.max_pool2d(x, 2, 2, ceil_mode=True)


class _FlatConvBN(nn.Module):
    """Base for modules whose conv + BN pairs sit flat on the module (``convX``/``bnX``).

    Upstream names every layer as a direct attribute; keeping that layout keeps the
    checkpoint keys, so pairs are registered and looked up by their name suffix.
    """

    def _add_conv_bn(self, suffix: str, in_ch: int, out_ch: int, dilation: int = 1) -> None:
        self.add_module(f"conv{suffix}", _conv3x3(in_ch, out_ch, dilation))
        self.add_module(f"bn{suffix}", nn.BatchNorm2d(out_ch))

    def _add_triple(self, tag: str, channels: tuple[int, int, int], dilations: Dilations) -> None:
        """Three conv + BN layers ``conv{tag}_1``, ``_m``, ``_2``: in -> mid -> mid -> out."""
        in_ch, mid_ch, out_ch = channels
        chain = (in_ch, mid_ch, mid_ch, out_ch)
        for i, (part, dilation) in enumerate(zip(PARTS, dilations)):
            self._add_conv_bn(f"{tag}_{part}", chain[i], chain[i + 1], dilation)

    def _conv_bn_relu(self, suffix: str, x: Tensor) -> Tensor:
        conv = self.get_submodule(f"conv{suffix}")
        bn = self.get_submodule(f"bn{suffix}")
        return F.relu(bn(conv(x)), inplace=True)

    def _triple(self, tag: str, x: Tensor) -> Tensor:
        for part in PARTS:
            x = self._conv_bn_relu(f"{tag}_{part}", x)
        return x


class RefUnet(_FlatConvBN):
    """Residual refinement module: a 4-level U-Net that adds a residual to a logit map."""

    LEVELS = 4

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.conv0 = _conv3x3(1, width)
        for level in range(1, self.LEVELS + 2):
            self._add_conv_bn(str(level), width, width)
        for level in range(self.LEVELS, 0, -1):
            self._add_conv_bn(f"_d{level}", 2 * width, width)
        self.conv_d0 = _conv3x3(width, 1)

    def forward(self, logit: Tensor) -> Tensor:
        x = self.conv0(logit)
        skips = []
        for level in range(1, self.LEVELS + 1):
            x = self._conv_bn_relu(str(level), x)
            skips.append(x)
            x = _pool(x)
        x = self._conv_bn_relu(str(self.LEVELS + 1), x)
        for level in range(self.LEVELS, 0, -1):
            x = torch.cat((_upsample(x, 2), skips[level - 1]), 1)
            x = self._conv_bn_relu(f"_d{level}", x)
        return logit + self.conv_d0(x)


class BASNet(_FlatConvBN, SegRefineModel):
    """BASNet with upstream module names; eval returns logits of the refined map.

    Args:
        in_channels: input channels (3 for RGB; e.g. 4 for RGB+NIR). Only ``inconv``
            depends on it.
        num_classes: must be 1 (BASNet predicts one foreground map).
        width: base channel count; every layer scales with it (64 is upstream,
            8 is ``basnet_lite``).

    Input: B x in_channels x H x W, normalized, H and W multiples of 32.
    Output in eval mode: logits B x 1 x H x W of the refined map. In train mode: a tuple
    of 8 logit maps in upstream order (refined, d1, d2, d3, d4, d5, d6, bridge).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 1, width: int = 64) -> None:
        super().__init__()
        if num_classes != 1:
            raise SegRefineError(
                f"BASNet predicts one foreground map, got num_classes={num_classes}; "
                "use num_classes=1, or BiSeNet for several classes"
            )
        if width < 1 or in_channels < 1:
            raise SegRefineError(
                f"BASNet needs positive width and in_channels, got width={width}, "
                f"in_channels={in_channels}"
            )
        self.in_channels = in_channels
        w1, w2, w4, w8 = width, 2 * width, 4 * width, 8 * width
        self.inconv = _conv3x3(in_channels, w1)
        self.inbn = nn.BatchNorm2d(w1)
        self.encoder1 = make_layer(w1, w1, RESNET34_BLOCKS[0])
        self.encoder2 = make_layer(w1, w2, RESNET34_BLOCKS[1], stride=2)
        self.encoder3 = make_layer(w2, w4, RESNET34_BLOCKS[2], stride=2)
        self.encoder4 = make_layer(w4, w8, RESNET34_BLOCKS[3], stride=2)
        for stage in (5, 6):
            for index in range(1, EXTRA_BLOCKS + 1):
                self.add_module(f"resb{stage}_{index}", BasicBlock(w8, w8))
        self._add_triple("bg", (w8, w8, w8), (2, 2, 2))
        decoder = {  # stage: (in, mid, out) channels; "in" is upsampled + skip
            6: (2 * w8, w8, w8),
            5: (2 * w8, w8, w8),
            4: (2 * w8, w8, w4),
            3: (2 * w4, w4, w2),
            2: (2 * w2, w2, w1),
            1: (2 * w1, w1, w1),
        }
        for stage, channels in decoder.items():
            self._add_triple(f"{stage}d", channels, (1, 2, 2) if stage == 6 else (1, 1, 1))
        self.outconvb = _conv3x3(w8, 1)
        for stage, (_, _, out_ch) in decoder.items():
            self.add_module(f"outconv{stage}", _conv3x3(out_ch, 1))
        self.refunet = RefUnet(width)

    def encoder_modules(self) -> list[nn.Module]:
        """The encoder (input conv, ResNet-34 stages, extra stages 5 and 6), for freezing."""
        names = ["inconv", "inbn", "encoder1", "encoder2", "encoder3", "encoder4"]
        names += [f"resb{s}_{i}" for s in (5, 6) for i in range(1, EXTRA_BLOCKS + 1)]
        return [self.get_submodule(name) for name in names]

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, ...]:
        check_input(
            x, self.in_channels, STRIDE, "BASNet", "pad the image (predict() pads for you)"
        )
        features = self._encode(x)
        bridge = self._triple("bg", features[-1])
        decoded = self._decode(bridge, features)
        d1 = self.outconv1(decoded[1])
        refined = self.refunet(d1)
        if not self.training:
            return refined
        side = [
            _upsample(self.get_submodule(f"outconv{s}")(decoded[s]), 2 ** (s - 1))
            for s in range(2, 6)
        ]
        d6 = _upsample(self.outconv6(decoded[6]), STRIDE)
        bridge_logit = _upsample(self.outconvb(bridge), STRIDE)
        return (refined, d1, *side, d6, bridge_logit)

    def _encode(self, x: Tensor) -> list[Tensor]:
        """Features h1..h6 at strides 1, 2, 4, 8, 16, 32."""
        x = F.relu(self.inbn(self.inconv(x)), inplace=True)
        features = []
        for index in range(1, 5):
            x = self.get_submodule(f"encoder{index}")(x)
            features.append(x)
        for stage in (5, 6):
            x = _pool(x)
            for index in range(1, EXTRA_BLOCKS + 1):
                x = self.get_submodule(f"resb{stage}_{index}")(x)
            features.append(x)
        return features

    def _decode(self, bridge: Tensor, features: list[Tensor]) -> dict[int, Tensor]:
        """Decoder outputs by stage (6 is coarsest, 1 is full resolution)."""
        decoded: dict[int, Tensor] = {}
        x = bridge
        for stage in range(6, 0, -1):
            if stage < 6:
                x = _upsample(x, 2)
            x = self._triple(f"{stage}d", torch.cat((x, features[stage - 1]), 1))
            decoded[stage] = x
        return decoded


def _settings(state: Tensors) -> Settings:
    weight = state["inconv.weight"]
    return {"width": int(weight.shape[0]), "in_channels": int(weight.shape[1])}


def _model_name(settings: Settings) -> str:
    return "basnet_lite" if settings["width"] == 8 else "basnet"


register_family(
    ModelSpec(
        "basnet",
        "basnet",
        BASNet,
        {},
        BASNET_NORM,
        description="BASNet (ResNet-34 encoder, 87.1 M params), salient objects",
        weights=("basnet_duts",),
    ),
    ModelSpec(
        "basnet_lite",
        "basnet",
        BASNet,
        {"width": 8},
        BASNET_NORM,
        description="BASNet at 1/8 width for CPUs, tests and the shipped demo",
    ),
    signature=CheckpointSignature("basnet", "refunet.conv0.weight", _settings, _model_name),
)
