"""Training losses for BASNet, BiSeNet and PatchRefineNet that honour a valid mask.

Every loss takes the models' logits, a target and a ``valid`` mask (B x 1 x H x W or
B x H x W, bool or float; positive values mark pixels the user corrected or
confirmed). Pixels outside the mask contribute nothing and get exactly zero gradient:
before any arithmetic their logits and targets are swapped for constants with
`torch.where`, so even NaN or inf there cannot leak into the loss. Means are taken over
valid pixels; a batch without any valid pixel gives a loss of 0 (still attached to the
graph, so ``backward()`` works and yields zero gradients).

Windowed terms (SSIM's 11 x 11 window, the PRN edge term's 3 x 3 Laplacian) see
invalid pixels of their neighbourhood as 0 in BOTH maps (the prediction is filled with
the filled target there). Those pixels are constants, so they get no gradient, and a
prediction equal to the target on the valid pixels still reaches the optimum; but the
local statistics of valid pixels near the mask border are computed as if the
surroundings were background.

All losses run in float32 with autocast switched off: SSIM's small constants and BCE on
probabilities are not safe in float16, and autocast refuses ``binary_cross_entropy``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import SegRefineError

Outputs = Tensor | Sequence[Tensor]

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2
OHEM_THRESH = 0.7
OHEM_MIN_KEPT_FRACTION = 1 / 16
PRN_RST_WEIGHT = 0.7  # total = 0.7 * region-specific + 0.3 * regularization
PRN_FOCAL_WEIGHT = 0.7  # region-specific = 0.7 * focal + 0.3 * edge
FOCAL_ALPHA = 0.25
FOCAL_GAMMA = 2.0
REG_POSITIVE_WEIGHT = 1.12
REG_NEGATIVE_WEIGHT = 1.0
UPSTREAM_REG_EPS = 1e-15
TORCH_LOG_CLAMP = -100.0
_LAPLACIAN = ((-1.0, -1.0, -1.0), (-1.0, 8.0, -1.0), (-1.0, -1.0, -1.0))
_TINY = 1e-12


@contextmanager
def _full_precision(device: torch.device) -> Iterator[None]:
    with torch.autocast(device_type=device.type, enabled=False):
        yield


def _as_list(outputs: Outputs) -> list[Tensor]:
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    if not outputs:
        raise SegRefineError("the model gave no outputs to compute a loss on; pass its logits")
    return outputs


def _to_bchw(x: Tensor, name: str) -> Tensor:
    if x.ndim == 3:
        return x.unsqueeze(1)
    if x.ndim == 4 and x.shape[1] == 1:
        return x
    raise SegRefineError(
        f"{name} must be B x H x W or B x 1 x H x W, got shape {tuple(x.shape)}; "
        "pass one map per sample"
    )


def _valid_mask(valid: Tensor | None, like: Tensor) -> Tensor:
    """Boolean B x 1 x H x W mask for ``like`` (B x C x H x W); None means all valid."""
    shape = (like.shape[0], 1, *like.shape[-2:])
    if valid is None:
        return torch.ones(shape, dtype=torch.bool, device=like.device)
    mask = _to_bchw(valid, "valid") > 0
    if tuple(mask.shape) != shape:
        raise SegRefineError(
            f"valid mask has shape {tuple(mask.shape)} but the prediction needs {shape}; "
            "give one mask per sample at the prediction's size"
        )
    return mask.to(like.device)


def _resized(logits: Tensor, size: torch.Size) -> Tensor:
    """Logits at the target's spatial size (aux heads may come at a lower resolution)."""
    if logits.shape[-2:] == size:
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


