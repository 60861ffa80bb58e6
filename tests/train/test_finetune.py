from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from napari_segrefine import SegRefineError, create_model
from napari_segrefine.models import model_config
from napari_segrefine.train import FinetuneConfig, finetune, iter_finetune
from napari_segrefine.train.steps import TaskAdapter, pooled_iou, prn_mask


def _square_image(size=64, seed=0):
    rng = np.random.default_rng(seed)
    label = np.zeros((size, size), np.uint8)
    label[size // 4 : 3 * size // 4, size // 5 : 3 * size // 5] = 1
    image = rng.integers(0, 90, (size, size, 3)).astype(np.uint8)
    image[label == 1] += 120
    return image, label


def _samples(n=2):
    return [(*_square_image(seed=i), None) for i in range(n)]


def _config(**kw):
    base = dict(steps=2, batch_size=2, patch_size=64, val_every=1, val_crops=2, lr=1e-3)
    return FinetuneConfig(**{**base, **kw})


def _fixed_batch_loss(model, samples, config):
    config_obj = model_config(model)
    adapter = TaskAdapter("basnet", config_obj)
    dataset = adapter.dataset(samples, config, augment=False, seed=123)
    batch = {k: torch.stack([dataset[i][k] for i in range(2)]) for k in dataset[0]}
    model.train()
    with torch.no_grad():
        return float(adapter.loss(model, batch))


def test_two_steps_lower_the_loss_on_a_fixed_batch():
    model = create_model("basnet_lite")
    samples = _samples()
    config = _config(steps=2, val_fraction=0.0, lr=3e-3)
    before = _fixed_batch_loss(model, samples, config)
    result = finetune(model, samples, config)
    after = _fixed_batch_loss(result.model, samples, config)
    assert len(result.history) == 2
    assert after < before


def test_events_report_progress_and_validation():
    events = []
    generator = iter_finetune(create_model("basnet_lite"), _samples(), _config(steps=3))
    while True:
        try:
            events.append(next(generator))
        except StopIteration as done:
            result = done.value
            break
    assert [e.step for e in events] == [1, 2, 3]
    assert all(e.total == 3 and np.isfinite(e.loss) for e in events)
    assert all(e.val_iou is not None and 0 <= e.val_iou <= 1 for e in events)
    assert result.best_iou == max(e.val_iou for e in events)
    assert model_config(result.model).provenance["finetune"]["steps_done"] == 3


def test_stop_between_steps_keeps_the_best_weights():
    stop = threading.Event()
    model = create_model("basnet_lite")
    generator = iter_finetune(model, _samples(), _config(steps=50), stop=stop)
    next(generator)
    stop.set()
    with pytest.raises(StopIteration) as done:
        next(generator)
    result = done.value.value
    assert result.stopped_by_user
    assert result.state.step == 1
    best = result.state.best_weights
    assert all(torch.equal(best[k], v) for k, v in result.model.state_dict().items())


def test_resume_continues_from_the_saved_step():
    model = create_model("basnet_lite")
    first = finetune(model, _samples(), _config(steps=2))
    second = finetune(first.model, _samples(), _config(steps=4), resume=first.state)
    assert [e.step for e in second.history] == [1, 2, 3, 4]
    assert second.state.optimizer["state"]


def test_training_is_deterministic_given_a_seed():
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        result = finetune(create_model("basnet_lite"), _samples(), _config(seed=7))
        losses.append([e.loss for e in result.history])
    assert losses[0] == losses[1]


def test_only_valid_pixels_drive_training():
    image, label = _square_image()
    valid = np.zeros(label.shape, bool)
    valid[:8, :8] = True  # one small corrected corner, all background
    samples = [(image, label, valid)] * 2
    result = finetune(create_model("basnet_lite"), samples, _config(val_fraction=0.0))
    assert len(result.history) == 2


def test_no_valid_pixels_is_a_clear_error():
    image, label = _square_image()
    samples = [(image, label, np.zeros(label.shape, bool))] * 2
    with pytest.raises(SegRefineError, match="no corrected or confirmed pixels"):
        finetune(create_model("basnet_lite"), samples, _config())


@pytest.mark.parametrize("name", ["bisenetv2_binary", "prn_p64_lite"])
def test_other_families_train(name):
    samples = _samples()
    if name.startswith("prn"):
        samples = _prn_samples()
    result = finetune(create_model(name), samples, _config(prn_patch_size=16))
    assert len(result.history) == 2 and np.isfinite(result.history[-1].loss)


def _prn_samples():
    return [((lab * 0.6 + 0.2).astype(np.float32), lab, None) for _, lab, _ in _samples()]


def test_frozen_prn_encoder_trains_only_the_decoders():
    model = create_model("prn_p64_lite", width=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = _config(freeze_encoder=True, val_fraction=0.0, prn_patch_size=16, lr=1e-2)
    finetune(model, _prn_samples(), config)
    after = model.state_dict()
    changed = {
        k for k, v in after.items() if v.is_floating_point() and not torch.equal(v, before[k])
    }
    assert changed and all(not k.startswith("encoding.") for k in changed)
    assert any(k.startswith("decode1_local.") for k in changed)


def test_finetune_without_freezing_unfreezes_an_encoder_frozen_before():
    model = create_model("prn_p64_lite", width=4)
    model.freeze_encoder()
    before = {k: v.clone() for k, v in model.encoding.state_dict().items()}
    config = _config(val_fraction=0.0, prn_patch_size=16, lr=1e-2, freeze_batchnorm=False)
    finetune(model, _prn_samples(), config)
    assert not all(torch.equal(before[k], v) for k, v in model.encoding.state_dict().items())


def test_frozen_encoder_keeps_encoder_weights():
    model = create_model("basnet_lite")
    encoder_before = {k: v.clone() for k, v in model.encoder1.state_dict().items()}
    finetune(model, _samples(), _config(freeze_encoder=True, val_fraction=0.0))
    assert all(torch.equal(encoder_before[k], v) for k, v in model.encoder1.state_dict().items())


@pytest.mark.parametrize("bad", [dict(steps=0), dict(lr=-1.0), dict(val_fraction=1.0)])
def test_bad_settings_are_clear_errors(bad):
    with pytest.raises(SegRefineError):
        _config(**bad)


def test_pooled_iou_by_hand():
    pred = torch.tensor([[1, 1, 0, 0]])
    target = torch.tensor([[1, 0, 1, 0]])
    valid = torch.tensor([[1, 1, 1, 0]])
    assert pooled_iou(pred, target, valid, 1) == pytest.approx(1 / 3)
    assert pooled_iou(pred, target, torch.tensor([[1, 0, 0, 1]]), 1) == 1.0


def test_prn_mask_grows_global_only_where_local_agrees():
    glob = torch.full((1, 1, 5, 5), -5.0)
    glob[..., 2, 2] = 5.0
    glob[..., 0, 4] = 5.0
    local = torch.full((1, 1, 5, 5), -5.0)
    local[..., 2, 2] = 5.0
    mask = prn_mask(glob, local)
    assert mask[..., 1:4, 1:4].all() and mask[..., 0, 4] and mask.sum() == 10
    assert torch.equal(prn_mask(glob, None), glob > 0)


def test_loader_workers_give_the_same_batches():
    runs = []
    for workers in (0, 2):
        torch.manual_seed(0)
        result = finetune(
            create_model("basnet_lite"), _samples(), _config(val_fraction=0.0, num_workers=workers)
        )
        runs.append([e.loss for e in result.history])
    assert runs[0] == runs[1]


def test_batchnorm_statistics_stay_frozen_by_default():
    model = create_model("basnet_lite")
    before = model.inbn.running_mean.clone()
    finetune(model, _samples(), _config(val_fraction=0.0))
    assert torch.equal(model.inbn.running_mean, before)
    finetune(model, _samples(), _config(val_fraction=0.0, freeze_batchnorm=False))
    assert not torch.equal(model.inbn.running_mean, before)
