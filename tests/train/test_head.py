"""Instant adaptation: fit_head, its guard, and the head as a checkpoint."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
import torch

from napari_segrefine import create_model, load_checkpoint, predict, save_checkpoint
from napari_segrefine.engine.preprocess import pad_to_multiple
from napari_segrefine.errors import SegRefineError
from napari_segrefine.metrics import iou
from napari_segrefine.models.adapted import AdaptedModel
from napari_segrefine.train import head as head_module
from napari_segrefine.train import head_pixels as pixels_module
from napari_segrefine.train.head import HeadConfig, fit_head

FAST = {"num_trees": 8, "guard_trees": 4, "max_pixels": 8000}


@pytest.mark.parametrize("deep", ["none", "outputs", "encoder"])
def test_head_learns_the_corrected_pixels_and_generalises(base, disk_sample, deep):
    image, label, valid = disk_sample
    result = fit_head(base, [(image, label, valid)], HeadConfig(deep=deep, **FAST))
    assert isinstance(result.model, AdaptedModel)
    assert result.pixels == valid.sum()
    mask = predict(result.model, image).mask.astype(bool)
    right = np.s_[:, 48:]  # never corrected
    iou = (mask[right] & (label[right] > 0)).sum() / (mask[right] | (label[right] > 0)).sum()
    assert iou > 0.8
    assert result.adopted and result.head_iou is not None


def test_head_saves_and_loads_as_a_checkpoint(base, disk_sample, tmp_path):
    image, label, valid = disk_sample
    result = fit_head(base, [(image, label, valid)], HeadConfig(deep="outputs", **FAST))
    path = save_checkpoint(result.model, tmp_path / "head")
    loaded = load_checkpoint(path)
    assert isinstance(loaded, AdaptedModel)
    np.testing.assert_array_equal(
        predict(loaded, image).probabilities, predict(result.model, image).probabilities
    )
    assert loaded.segrefine_config.provenance["guard"].startswith("adopted")


def test_guard_refuses_a_head_that_does_worse_and_says_why(base, disk_sample):
    image, label, valid = disk_sample
    # Demanding a gain of more than a whole IoU point over the current model cannot be met.
    config = HeadConfig(deep="none", tolerance=-1.5, **FAST)
    result = fit_head(base, [(image, label, valid)], config)
    assert not result.adopted
    assert result.reason.startswith("not adopted")
    assert f"{result.head_iou:.3f}" in result.reason


def test_one_corrected_block_is_adopted_without_a_held_out_verdict(base, disk_sample):
    image, label, _ = disk_sample
    valid = np.zeros(label.shape, bool)
    valid[40:56, 50:63] = True  # inside one 32-pixel block, across the disk edge
    assert 0 < label[valid].mean() < 1
    result = fit_head(base, [(image, label, valid)], HeadConfig(deep="none", **FAST))
    assert result.adopted and result.head_iou is None
    assert "too few" in result.reason


def test_corrections_of_one_class_only_are_a_clear_error_before_any_network_pass(
    base, disk_sample, monkeypatch
):
    image, label, _ = disk_sample
    valid = np.zeros(label.shape, bool)
    valid[:10, :10] = True  # background only

    def network(*args):
        raise AssertionError("the network ran for an update that cannot be fitted")

    monkeypatch.setattr(pixels_module, "_prediction_outputs", network)
    with pytest.raises(SegRefineError, match="all background"):
        fit_head(base, [(image, label, valid)], HeadConfig(**FAST))


def test_no_corrections_and_mismatched_shapes_are_clear_errors(base, disk_sample):
    image, label, _ = disk_sample
    with pytest.raises(SegRefineError, match="no corrected pixels"):
        fit_head(base, [(image, label, np.zeros(label.shape, bool))], HeadConfig(**FAST))
    with pytest.raises(SegRefineError, match="same height and width"):
        fit_head(base, [(image, label[:50], None)], HeadConfig(**FAST))


def test_a_multi_class_base_is_refused(disk_sample):
    image, label, valid = disk_sample
    with pytest.raises(SegRefineError, match="binary image model"):
        fit_head(create_model("bisenetv2", num_classes=3), [(image, label, valid)])


def test_heads_do_not_stack(base, disk_sample):
    image, label, valid = disk_sample
    first = fit_head(base, [(image, label, valid)], HeadConfig(deep="none", **FAST)).model
    second = fit_head(first, [(image, label, valid)], HeadConfig(deep="none", **FAST)).model
    assert second.segrefine_config.kwargs["base"]["arch"] == "basnet_lite"


def test_bad_settings_are_refused():
    with pytest.raises(SegRefineError, match="num_trees must be at least 1"):
        HeadConfig(num_trees=0)


def test_a_rare_class_survives_the_pixel_limit(base):
    """Three foreground pixels among thousands are kept when the pixels are thinned."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (96, 96), dtype=np.uint8)
    label = np.zeros((96, 96), np.uint8)
    label[50, 50:53] = 1
    config = HeadConfig(num_trees=4, guard_trees=2, max_pixels=500, deep="none")
    result = fit_head(base, [(image, label, None)], config)
    assert result.pixels == 500
    assert result.model.trees.value.max() > 0  # some leaf predicts foreground


