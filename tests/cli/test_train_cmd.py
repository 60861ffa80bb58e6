"""``napari-segrefine train``: head (default) and fine-tune, guard, provenance, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import torch
from PIL import Image

from napari_segrefine import load_checkpoint
from napari_segrefine.cli import train_cmd
from napari_segrefine.models.checkpoint import META_KEY

FAST = ["--kind", "finetune", "--patch", "32", "--batch-size", "2", "--device", "cpu"]


def header(path) -> dict:
    """The JSON config stored in a safetensors checkpoint's metadata."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        return json.loads(json.loads(f.read(size))["__metadata__"][META_KEY])


def changed_tensors(before: torch.nn.Module, after: torch.nn.Module) -> int:
    old, new = before.state_dict(), after.state_dict()
    return sum(not torch.equal(old[k], new[k]) for k in old if old[k].is_floating_point())


def test_train_saves_a_finetuned_checkpoint_with_provenance(cli, dataset, tmp_path, checkpoints):
    images, labels = dataset
    out = tmp_path / "tuned"

    result = cli(
        "train", "--images", images, "--labels", labels, "--checkpoint",
        checkpoints["basnet_lite"], "--steps", "2", "--val-fraction", "0", "--out", out, *FAST,
    )  # fmt: skip

    assert result.code == 0, result.err
    saved = tmp_path / "tuned.safetensors"
    assert f"saved {saved}: 2 fine-tuning steps, no corrections held out" in result.out
    provenance = header(saved)["provenance"]
    assert provenance["training_images"] == ["a.png", "b.tif"]
    assert provenance["finetune"]["steps"] == 2 and provenance["finetune"]["patch_size"] == 32
    assert provenance["valid_masks"] is None
    tuned = load_checkpoint(saved)
    assert changed_tensors(load_checkpoint(checkpoints["basnet_lite"]), tuned) > 0


def test_train_with_valid_masks_and_label_suffixes(cli, dataset, tmp_path, checkpoints):
    images, labels = dataset
    for label in sorted(labels.iterdir()):
        label.rename(labels / f"{label.stem}_mask.png")
    masks = tmp_path / "masks"
    masks.mkdir()
    for name, shape in (("a", (64, 80)), ("b", (72, 64))):
        valid = np.zeros(shape, np.uint8)
        valid[8:40, 8:40] = 255
        Image.fromarray(valid).save(masks / f"{name}_valid.png")

    result = cli(
        "train", "--images", images, "--labels", labels, "--masks", masks, "--checkpoint",
        checkpoints["basnet_lite"], "--steps", "1", "--freeze-encoder", "--keep-refused",
        "--out", tmp_path / "m.safetensors", *FAST,
    )  # fmt: skip

    assert result.code == 0, result.err
    provenance = header(tmp_path / "m.safetensors")["provenance"]
    assert provenance["valid_masks"] == ["a_valid.png", "b_valid.png"]
    assert provenance["training_labels"] == ["a_mask.png", "b_mask.png"]
    assert provenance["finetune"]["freeze_encoder"] is True


def test_ctrl_c_stops_after_the_step_and_saves(cli, dataset, tmp_path, checkpoints, monkeypatch):
    images, labels = dataset
    real_finetune = train_cmd.iter_finetune

    def interrupted_after_first_step(*args, **kwargs):
        steps = real_finetune(*args, **kwargs)
        yield next(steps)
        os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C now
        return (yield from steps)

    monkeypatch.setattr(train_cmd, "iter_finetune", interrupted_after_first_step)
    previous_handler = signal.getsignal(signal.SIGINT)

    result = cli(
        "train", "--images", images, "--labels", labels, "--checkpoint",
        checkpoints["basnet_lite"], "--steps", "50", "--val-fraction", "0",
        "--out", tmp_path / "stopped", *FAST,
    )  # fmt: skip

    assert result.code == 0, result.err
    assert "interrupted" in result.err and "saving the best weights" in result.err
    assert "stopped by Ctrl-C" in result.out
    steps_done = header(tmp_path / "stopped.safetensors")["provenance"]["finetune"]["steps_done"]
    assert 1 <= steps_done < 50
    assert signal.getsignal(signal.SIGINT) is previous_handler


def test_ctrl_c_before_the_first_step_saves_nothing(cli, dataset, tmp_path, monkeypatch):
    images, labels = dataset
    real_finetune = train_cmd.iter_finetune

    def interrupted_at_once(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return (yield from real_finetune(*args, **kwargs))

    monkeypatch.setattr(train_cmd, "iter_finetune", interrupted_at_once)

    result = cli(
        "train", "--images", images, "--labels", labels, "--steps", "5",
        "--out", tmp_path / "never", *FAST,
    )  # fmt: skip

    assert result.code == 130
    assert "nothing saved" in result.err
    assert not list(tmp_path.glob("never*"))


def test_train_untrained_starts_from_random_weights(cli, dataset, tmp_path):
    images, labels = dataset

    result = cli(
        "train", "--images", images, "--labels", labels, "--model", "basnet_lite",
        "--untrained", "--steps", "1", "--keep-refused", "--out", tmp_path / "scratch", *FAST,
    )  # fmt: skip

    assert result.code == 0, result.err
    assert "UNTRAINED" in result.err and "--untrained" in result.err
    provenance = header(tmp_path / "scratch.safetensors")["provenance"]
    assert provenance["base_model"] == "basnet_lite (random init)"


def test_train_fits_a_head_by_default(cli, dataset, tmp_path, checkpoints):
    images, labels = dataset
    out = tmp_path / "head.safetensors"

    result = cli(
        "train", "--images", images, "--labels", labels, "--checkpoint",
        checkpoints["basnet_lite"], "--trees", "4", "--features", "outputs", "--out", out,
    )  # fmt: skip

    assert result.code == 0, result.err
    assert f"saved {out}: adopted" in result.out
    config = header(out)
    assert config["arch"] == "adapted_head"
    assert config["kwargs"]["num_trees"] == 4
    # the asked-for features, unless the guard found the filters alone better (and said so)
    deep = config["kwargs"]["deep"]
    assert deep == "outputs" or (deep == "none" and "filters only" in result.out)
    assert config["provenance"]["training_images"] == ["a.png", "b.tif"]
    assert load_checkpoint(out).segrefine_config.kwargs["base"]["arch"] == "basnet_lite"


def test_a_refused_update_is_not_saved_unless_asked(cli, dataset, tmp_path, checkpoints):
    """A fine-tune that never beats the start on held-out corrections is refused."""
    images, labels = dataset
    out = tmp_path / "refused.safetensors"
    args = [
        "train", "--images", images, "--labels", labels, "--checkpoint",
        checkpoints["basnet_lite"], "--steps", "1", "--lr", "1e-12", "--out", out, *FAST,
    ]  # fmt: skip

    refused = cli(*args)

    assert refused.code == 1
    assert "not adopted" in refused.err and "nothing saved" in refused.err
    assert not out.exists()
    kept = cli(*args, "--keep-refused")
    assert kept.code == 0 and out.exists()