def _binary_inputs(
    logits: Tensor, target: Tensor, valid: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """float32 ``(logits, target, mask)`` of shape B x 1 x H x W, invalid pixels set to 0."""
    target = _to_bchw(target, "target").float()
    logits = _resized(_to_bchw(logits, "logits").float(), target.shape[-2:])
    mask = _valid_mask(valid, logits)
    return torch.where(mask, logits, 0.0), torch.where(mask, target, 0.0), mask


def _probabilities(logits: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """sigmoid(logits) on valid pixels, the (filled) target elsewhere: constant there."""
    return torch.where(mask, torch.sigmoid(logits), target)


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` over the pixels where ``mask`` (broadcastable) is True; 0 if none."""
    mask = mask.expand_as(values)
    return torch.where(mask, values, 0.0).sum() / mask.sum().clamp_min(1)


def bce_loss(logits: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
    """Binary cross-entropy with logits, mean over valid pixels."""
    with _full_precision(logits.device):
        logits, target, mask = _binary_inputs(logits, target, valid)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return masked_mean(bce, mask)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> Tensor:
    """Normalized 2-D Gaussian window (outer product of a normalized 1-D Gaussian)."""
    offsets = torch.arange(size, dtype=torch.float32) - size // 2
    line = torch.exp(-(offsets**2) / (2 * sigma**2))
    line = line / line.sum()
    return line[:, None] * line[None, :]


def ssim_map(x: Tensor, y: Tensor) -> Tensor:
    """Per-pixel SSIM of two B x C x H x W maps (Gaussian window, zero padding)."""
    channels = x.shape[1]
    window = gaussian_window().to(x.device).expand(channels, 1, -1, -1)

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(t, window, padding=SSIM_WINDOW // 2, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x * mu_x
    var_y = blur(y * y) - mu_y * mu_y
    cov = blur(x * y) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + SSIM_C1) * (2 * cov + SSIM_C2)
    denominator = (mu_x * mu_x + mu_y * mu_y + SSIM_C1) * (var_x + var_y + SSIM_C2)
    return numerator / denominator


def ssim_loss(logits: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
    """1 - SSIM(sigmoid(logits), target), SSIM averaged over valid pixels."""
    with _full_precision(logits.device):
        logits, target, mask = _binary_inputs(logits, target, valid)
        prob = _probabilities(logits, target, mask)
        return masked_mean(1.0 - ssim_map(prob, target), mask)


def iou_loss(logits: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
    """Soft IoU loss per sample, 1 - sum(p g) / (sum p + sum g - sum p g), over valid pixels.

    Averaged over the samples that have valid pixels; the others contribute 0.
    """
    with _full_precision(logits.device):
        logits, target, mask = _binary_inputs(logits, target, valid)
        prob = torch.where(mask, torch.sigmoid(logits), 0.0).flatten(1)
        target = target.flatten(1)
        intersection = (prob * target).sum(1)
        union = prob.sum(1) + target.sum(1) - intersection
        has_valid = mask.flatten(1).any(1)
        per_sample = torch.where(has_valid, 1.0 - intersection / union.clamp_min(_TINY), 0.0)
        return per_sample.sum() / has_valid.sum().clamp_min(1)


def basnet_hybrid_loss(outputs: Outputs, target: Tensor, valid: Tensor | None = None) -> Tensor:
    """BASNet's hybrid loss: BCE + (1 - SSIM) + IoU per output, summed with weight 1.

    Args:
        outputs: logits B x 1 x H x W, or the sequence of side outputs (8 in train mode).
        target: B x 1 x H x W or B x H x W foreground in [0, 1].
        valid: mask of pixels to train on; None trains on all.
    """
    return sum(
        bce_loss(x, target, valid) + ssim_loss(x, target, valid) + iou_loss(x, target, valid)
        for x in _as_list(outputs)
    )


def _pixel_ce(logits: Tensor, target: Tensor, valid: Tensor | None) -> tuple[Tensor, Tensor]:
    """Per-pixel cross-entropy and the valid mask, both B x H x W."""
    if logits.shape[1] == 1:
        logits, target, mask = _binary_inputs(logits, target, valid)
        ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return ce[:, 0], mask[:, 0]
    target = _to_bchw(target, "target")[:, 0]
    logits = _resized(logits.float(), target.shape[-2:])
    mask = _valid_mask(valid, logits)
    target = torch.where(mask[:, 0], target.long(), 0)
    if target.min() < 0 or target.max() >= logits.shape[1]:
        raise SegRefineError(
            f"class labels on valid pixels must lie in 0..{logits.shape[1] - 1}, got "
            f"{int(target.min())}..{int(target.max())}; mark unknown pixels invalid instead"
        )
    ce = F.cross_entropy(torch.where(mask, logits, 0.0), target, reduction="none")
    return ce, mask[:, 0]


def ohem_ce_loss(
    logits: Tensor,
    target: Tensor,
    valid: Tensor | None = None,
    thresh: float = OHEM_THRESH,
    min_kept_fraction: float = OHEM_MIN_KEPT_FRACTION,
) -> Tensor:
    """BiSeNet's online hard example mining cross-entropy over valid pixels.

    Keeps the valid pixels whose loss exceeds ``-ln(thresh)``, but at least the
    ``floor(n_valid * min_kept_fraction)`` hardest, and returns their mean.

    Args:
        logits: B x C x H x W; C == 1 uses BCE with logits against a 0/1 target,
            C > 1 softmax cross-entropy against class indices (B x H x W).
        target: 0/1 map (C == 1) or class indices (C > 1).
        valid: mask of pixels to train on; None trains on all.
        thresh: probability of the true class under which a pixel counts as hard.
        min_kept_fraction: share of valid pixels always kept.
    """
    with _full_precision(logits.device):
        per_pixel, mask = _pixel_ce(logits, target, valid)
        losses = per_pixel[mask]
        n_min = math.floor(losses.numel() * min_kept_fraction)
        hard = losses[losses > -math.log(thresh)]
        if hard.numel() < n_min:
            hard = losses.topk(n_min).values
        if hard.numel() == 0:
            return losses.sum() * 0.0
        return hard.mean()


def bisenet_loss(
    outputs: Outputs,
    target: Tensor,
    valid: Tensor | None = None,
    thresh: float = OHEM_THRESH,
    min_kept_fraction: float = OHEM_MIN_KEPT_FRACTION,
) -> Tensor:
    """BiSeNet training loss: OHEM CE of the main output plus each aux head, weight 1.

    Aux logits at a lower resolution are upsampled bilinearly to the target's size.
    """
    return sum(
        ohem_ce_loss(x, target, valid, thresh, min_kept_fraction) for x in _as_list(outputs)
    )


def _edges(x: Tensor) -> Tensor:
    """relu(tanh(Laplacian(x))) with a 3 x 3 kernel (8 centre, -1 around), zero padding 1."""
    kernel = torch.tensor(_LAPLACIAN, device=x.device).view(1, 1, 3, 3)
    return F.relu(torch.tanh(F.conv2d(x, kernel, padding=1)))


def _bce_label_as_input(label: Tensor, prob: Tensor) -> Tensor:
    """torch's probability BCE with a constant label as *input* and ``prob`` as target.

    The values equal ``F.binary_cross_entropy(label, prob)`` (logs clamped at -100); the
    gradient is that of this formula with respect to ``prob``, finite everywhere.
    """
    log_pos = torch.log(label).clamp_min(TORCH_LOG_CLAMP)
    log_neg = torch.log(1.0 - label).clamp_min(TORCH_LOG_CLAMP)
    return -(prob * log_pos.detach() + (1.0 - prob) * log_neg.detach())


def _focal(bce: Tensor) -> Tensor:
    return (1.0 - FOCAL_ALPHA) * (1.0 - torch.exp(-bce)) ** FOCAL_GAMMA * bce


def region_specific_loss(
    logits: Tensor,
    pseudo_label: Tensor,
    valid: Tensor | None = None,
    upstream_argument_order: bool = False,
) -> Tensor:
    """PRN's loss against the patch-threshold pseudo-label: 0.7 focal + 0.3 edge BCE.

    See `prn_loss` for ``upstream_argument_order``.
    """
    with _full_precision(logits.device):
        logits, label, mask = _binary_inputs(logits, pseudo_label, valid)
        prob = _probabilities(logits, label, mask)
        if upstream_argument_order:
            bce = _bce_label_as_input(label, prob)
            edge = _bce_label_as_input(_edges(label), _edges(prob))
        else:
            bce = F.binary_cross_entropy_with_logits(logits, label, reduction="none")
            edge = F.binary_cross_entropy(_edges(prob), _edges(label), reduction="none")
        focal = masked_mean(_focal(bce), mask)
        return PRN_FOCAL_WEIGHT * focal + (1.0 - PRN_FOCAL_WEIGHT) * masked_mean(edge, mask)


def regularization_loss(
    logits: Tensor,
    gt: Tensor,
    valid: Tensor | None = None,
    upstream_argument_order: bool = False,
) -> Tensor:
    """PRN's weighted BCE against the ground truth (weight 1.12 on positives, 1.0 on negatives).

    See `prn_loss` for ``upstream_argument_order``.
    """
    with _full_precision(logits.device):
        logits, gt, mask = _binary_inputs(logits, gt, valid)
        if upstream_argument_order:
            prob = _probabilities(logits, gt, mask)
            log_pos = torch.log(gt + UPSTREAM_REG_EPS)
            log_neg = torch.log(1.0 - gt + UPSTREAM_REG_EPS)
            weighted = -(
                REG_POSITIVE_WEIGHT * prob * log_pos + REG_NEGATIVE_WEIGHT * (1 - prob) * log_neg
            )
        else:
            weighted = -(
                REG_POSITIVE_WEIGHT * gt * F.logsigmoid(logits)
                + REG_NEGATIVE_WEIGHT * (1 - gt) * F.logsigmoid(-logits)
            )
        return masked_mean(weighted, mask)


def prn_loss(
    global_logits: Tensor,
    local_logits: Tensor | None,
    pseudo_label: Tensor,
    gt: Tensor,
    valid: Tensor | None = None,
    upstream_argument_order: bool = False,
) -> Tensor:
    """PatchRefineNet training loss: 0.7 region-specific + 0.3 regularization.

    Each term is the mean of its global- and local-head values (global only when
    ``local_logits`` is None, as for P0).

    Args:
        global_logits: B x 1 x H x W logits of the global decoder.
        local_logits: same for the local decoder, or None.
        pseudo_label: patch-optimal-threshold binary map (the region-specific target).
        gt: ground-truth binary map (the regularization target).
        valid: mask of pixels to train on; None trains on all.
        upstream_argument_order: False (default) treats the network output as the
            prediction and the labels as targets. True reproduces the published training
            script, which passed them swapped: the 0/1 label becomes the BCE *input* (its
            log clamped at -100, the regularization's at log(1e-15)) and the network's
            probability the *target*. The terms then degenerate to roughly linear
            penalties, about 75 |p - label| for the focal term and 38.7 p on GT-negative /
            34.5 (1 - p) on GT-positive pixels for the regularization, with the edge
            term comparing Laplacians the other way round. Use it only to reproduce the
            published PRN checkpoints' training.
    """
    heads = [global_logits] if local_logits is None else [global_logits, local_logits]
    order = upstream_argument_order
    rst = sum(region_specific_loss(h, pseudo_label, valid, order) for h in heads) / len(heads)
    reg = sum(regularization_loss(h, gt, valid, order) for h in heads) / len(heads)
    return PRN_RST_WEIGHT * rst + (1.0 - PRN_RST_WEIGHT) * reg
