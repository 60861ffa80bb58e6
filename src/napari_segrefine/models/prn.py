"""PatchRefineNet (PRN): refines a probability map with a global and a patch-local decoder.

A reimplementation from the paper's description and the published checkpoints' layout
(savinay95n/PatchRefineNet, WACV 2024); no upstream code is used. One encoder feeds
two decoders of the same shape. The global decoder sees the whole map. The local
decoder sees each tile of a square grid on its own (zero padding at tile borders, no
context across tiles); here all tiles are folded into the batch and decoded in one
call. The tile size is chosen at call time.

Variants (state-dict keys and shapes equal upstream's at ``width=32``):

- ``p64``: 8x8 grid by default (64-px tiles at 512x512), heads ``out_global/out_local``.
- ``p4``: 4x4 grid by default (128-px tiles at 512x512), heads
  ``conv_last_global/conv_last_local``.
- ``p0``: global decoder only, 1x1 output conv ``out_global``.

Outputs are logits; upstream applied a sigmoid inside the network.

Two settings of ours, off by default (upstream's behaviour):

- ``residual=True``: both heads predict a correction added to the input's own logit,
  ``logit(prob)``, and start at zero, so an untrained PRN returns its input.
- ``combine``: how `refine` turns the two heads into one mask (see `COMBINE_RULES`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import SegRefineError
from .base import SegRefineModel
from .checks import check_input
from .normalization import PROBABILITY_NORM
from .prn_blocks import PRNDecoderStage, PRNEncoder
from .registry import CheckpointSignature, ModelSpec, Settings, Tensors, register_family

VARIANTS = ("p64", "p4", "p0")
DEFAULT_GRID = {"p64": 8, "p4": 4}
HEAD_NAMES = {
    "p64": ("out_global", "out_local"),
    "p4": ("conv_last_global", "conv_last_local"),
    "p0": ("out_global", None),
}
COMBINE_RULES = {
    "union": "global OR dilate3x3(global AND local) (upstream)",
    "global": "the global head alone",
    "local": "the patch-local head alone",
}
LOGIT_CLAMP = 1e-4  # residual PRN: logit(prob) of probabilities clamped to [1e-4, 1 - 1e-4]
PATCH_MULTIPLE = 8  # tiles must stay whole at the encoder's 1/8 resolution
QUIRK_ROW = 6  # upstream bug, 0-based: tile row 7 ...
QUIRK_SOURCE_ROW = 2  # ... takes its 1/2-resolution skip from tile row 3


def valid_patch_sizes(height: int, width: int) -> list[int]:
    """Patch sizes (pixels) that tile a ``height`` x ``width`` input for the local decoder."""
    return [
        size
        for size in range(PATCH_MULTIPLE, min(height, width) + 1, PATCH_MULTIPLE)
        if height % size == 0 and width % size == 0
    ]


def split_into_tiles(x: Tensor, rows: int, cols: int, row_order: Tensor | None = None) -> Tensor:
    """Cut B x C x H x W into a rows x cols grid and fold the tiles into the batch.

    Args:
        x: feature map whose height and width divide by ``rows`` and ``cols``.
        rows: tiles per column of the grid.
        cols: tiles per row of the grid.
        row_order: optional source tile row for each output tile row (a permutation or
            a mapping with repeats); None keeps the natural order.

    Returns:
        Tensor of shape (B * rows * cols) x C x H/rows x W/cols, image-major, then
        tiles in row-major order.
    """
    batch, channels, height, width = x.shape
    grid = x.reshape(batch, channels, rows, height // rows, cols, width // cols)
    if row_order is not None:
        grid = grid.index_select(2, row_order)
    tiles = grid.permute(0, 2, 4, 1, 3, 5)
    return tiles.reshape(batch * rows * cols, channels, height // rows, width // cols)


def join_tiles(tiles: Tensor, rows: int, cols: int) -> Tensor:
    """Inverse of `split_into_tiles` (without ``row_order``): stitch tiles back together."""
    count, channels, tile_h, tile_w = tiles.shape
    grid = tiles.reshape(count // (rows * cols), rows, cols, channels, tile_h, tile_w)
    return grid.permute(0, 3, 1, 4, 2, 5).reshape(-1, channels, rows * tile_h, cols * tile_w)


def upstream_skip_row_order(rows: int, device: torch.device) -> Tensor | None:
    """Tile-row order of the 1/2-resolution skip that reproduces upstream's slicing bug.

    Upstream P64 (8x8 grid) feeds tile row 7 (1-based) the 1/2-resolution skip of tile
    row 3. We generalize by tile index: in any grid with at least 7 rows, row 7 reads
    row 3 and all other rows read their own; smaller grids are unaffected (None).
    """
    if rows <= QUIRK_ROW:
        return None
    order = torch.arange(rows, device=device)
    order[QUIRK_ROW] = QUIRK_SOURCE_ROW
    return order


class PatchRefineNet(SegRefineModel):
    """PatchRefineNet on a B x 1 x H x W probability map (H, W multiples of 8).

    In eval mode the batched local decoder equals a per-tile loop to float error. In
    train mode batch norm pools statistics over all tiles of the batch, whereas
    upstream normalized each tile's call on its own.

    Args:
        variant: ``p64``, ``p4`` or ``p0`` (see the module docstring).
        width: channels of the first stage; stages have 1, 2, 4, 8 times this.
            32 matches the published checkpoints.
        patch_size: default tile size in input pixels for the local decoder; None means
            H/8 for ``p64`` and H/4 for ``p4``. Ignored by ``p0``.
        upstream_row7_quirk: reproduce upstream's skip-slice bug (see
            `upstream_skip_row_order`); set it only to run published weights exactly.
        residual: heads predict a correction to ``logit(prob)`` and start at zero (an
            untrained model returns its input); False is upstream's PRN.
        combine: the rule `refine` uses to make one mask of the two heads, a key of
            `COMBINE_RULES` (``local`` needs a local decoder).
    """

    def __init__(
        self,
        variant: str = "p64",
        width: int = 32,
        patch_size: int | None = None,
        upstream_row7_quirk: bool = False,
        residual: bool = False,
        combine: str = "union",
    ) -> None:
        super().__init__()
        _check_settings(variant, width, patch_size)
        _check_combine(variant, combine)
        self.variant = variant
        self.width = width
        self.patch_size = patch_size
        self.upstream_row7_quirk = upstream_row7_quirk
        self.residual = residual
        self.combine = combine
        self.encoding = PRNEncoder(width)
        branches = ["global"] if variant == "p0" else ["global", "local"]
        for branch in branches:
            for level, scale in ((3, 8), (2, 4), (1, 2)):
                stage = PRNDecoderStage(scale * width, scale * width // 2)
                self.add_module(f"decode{level}_{branch}", stage)
        kernel = 1 if variant == "p0" else 3
        for name in HEAD_NAMES[variant]:
            if name is not None:
                head = nn.Sequential(nn.Conv2d(width, 1, kernel, padding=kernel // 2))
                if residual:
                    nn.init.zeros_(head[0].weight)
                    nn.init.zeros_(head[0].bias)
                self.add_module(name, head)

    def encoder_modules(self) -> list[nn.Module]:
        """The encoder that both decoders share; freezing it trains only the decoders."""
        return [self.encoding]

    @property
    def has_local(self) -> bool:
        """Whether this variant has the patch-local decoder."""
        return self.variant != "p0"

    def forward(self, prob: Tensor, patch_size: int | None = None) -> tuple[Tensor, Tensor | None]:
        """Refine ``prob``.

        Args:
            prob: B x 1 x H x W probabilities in [0, 1]; H and W multiples of 8.
            patch_size: tile size in pixels for this call; None uses ``self.patch_size``
                (or its H-based default). Must be a multiple of 8 dividing H and W.

        Returns:
            ``(global_logits, local_logits)``, each B x 1 x H x W; ``local_logits`` is
            None for ``p0``. With ``residual``, both include ``logit(prob)``.
        """
        check_input(prob, 1, PATCH_MULTIPLE, "PRN", "pad or resize the probability map")
        features = self.encoding(prob)
        offset = torch.logit(prob.clamp(LOGIT_CLAMP, 1.0 - LOGIT_CLAMP)) if self.residual else 0
        global_logits = self._head("global")(self._decode("global", features)) + offset
        if not self.has_local:
            return global_logits, None
        size = self._resolve_patch_size(prob.shape[-2], prob.shape[-1], patch_size)
        return global_logits, self._local_logits(features, size) + offset

    def _local_logits(self, features: tuple[Tensor, ...], patch_size: int) -> Tensor:
        height, width = features[0].shape[-2:]
        rows, cols = height // patch_size, width // patch_size
        half_rows = None
        if self.upstream_row7_quirk:
            half_rows = upstream_skip_row_order(rows, features[0].device)
        orders = (None, half_rows, None, None)
        tiles = tuple(
            split_into_tiles(feature, rows, cols, order)
            for feature, order in zip(features, orders)
        )
        logits = self._head("local")(self._decode("local", tiles))
        return join_tiles(logits, rows, cols)

    def _decode(self, branch: str, features: tuple[Tensor, ...]) -> Tensor:
        full, half, quarter, eighth = features
        x = getattr(self, f"decode3_{branch}")(quarter, eighth)
        x = getattr(self, f"decode2_{branch}")(half, x)
        return getattr(self, f"decode1_{branch}")(full, x)

    def _head(self, branch: str) -> nn.Module:
        global_name, local_name = HEAD_NAMES[self.variant]
        return getattr(self, global_name if branch == "global" else local_name)

    def _resolve_patch_size(self, height: int, width: int, patch_size: int | None) -> int:
        size = patch_size if patch_size is not None else self.patch_size
        origin = "patch_size"
        if size is None:
            size = height // DEFAULT_GRID[self.variant]
            origin = f"default patch size (H/{DEFAULT_GRID[self.variant]})"
        valid = valid_patch_sizes(height, width)
        if size not in valid:
            raise SegRefineError(
                f"{origin} {size} does not tile a {height}x{width} input; choose a multiple "
                f"of {PATCH_MULTIPLE} that divides both sides: {valid}"
            )
        return size

    def extra_repr(self) -> str:
        return (
            f"variant={self.variant!r}, width={self.width}, patch_size={self.patch_size}, "
            f"upstream_row7_quirk={self.upstream_row7_quirk}, residual={self.residual}, "
            f"combine={self.combine!r}"
        )


def _check_settings(variant: str, width: int, patch_size: int | None) -> None:
    if variant not in VARIANTS:
        raise SegRefineError(f"unknown PRN variant {variant!r}; choose one of {list(VARIANTS)}")
    if width < 2:
        raise SegRefineError(f"PRN width must be at least 2, got {width}; 32 is upstream's")
    if patch_size is not None and (patch_size <= 0 or patch_size % PATCH_MULTIPLE):
        raise SegRefineError(
            f"PRN patch_size must be a positive multiple of {PATCH_MULTIPLE}, got {patch_size}"
        )


def _check_combine(variant: str, combine: str) -> None:
    if combine not in COMBINE_RULES or (combine == "local" and variant == "p0"):
        rules = [r for r in COMBINE_RULES if variant != "p0" or r != "local"]
        raise SegRefineError(
            f"PRN combine rule {combine!r} is not available for {variant}; choose one of {rules}"
        )


def _settings(state: Tensors) -> Settings:
    """Variant and width; a header-less full-width P64 file is upstream's ``p64_weights.th``.

    Upstream published only full-width P64 files (our own files carry a header), so
    those get ``upstream_row7_quirk=True`` and reproduce the published numbers.
    """
    if any(k.startswith("out_local") for k in state):
        variant = "p64"
    elif any(k.startswith("conv_last_local") for k in state):
        variant = "p4"
    else:
        variant = "p0"
    width = int(state["encoding.RRCNN1.Conv_1x1.weight"].shape[0])
    quirk = variant == "p64" and width == 32
    return {"variant": variant, "width": width, "upstream_row7_quirk": quirk}


def _model_name(settings: Settings) -> str:
    lite = "_lite" if settings["width"] == 16 and settings["variant"] == "p64" else ""
    return f"prn_{settings['variant']}{lite}"


def _spec(name: str, kwargs: Settings, description: str, weights: tuple = ()) -> ModelSpec:
    help_line = f"PatchRefineNet on probability maps, {description}"
    return ModelSpec(
        name, "prn", PatchRefineNet, kwargs, PROBABILITY_NORM, "probability", help_line, weights
    )


register_family(
    _spec(
        "prn_p64",
        {"variant": "p64"},
        "8x8 local patches",
        ("prn_p64_duts", "prn_p64_kvasir", "prn_p64_deepglobe"),
    ),
    _spec("prn_p4", {"variant": "p4"}, "4x4 local patches"),
    _spec("prn_p0", {"variant": "p0"}, "global path only"),
    _spec(
        "prn_p64_lite", {"variant": "p64", "width": 16}, "8x8 patches, half width (shipped demo)"
    ),
    signature=CheckpointSignature(
        "prn", "encoding.RRCNN1.Conv_1x1.weight", _settings, _model_name
    ),
)