def test_the_threshold_comes_from_the_guard(base, disk_sample):
    image, label, valid = disk_sample
    result = fit_head(
        base, [(image, label, valid)], HeadConfig(filters_margin=None, global_margin=None, **FAST)
    )
    kwargs = result.model.segrefine_config.kwargs
    assert kwargs["deep"] == "encoder"
    assert kwargs["threshold"] in (0.3, 0.4, 0.5, 0.6, 0.7)
    assert f"threshold {kwargs['threshold']:.1f}" in result.reason
    assert result.head_iou is not None and result.head_iou > 0.8


def test_a_head_on_the_filters_alone_saves_loads_and_predicts(base, disk_sample, tmp_path):
    # a margin of -1: the filters alone win unless the network's features are 1 IoU better
    image, label, valid = disk_sample
    result = fit_head(
        base, [(image, label, valid)], HeadConfig(filters_margin=-1.0, global_margin=None, **FAST)
    )
    assert result.model.deep == "none" and "filters only" in result.reason
    path = save_checkpoint(result.model, tmp_path / "filters.safetensors")
    again = load_checkpoint(path)
    assert again.deep == "none"
    mask = predict(again, image).mask.astype(bool)
    assert iou(mask[:, 48:], label[:, 48:] > 0) > 0.8


def test_the_guard_scores_no_block_of_a_fold_that_learned_one_class():
    """Block 0 holds all the foreground: the fold holding it out trains on background
    only, so its blocks are not scored; the other folds train on both classes."""
    groups = np.repeat(np.arange(6), 10)
    labels = groups == 0
    folds = head_module._learnable_folds(labels, groups, 3)
    held_out = {int(group) for _, test in folds for group in groups[test]}
    assert len(folds) == 2 and 0 not in held_out and len(held_out) == 4
    assert all(labels[train].any() and not labels[train].all() for train, _ in folds)


def test_the_guard_scores_original_pixels_not_their_mirrored_views(base, disk_sample, monkeypatch):
    """Prediction meets each pixel as it is, so the guard's IoUs count no mirrored row."""
    image, label, valid = disk_sample
    seen = []
    choose = head_module._choose

    def spy(pixels, context, config, filters, judged, levels):
        seen.append((pixels.mirrored, judged))
        return choose(pixels, context, config, filters, judged, levels)

    monkeypatch.setattr(head_module, "_choose", spy)
    fit_head(base, [(image, label, valid)], HeadConfig(**FAST))
    ((mirrored, judged),) = seen
    assert mirrored.any() and judged[~mirrored].all() and not judged[mirrored].any()


def test_the_head_threshold_moves_the_decision(base, disk_sample, tmp_path):
    image, label, valid = disk_sample
    config = HeadConfig(deep="none", global_margin=None, **FAST)
    result = fit_head(base, [(image, label, valid)], config)
    low = create_model(
        "adapted_head", **{**result.model.segrefine_config.kwargs, "threshold": 0.2}
    )
    low.load_state_dict(result.model.state_dict())
    plain = predict(result.model, image).probabilities
    # The same trees: a lower threshold only raises the shown probability.
    assert np.all(predict(low, image).probabilities >= plain - 1e-6)
    loaded = load_checkpoint(save_checkpoint(low, tmp_path / "low"))
    assert loaded.segrefine_config.kwargs["threshold"] == 0.2


