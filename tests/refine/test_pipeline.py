"""refine() with PRN: aligned windows, upstream's final-mask rule, callbacks and errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor, nn

from napari_segrefine.errors import Cancelled, SegRefineError
from napari_segrefine.models import create_model
from napari_segrefine.refine import combine_prn_outputs, refine, refine_stats

SHARPNESS = 40.0


class PatchMeanStandIn(nn.Module):
    """Obeys PRN's call contract; its local output depends on where the patch grid lies.

    Global logits: the input's own decision at 0.5. Local logits: whether the mean of
    the input's ``patch_size`` tile exceeds 0.4, so a misaligned window changes it.
    """

    def __init__(self, local: bool = True) -> None:
        super().__init__()
        self.local = local
        self.calls: list[tuple[tuple[int, ...], int, bool]] = []

    def forward(self, x: Tensor, patch_size: int) -> tuple[Tensor, Tensor | None]:
        self.calls.append((tuple(x.shape), patch_size, self.training))
        global_logits = (x - 0.5) * SHARPNESS
        if not self.local:
            return global_logits, None
        means = F.avg_pool2d(x, patch_size)
        local_logits = (F.interpolate(means, scale_factor=patch_size) - 0.4) * SHARPNESS
        return global_logits, local_logits


def expected_mask(prob: np.ndarray, patch_size: int) -> np.ndarray:
    """Upstream's rule for the stand-in, on a map whose sides divide by ``patch_size``."""
    rows, cols = prob.shape[0] // patch_size, prob.shape[1] // patch_size
    means = prob.reshape(rows, patch_size, cols, patch_size).mean(axis=(1, 3))
    local = np.kron(means > 0.4, np.ones((patch_size, patch_size), dtype=bool))
    global_mask = prob > 0.5
    dilated = ndimage.binary_dilation(global_mask & local, structure=np.ones((3, 3)))
    return (global_mask | dilated).astype(np.uint8)


