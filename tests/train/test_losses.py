"""Losses on hand-made cases: values, masking, gradients, degenerate batches."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from napari_segrefine.errors import SegRefineError
from napari_segrefine.train.losses import (
    UPSTREAM_REG_EPS,
    basnet_hybrid_loss,
    bce_loss,
    bisenet_loss,
    gaussian_window,
    iou_loss,
    ohem_ce_loss,
    prn_loss,
    region_specific_loss,
    regularization_loss,
    ssim_loss,
    ssim_map,
)

LN2 = math.log(2.0)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _binary_case(seed: int = 0, size: int = 16) -> tuple[Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 1, size, size, generator=gen)
    target = (torch.rand(2, 1, size, size, generator=gen) > 0.5).float()
    valid = torch.rand(2, size, size, generator=gen) > 0.4
    return logits, target, valid


# Every loss as f(logits, target, valid); multi-class ones take B x 3 x H x W logits.
BINARY_LOSSES = {
    "bce": bce_loss,
    "ssim": ssim_loss,
    "iou": iou_loss,
    "basnet": lambda x, t, v: basnet_hybrid_loss([x, 0.5 * x, 2 * x], t, v),
    "ohem_binary": ohem_ce_loss,
    "bisenet_binary": lambda x, t, v: bisenet_loss([x, 2 * x], t, v),
    "prn": lambda x, t, v: prn_loss(x, 0.5 * x, t, 1 - t, v),
    "prn_p0": lambda x, t, v: prn_loss(x, None, t, t, v),
    "prn_upstream": lambda x, t, v: prn_loss(x, 0.5 * x, t, 1 - t, v, True),
    "region_specific": region_specific_loss,
    "regularization": regularization_loss,
}
MULTICLASS_LOSSES = {
    "ohem_multiclass": ohem_ce_loss,
    "bisenet_multiclass": lambda x, t, v: bisenet_loss([x, x.flip(1)], t, v),
}


def _case(name: str, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    logits, target, valid = _binary_case(seed)
    if name in MULTICLASS_LOSSES:
        gen = torch.Generator().manual_seed(seed + 1)
        logits = torch.randn(2, 3, 16, 16, generator=gen)
        target = torch.randint(0, 3, (2, 16, 16), generator=gen)
    return logits, target, valid


ALL_LOSSES = {**BINARY_LOSSES, **MULTICLASS_LOSSES}


def test_bce_matches_hand_computation():
    logits = torch.tensor([[[[0.0, 2.0], [-1.0, 3.0]]]])
    target = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    valid = torch.tensor([[[True, True], [True, False]]])
    expected = (LN2 + math.log(1 + math.e**2) + math.log(1 + math.e**-1)) / 3
    assert bce_loss(logits, target, valid).item() == pytest.approx(expected, rel=1e-6)


def test_iou_matches_hand_computation_and_skips_samples_without_valid_pixels():
    probs = [[0.5, 0.25], [0.75, 0.9]]
    logits = torch.tensor([[[_logit(p) for p in row] for row in probs]] * 2).unsqueeze(1)
    target = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]] * 2)
    valid = torch.tensor([[[1.0, 1.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    # sample 1: intersection 0.5 + 0.75, sum p 1.5, sum g 2; sample 2 has no valid pixel.
    expected = 1 - 1.25 / (1.5 + 2 - 1.25)
    assert iou_loss(logits, target, valid).item() == pytest.approx(expected, rel=1e-6)


def test_gaussian_window_is_normalized_with_sigma_1_5():
    window = gaussian_window()
    assert window.shape == (11, 11)
    assert window.sum().item() == pytest.approx(1.0, abs=1e-6)
    ratio = (window[5, 0] / window[5, 5]).item()
    assert ratio == pytest.approx(math.exp(-25 / (2 * 1.5**2)), rel=1e-5)


def test_ssim_of_identical_maps_is_one_and_loss_zero():
    x = torch.rand(2, 1, 24, 24)
    assert torch.equal(ssim_map(x, x), torch.ones_like(x))
    target = (x > 0.5).float()
    perfect = (target * 2 - 1) * 40  # sigmoid rounds to exactly 0 and 1
    assert ssim_loss(perfect, target).item() == pytest.approx(0.0, abs=1e-6)


def test_ssim_of_constant_maps_matches_formula_away_from_borders():
    a, b = 0.2, 0.7
    x, y = torch.full((1, 1, 16, 16), a), torch.full((1, 1, 16, 16), b)
    c1 = 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)  # variances are 0 inside
    # float32 variances (E[x^2] - mu^2) carry ~1e-7 of cancellation noise next to C2.
    assert ssim_map(x, y)[0, 0, 8, 8].item() == pytest.approx(expected, rel=2e-3)


def test_regularization_weighted_bce_hand_values():
    logits = torch.zeros(1, 1, 1, 2)  # p = 0.5
    gt = torch.tensor([[[[1.0, 0.0]]]])
    expected = (1.12 * LN2 + 1.0 * LN2) / 2
    assert regularization_loss(logits, gt).item() == pytest.approx(expected, rel=1e-6)


def test_regularization_upstream_order_reproduces_swapped_arguments():
    logits = torch.tensor([[[[_logit(0.3), _logit(0.8)]]]])
    gt = torch.tensor([[[[1.0, 0.0]]]])
    log_eps = -math.log(UPSTREAM_REG_EPS)
    # GT-positive pixel: (1 - p) * 34.5; GT-negative pixel: 1.12 * p * 34.5.
    expected = (0.7 * log_eps + 1.12 * 0.8 * log_eps) / 2
    value = regularization_loss(logits, gt, upstream_argument_order=True).item()
    assert value == pytest.approx(expected, rel=1e-5)


def _edges(x: Tensor) -> Tensor:
    kernel = -torch.ones(1, 1, 3, 3)
    kernel[0, 0, 1, 1] = 8.0
    return F.relu(torch.tanh(F.conv2d(x, kernel, padding=1)))


def test_region_specific_right_order_hand_value():
    logits = torch.zeros(1, 1, 8, 8)  # p = 0.5: BCE ln 2 against label 1
    label = torch.ones(1, 1, 8, 8)
    focal = 0.75 * (1 - math.exp(-LN2)) ** 2 * LN2
    # Zero padding gives both flat maps edges on their border ring.
    edge = F.binary_cross_entropy(_edges(torch.full_like(label, 0.5)), _edges(label))
    expected = 0.7 * focal + 0.3 * edge.item()
    assert region_specific_loss(logits, label).item() == pytest.approx(expected, rel=1e-5)


def test_region_specific_upstream_order_is_about_75_times_the_error():
    logits = torch.full((1, 1, 8, 8), _logit(0.4))
    label = torch.ones(1, 1, 8, 8)
    # BCE with the label as input: 100 * (1 - p) = 60; focal = 0.75 (1 - e^-60)^2 60.
    focal = 0.75 * 60
    edge = F.binary_cross_entropy(_edges(label), _edges(torch.full_like(label, 0.4)))
    expected = 0.7 * focal + 0.3 * edge.item()
    value = region_specific_loss(logits, label, upstream_argument_order=True).item()
    assert value == pytest.approx(expected, rel=1e-5)


def test_ohem_keeps_at_least_one_sixteenth_of_valid_pixels():
    logits = torch.full((1, 1, 8, 8), 10.0)  # easy: loss softplus(-10)
    logits[0, 0, 0, :2] = 0.0  # two hard pixels: loss ln 2 > -ln 0.7
    logits.requires_grad_(True)
    target = torch.ones(1, 1, 8, 8)
    loss = ohem_ce_loss(logits, target)  # 64 valid -> n_min = 4 > 2 hard
    easy = math.log1p(math.exp(-10.0))
    assert loss.item() == pytest.approx((2 * LN2 + 2 * easy) / 4, rel=1e-6)
    loss.backward()
    assert int((logits.grad != 0).sum()) == 4


def test_ohem_counts_only_valid_pixels_and_keeps_all_hard_ones():
    logits = torch.full((1, 1, 8, 8), 10.0)
    logits[0, 0, :, :4] = -1.0  # 32 hard pixels: loss softplus(1)
    target = torch.ones(1, 1, 8, 8)
    valid = torch.zeros(1, 8, 8)
    valid[0, :2] = 1  # 16 valid: 8 hard, 8 easy; n_min = 1
    expected = math.log1p(math.e)
    assert ohem_ce_loss(logits, target, valid).item() == pytest.approx(expected, rel=1e-6)


def test_ohem_multiclass_matches_cross_entropy_of_kept_pixels():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 4, 8, 8, generator=gen) * 3
    target = torch.randint(0, 4, (2, 8, 8), generator=gen)
    ce = F.cross_entropy(logits, target, reduction="none").flatten()
    hard = ce[ce > -math.log(0.7)]
    expected = hard.mean() if hard.numel() >= 128 // 16 else ce.topk(8).values.mean()
    assert ohem_ce_loss(logits, target).item() == pytest.approx(expected.item(), rel=1e-6)


def test_ohem_rejects_out_of_range_classes_on_valid_pixels_only():
    logits = torch.zeros(1, 3, 4, 4)
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    target[0, 0, 0] = 255
    valid = torch.ones(1, 4, 4)
    with pytest.raises(SegRefineError, match="0..2"):
        ohem_ce_loss(logits, target, valid)
    valid[0, 0, 0] = 0
    assert torch.isfinite(ohem_ce_loss(logits, target, valid))


def test_bisenet_upsamples_low_resolution_aux_heads():
    logits, target, valid = _binary_case()
    aux = torch.randn(2, 1, 8, 8)
    upsampled = F.interpolate(aux, size=(16, 16), mode="bilinear", align_corners=False)
    expected = ohem_ce_loss(logits, target, valid) + ohem_ce_loss(upsampled, target, valid)
    assert bisenet_loss([logits, aux], target, valid).item() == pytest.approx(
        expected.item(), rel=1e-6
    )


def test_basnet_sums_the_three_terms_over_all_outputs():
    logits, target, valid = _binary_case()
    one = bce_loss(logits, target, valid) + ssim_loss(logits, target, valid)
    one = one + iou_loss(logits, target, valid)
    total = basnet_hybrid_loss([logits] * 8, target, valid)
    assert total.item() == pytest.approx(8 * one.item(), rel=1e-6)


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_masked_pixels_get_zero_gradient_and_do_not_change_the_loss(name):
    loss_fn = ALL_LOSSES[name]
    logits, target, valid = _case(name)
    invalid = ~valid.unsqueeze(1).expand_as(logits)
    x = logits.clone().requires_grad_(True)
    loss = loss_fn(x, target, valid)
    loss.backward()
    assert torch.count_nonzero(x.grad[invalid]) == 0
    assert torch.count_nonzero(x.grad[~invalid]) > 0

    perturbed = logits.clone()
    perturbed[invalid] = torch.randn(int(invalid.sum())) * 50
    perturbed[invalid.nonzero()[0].unbind()] = float("nan")
    other_target = target.clone()
    target_invalid = ~valid if target.ndim == 3 else ~valid.unsqueeze(1)
    flipped = 255 if target.dtype == torch.long else 1 - target[target_invalid]
    other_target[target_invalid] = flipped
    y = perturbed.requires_grad_(True)
    perturbed_loss = loss_fn(y, other_target, valid)
    perturbed_loss.backward()
    assert torch.equal(perturbed_loss.detach(), loss.detach())
    assert torch.count_nonzero(y.grad[invalid]) == 0
    assert torch.equal(y.grad[~invalid], x.grad[~invalid])


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_all_invalid_batch_gives_zero_loss_and_zero_gradient(name):
    logits, target, valid = _case(name)
    x = logits.clone().requires_grad_(True)
    loss = ALL_LOSSES[name](x, target, torch.zeros_like(valid))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.count_nonzero(x.grad) == 0


# "prn" and "prn_upstream" fit pseudo-label and GT that differ here: no perfect output.
@pytest.mark.parametrize("name", sorted(set(BINARY_LOSSES) - {"prn", "prn_upstream"}))
def test_perfect_prediction_scores_better_than_noisy_ones(name):
    _, target, valid = _binary_case(seed=1)
    loss_fn = BINARY_LOSSES[name]
    perfect = loss_fn((target * 2 - 1) * 20, target, valid).item()
    for seed in range(3):
        noise = torch.randn(target.shape, generator=torch.Generator().manual_seed(seed))
        assert perfect < loss_fn((target * 2 - 1) * 2 + noise, target, valid).item()


@pytest.mark.parametrize("name", ["bce", "ssim", "iou", "basnet", "ohem_binary"])
def test_perfect_prediction_is_near_zero(name):
    _, target, valid = _binary_case(seed=2)
    assert BINARY_LOSSES[name]((target * 2 - 1) * 20, target, valid).item() < 1e-3


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_a_gradient_step_lowers_the_loss_on_a_toy_problem(name):
    gen = torch.Generator().manual_seed(5)
    image = torch.rand(2, 1, 16, 16, generator=gen)
    _, _, valid = _binary_case(seed=5)
    channels = 3 if name in MULTICLASS_LOSSES else 1
    target = (image[:, 0] * 2.999).long() if channels == 3 else (image > 0.5).float()
    net = torch.nn.Conv2d(1, channels, 3, padding=1)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    loss_fn = ALL_LOSSES[name]
    before = loss_fn(net(image), target, valid)
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = loss_fn(net(image), target, valid)
    assert after.item() < before.item()


def test_prn_without_local_head_uses_the_global_terms_only():
    logits, target, valid = _binary_case()
    expected = 0.7 * region_specific_loss(logits, target, valid)
    expected = expected + 0.3 * regularization_loss(logits, target, valid)
    assert prn_loss(logits, None, target, target, valid).item() == pytest.approx(
        expected.item(), rel=1e-6
    )


def test_losses_stay_float32_under_autocast():
    logits, target, valid = _binary_case()
    reference = prn_loss(logits, logits, target, target, valid)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = prn_loss(logits.bfloat16(), logits.bfloat16(), target, target, valid)
        ssim = ssim_loss(logits, target, valid)
    assert value.dtype == torch.float32 and ssim.dtype == torch.float32
    assert value.item() == pytest.approx(reference.item(), rel=2e-2)


def test_mismatched_valid_mask_is_reported():
    logits, target, _ = _binary_case()
    with pytest.raises(SegRefineError, match="valid mask"):
        bce_loss(logits, target, torch.ones(2, 8, 8))