def test_unknown_feature_choice_is_a_clear_error():
    with pytest.raises(SegRefineError, match="deep must be one of"):
        HeadConfig(deep="everything")


def test_the_guard_judges_only_the_image_the_update_is_for(base, disk_sample):
    image, label, valid = disk_sample
    background = np.zeros_like(valid)
    background[70:94, 60:94] = True  # another image's corrections: background only
    samples = [(image, label, background), (image, label, valid)]
    config = HeadConfig(**(FAST | {"max_pixels": 12_000}))
    on_first = fit_head(base, samples, config, judged_on=[0])
    on_second = fit_head(base, samples, config, judged_on=[1])

    assert on_first.pixels == on_second.pixels == valid.sum() + background.sum()
    current = predict(base, image).mask.astype(bool)
    for result, region in ((on_first, background), (on_second, valid)):
        expected = iou(current[region][None], label[region][None] > 0)
        assert result.current_iou == pytest.approx(expected, abs=0.02)
    assert on_first.current_iou != pytest.approx(on_second.current_iou, abs=0.1)


def test_an_update_for_an_image_without_corrections_is_a_clear_error(base, disk_sample):
    image, label, valid = disk_sample
    samples = [(image, label, valid), (image, label, np.zeros_like(valid))]
    with pytest.raises(SegRefineError, match="no corrected pixels yet"):
        fit_head(base, samples, HeadConfig(**FAST), judged_on=[1])


def test_judging_a_sample_that_is_not_there_is_a_clear_error(base, disk_sample):
    with pytest.raises(SegRefineError, match="judged_on names samples"):
        fit_head(base, [disk_sample], HeadConfig(**FAST), judged_on=[0, 3])


def _training_and_window_features(head, x, window):
    """The features `fit_head` learns for ``window`` of ``x``, and the window's own."""
    outputs = pixels_module._prediction_outputs(head, x, "cpu")(window)
    fitted, base_prob = pixels_module._window_features(head, x, window, "cpu", outputs)
    crop = torch.from_numpy(pad_to_multiple(x[:, window[0], window[1]])).unsqueeze(0)
    height, width = fitted.shape[1:]
    alone = head.pixel_features(crop)[0, :, :height, :width].numpy()
    return fitted, base_prob, alone


def test_the_head_learns_the_base_outputs_predict_will_show(base, disk_sample):
    """Features of a training window carry the base's outputs of the whole image, as the
    head sees them when `predict` runs the image as one tile; computed on the window
    alone they differ (the base sees the whole image)."""
    image, label, _ = disk_sample
    head = head_module.new_head(base, HeadConfig(deep="outputs"))
    x, _, _ = pixels_module._checked_sample(head, image, label, None, 0)
    window = (slice(0, 64), slice(8, 72))
    padded = torch.from_numpy(pad_to_multiple(x)).unsqueeze(0)
    seen = head.pixel_features(padded)[0, :, :96, :96].numpy()[:, window[0], window[1]]

    fitted, base_prob, alone = _training_and_window_features(head, x, window)

    outputs = slice(head.bank.num_features, None)  # the filters are local: not at issue
    np.testing.assert_allclose(fitted[outputs], seen[outputs], atol=1e-5)
    np.testing.assert_allclose(base_prob, seen[outputs][0], atol=1e-5)
    assert np.abs(alone[outputs] - seen[outputs]).max() > 1e-3  # what the window alone taught


def test_on_a_tiled_image_the_head_learns_the_outputs_of_predicts_tiles(base):
    """An image `predict` tiles: a window that only its first tile covers learns that
    tile's outputs, not those of the window alone."""
    rng = np.random.default_rng(0)
    image = rng.random((1100, 64), dtype=np.float32)  # taller than one tile: tiled
    head = head_module.new_head(base, HeadConfig(deep="outputs"))
    x, _, _ = pixels_module._checked_sample(head, image, image > 0.5, None, 0)
    window = (slice(100, 164), slice(0, 64))  # rows only the tile starting at 0 covers
    tile = torch.from_numpy(pad_to_multiple(x)[:, :512]).unsqueeze(0)
    seen = head.pixel_features(tile)[0][:, window[0], window[1]].numpy()

    fitted, _, alone = _training_and_window_features(head, x, window)

    outputs = slice(head.bank.num_features, None)
    np.testing.assert_allclose(fitted[outputs], seen[outputs], atol=1e-5)
    assert np.abs(alone[outputs] - seen[outputs]).max() > 1e-3