def blobs(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A smooth probability map with blobs of varying strength."""
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.random(shape), sigma=3)
    return np.clip((noise - noise.min()) / np.ptp(noise), 0, 1).astype(np.float32)


def test_windows_follow_upstream_rule():
    prob = blobs((96, 64))
    model = PatchMeanStandIn()
    mask = refine(prob, prn=model, patch_size=16, window=32, overlap=0.5, device="cpu")
    np.testing.assert_array_equal(mask, expected_mask(prob, 16))
    assert len(model.calls) > 1
    assert all(shape == (1, 1, 32, 32) and size == 16 for shape, size, _ in model.calls)


@pytest.mark.parametrize("shape", [(37, 130), (100, 90), (17, 17), (64, 64)])
@pytest.mark.parametrize(("window", "overlap"), [(32, 0.0), (40, 0.25), (64, 0.5), (96, 0.9)])
def test_windowed_equals_one_window_for_any_size(shape, window, overlap):
    prob = blobs(shape, seed=sum(shape))
    whole = refine(prob, prn=PatchMeanStandIn(), patch_size=8, window=4096, device="cpu")
    model = PatchMeanStandIn()
    windowed = refine(prob, prn=model, patch_size=8, window=window, overlap=overlap, device="cpu")
    assert windowed.shape == shape and windowed.dtype == np.uint8
    np.testing.assert_array_equal(windowed, whole)
    for (_, _, height, width), _, _ in model.calls:
        assert height % 8 == 0 and width % 8 == 0
        assert height <= max(window // 8 * 8, 8) and width <= max(window // 8 * 8, 8)


def test_model_without_local_decoder_gives_global_mask():
    prob = blobs((40, 56))
    mask = refine(prob, prn=PatchMeanStandIn(local=False), patch_size=8, device="cpu")
    np.testing.assert_array_equal(mask, (prob > 0.5).astype(np.uint8))


def test_local_branch_only_adds_a_rim_around_the_global_mask():
    global_prob = np.zeros((7, 7))
    global_prob[2:5, 2:5] = 0.9
    local_prob = np.ones((7, 7))
    mask = combine_prn_outputs(global_prob, local_prob)
    expected = np.zeros((7, 7), dtype=np.uint8)
    expected[1:6, 1:6] = 1
    np.testing.assert_array_equal(mask, expected)
    no_global = combine_prn_outputs(np.zeros((7, 7)), local_prob)
    assert no_global.sum() == 0


def test_combine_rules_global_and_local_take_one_head():
    global_prob = np.zeros((7, 7))
    global_prob[2:5, 2:5] = 0.9
    local_prob = np.zeros((7, 7))
    local_prob[0, :] = 0.8
    np.testing.assert_array_equal(
        combine_prn_outputs(global_prob, local_prob, rule="global"), global_prob > 0.5
    )
    np.testing.assert_array_equal(
        combine_prn_outputs(global_prob, local_prob, rule="local"), local_prob > 0.5
    )
    np.testing.assert_array_equal(
        combine_prn_outputs(global_prob, None, rule="local"), global_prob > 0.5
    )


@pytest.mark.parametrize("rule", ["global", "local"])
def test_untrained_residual_prn_refines_to_the_plain_threshold(rule):
    prob = np.random.default_rng(3).random((48, 40)).astype(np.float32)
    prn = create_model("prn_p64_lite", width=4, residual=True, combine=rule)
    mask = refine(prob, prn=prn, patch_size=8, device="cpu")
    np.testing.assert_array_equal(mask, (prob > 0.5).astype(np.uint8))


def test_progress_stop_and_train_mode():
    prob = blobs((64, 64))
    model = PatchMeanStandIn().train()
    events: list[tuple[int, int]] = []

    def record(done: int, total: int) -> None:
        events.append((done, total))

    refine(prob, prn=model, patch_size=16, window=32, overlap=0.0, progress=record, device="cpu")
    assert events == [(i, 4) for i in range(1, 5)]
    assert model.training and not any(training for _, _, training in model.calls)
    stop = threading.Event()
    stop.set()
    stopped = PatchMeanStandIn()
    with pytest.raises(Cancelled):
        refine(prob, prn=stopped, patch_size=16, window=32, stop=stop, device="cpu")
    assert stopped.calls == []


class NotPRN(nn.Module):
    def forward(self, x: torch.Tensor, patch_size: int) -> torch.Tensor:
        return x


@pytest.mark.parametrize(
    "kwargs",
    [
        {"prn": PatchMeanStandIn(), "patch_size": 12},
        {"prn": PatchMeanStandIn(), "overlap": 1.0},
        {"prn": PatchMeanStandIn(), "window": 0},
        {"prn": NotPRN()},
        {"threshold": 0.0},
        {"threshold": 1.0},
        {"patch_size": 0},
    ],
)
def test_bad_settings_raise_segrefine_error(kwargs):
    with pytest.raises(SegRefineError):
        refine(blobs((32, 32)), device="cpu", **kwargs)


def test_logits_instead_of_probabilities_are_rejected():
    with pytest.raises(SegRefineError, match="sigmoid"):
        refine(np.full((16, 16), 3.0))


def test_real_prn_single_window_matches_direct_call():
    model = create_model("prn_p64_lite", width=4)
    prob = blobs((64, 64), seed=3)
    mask = refine(prob, prn=model, patch_size=32, device="cpu")
    with torch.inference_mode():
        global_logits, local_logits = model(torch.from_numpy(prob)[None, None], patch_size=32)
    expected = combine_prn_outputs(
        torch.sigmoid(global_logits)[0, 0].numpy(), torch.sigmoid(local_logits)[0, 0].numpy()
    )
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize("name", ["prn_p64_lite", "prn_p0"])
def test_real_prn_runs_on_odd_sizes_in_windows(name):
    model = create_model(name, width=4)
    mask = refine(blobs((70, 45)), prn=model, patch_size=16, window=32, device="cpu")
    assert mask.shape == (70, 45) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 1}


def test_refine_stats_hand_computed_with_partial_patches():
    before = np.zeros((5, 5), dtype=np.uint8)
    after = before.copy()
    after[0, 0] = 1  # patch (0, 0): 1 of 4
    after[2:4, 4] = 1  # patch (1, 2): 2 of 2 (edge patch, one column wide)
    after[4, 4] = 1  # patch (2, 2): 1 of 1 (corner patch)
    stats = refine_stats(before, after, patch_size=2)
    expected = np.zeros((3, 3), dtype=np.float32)
    expected[0, 0], expected[1, 2], expected[2, 2] = 0.25, 1.0, 1.0
    assert stats.dtype == np.float32
    np.testing.assert_array_equal(stats, expected)
    with pytest.raises(SegRefineError):
        refine_stats(before, after[:4], patch_size=2)