def test_predicting_a_head_with_other_tiles_than_it_learned_warns(base, disk_sample):
    image, label, valid = disk_sample
    head = fit_head(base, [(image, label, valid)], HeadConfig(deep="outputs", **FAST)).model
    with pytest.warns(
        UserWarning, match="leave the tile size and overlap at their defaults"
    ) as caught:
        predict(head, image, tile_size=32)
    assert caught[0].filename == __file__  # the line that called predict
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predict(head, image)
        predict(head, image, tile_size=2048, overlap=0.5)  # still the one tile it learned
        predict(base, image, tile_size=32)  # a network alone learned nothing per tile


def test_predict_feeds_a_head_the_features_it_was_fitted_on(base, disk_sample, monkeypatch):
    """`predict` runs a tuned copy of a model with BatchNorm folded into the convolutions
    before it; that keeps a network's answers but changes the activations a head reads,
    so a head runs unfolded."""
    image, label, _ = disk_sample
    head = head_module.new_head(base, HeadConfig(deep="encoder"))
    generator = torch.Generator().manual_seed(0)
    for norm in (m for m in head.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        for stats in (norm.running_mean, norm.running_var, norm.weight, norm.bias):
            stats.copy_(torch.rand(stats.shape, generator=generator) + 0.5)  # trained-like
    x, _, _ = pixels_module._checked_sample(head, image, label, None, 0)
    fitted_on = head.pixel_features(torch.from_numpy(pad_to_multiple(x)).unsqueeze(0))
    seen = []
    original = AdaptedModel.pixel_features
    monkeypatch.setattr(
        AdaptedModel, "pixel_features", lambda self, t: seen.append(original(self, t)) or seen[-1]
    )
    predict(head, image)
    np.testing.assert_allclose(seen[-1].numpy(), fitted_on.numpy(), atol=1e-4)


def test_a_head_runs_in_fp32_unless_asked_otherwise(base, disk_sample, monkeypatch):
    """Its trees split the fp32 features they were fitted on: ``auto`` (bf16 autocast on
    CUDA) gives a head fp32; an explicit precision is honoured."""
    image, label, valid = disk_sample
    head = fit_head(base, [(image, label, valid)], HeadConfig(deep="outputs", **FAST)).model
    asked = []
    module = importlib.import_module("napari_segrefine.engine.predict")
    real = module.autocast_dtype

    def spy(device, precision):
        asked.append(precision)
        return real(device, precision)

    monkeypatch.setattr(module, "autocast_dtype", spy)
    predict(head, image)
    predict(base, image)
    predict(head, image, precision="fp16")
    module.tile_function(head, torch.device("cpu"))
    assert asked == ["fp32", "auto", "fp16", "fp32"]


def test_the_tile_memo_bound_changes_no_feature(base, monkeypatch):
    """On an image `predict` tiles (3 tiles), a memo of one tile runs tiles again but
    gives the same features; the chosen bound runs each tile once."""
    rng = np.random.default_rng(0)
    image = rng.random((1100, 64), dtype=np.float32)
    head = head_module.new_head(base, HeadConfig(deep="outputs"))
    config = HeadConfig(deep="outputs", context_weight=0)
    runs = []
    original = AdaptedModel.base_outputs
    monkeypatch.setattr(
        AdaptedModel, "base_outputs", lambda self, t: runs.append(len(t)) or original(self, t)
    )

    def features() -> tuple[np.ndarray, int]:
        runs.clear()
        samples = [(image, image > 0.5, None)]
        found = pixels_module.training_pixels(head, samples, config, "cpu", rng)
        return found[0].rows, len(runs)

    kept, kept_runs = features()
    monkeypatch.setattr(pixels_module, "_memo_bound", lambda padded, tile: 1)
    evicted, evicted_runs = features()
    np.testing.assert_array_equal(evicted, kept)
    assert kept_runs == 3  # each tile of the grid once
    assert evicted_runs > kept_runs  # the small memo was exceeded


class _CountingNetwork:
    """Stands in for a head in `_prediction_outputs`: zero outputs, its calls counted."""

    def __init__(self) -> None:
        self.calls = 0

    def base_outputs(self, batch: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.zeros(batch.shape[0], 1, *batch.shape[2:])


def test_windows_in_order_run_each_tile_once_on_a_grid_larger_than_the_memo():
    x = np.random.default_rng(0).random((1, 3392, 1056), dtype=np.float32)  # 9 x 3 tiles
    network = _CountingNetwork()
    outputs_of = pixels_module._prediction_outputs(network, x, "cpu")
    for window, _ in pixels_module._windows(np.ones(x.shape[1:], bool)):
        outputs_of(window)
    assert pixels_module._memo_bound(x.shape[1:], (512, 512)) < 27
    assert network.calls == 27


@pytest.mark.parametrize("deep", ["outputs", "encoder"])
def test_the_base_runs_on_a_window_only_as_far_as_its_encoder(base, disk_sample, deep):
    """The window's own outputs are replaced by the image's: with ``deep="outputs"`` the
    base does not run on the window, with ``deep="encoder"`` it stops after the encoder
    activations; the features are those of a whole pass."""
    image, label, _ = disk_sample
    head = head_module.new_head(base, HeadConfig(deep=deep))
    x, _, _ = pixels_module._checked_sample(head, image, label, None, 0)
    window = (slice(0, 64), slice(8, 72))
    outputs = pixels_module._prediction_outputs(head, x, "cpu")(window)
    pixels_module._window_features(head, x, window, "cpu", outputs)  # counts its activations
    ran = []
    hooks = [m.register_forward_hook(lambda m, *_: ran.append(m)) for m in head.base.modules()]
    features, _ = pixels_module._window_features(head, x, window, "cpu", outputs)
    crop = torch.from_numpy(pad_to_multiple(x[:, window[0], window[1]])).unsqueeze(0)
    in_window = len(ran)
    expected = head.pixel_features(crop)[0, :, :64, :64].numpy()  # a whole pass
    whole = len(ran) - in_window
    for hook in hooks:
        hook.remove()

    first = head.bank.num_features
    expected[first : first + len(outputs)] = outputs
    np.testing.assert_array_equal(features, expected)
    assert in_window == 0 if deep == "outputs" else 0 < in_window < whole, (in_window, whole)


def test_mirrored_views_carry_the_encoder_activations_of_the_mirrored_window(base):
    head = head_module.new_head(base, HeadConfig())
    image = np.random.default_rng(0).normal(size=(3, 64, 96)).astype(np.float32)
    window = (slice(0, 64), slice(0, 96))
    outputs = np.zeros((head.base_outputs(torch.zeros(1, 3, 64, 64)).shape[1], 64, 96))
    features, _ = pixels_module._window_features(head, image, window, "cpu", outputs)
    views = pixels_module._mirrored_activations(head, image, window, 2, "cpu")
    encoder = slice(len(features) - len(views[0]), None)
    for axis, view in zip((2, 1), views, strict=True):
        mirrored = np.ascontiguousarray(np.flip(image, axis))
        seen, _ = pixels_module._window_features(head, mirrored, window, "cpu", outputs)
        np.testing.assert_allclose(view, np.flip(seen[encoder], axis), atol=1e-5)
        assert not np.allclose(view, features[encoder])  # the filters are oriented


def test_mirrored_views_count_each_corrected_pixel_once(base, disk_sample):
    image, label, valid = disk_sample
    plain = fit_head(base, [(image, label, valid)], HeadConfig(flips=0, **FAST))
    flipped = fit_head(base, [(image, label, valid)], HeadConfig(flips=2, **FAST))
    assert plain.pixels == flipped.pixels == valid.sum()
    assert flipped.model.trees.value.shape[0] == FAST["num_trees"]


@pytest.mark.parametrize("flips", [-1, 3])
def test_an_impossible_number_of_mirrored_views_is_a_clear_error(flips):
    with pytest.raises(SegRefineError, match="flips must be 0"):
        HeadConfig(flips=flips)
