"""Output faults: unwritable, full or odd ``--out``; kills mid-run; nothing of the user's lost."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_segrefine.cli import outputs, train_cmd

SRC = Path(__file__).resolve().parents[2] / "src"
_TEXT = {"capture_output": True, "text": True, "timeout": 60}


def _predict(images: Path, out: Path, checkpoint: Path, *extra) -> list:
    return ["predict", images, "--out", out, "--checkpoint", checkpoint, "--device", "cpu", *extra]


def _one_error_line(result, *words: str) -> None:
    assert result.code == 2, result.err
    assert len(result.err_lines) == 1, result.err
    assert "Traceback" not in result.err
    for word in words:
        assert word in result.err_lines[0], result.err


def test_out_under_a_regular_file_is_one_line(cli, dataset, tmp_path, checkpoints):
    (tmp_path / "file").write_text("mine")
    result = cli(*_predict(dataset[0], tmp_path / "file" / "out", checkpoints["basnet_lite"]))
    _one_error_line(result, "is a file, not a folder")
    assert (tmp_path / "file").read_text() == "mine"


def test_out_as_a_dangling_symlink_is_one_line(cli, dataset, tmp_path, checkpoints):
    (tmp_path / "out").symlink_to(tmp_path / "gone")
    result = cli(*_predict(dataset[0], tmp_path / "out", checkpoints["basnet_lite"]))
    _one_error_line(result, "broken symbolic link")
    assert (tmp_path / "out").is_symlink() and not (tmp_path / "gone").exists()


def test_read_only_out_is_refused_before_the_model_runs(
    cli, dataset, tmp_path, checkpoints, monkeypatch
):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), kwargs.get("dir"))

    monkeypatch.setattr(outputs.tempfile, "TemporaryFile", read_only)
    monkeypatch.setattr("napari_segrefine.cli.predict_cmd.predict", pytest.fail)
    result = cli(*_predict(dataset[0], tmp_path / "out", checkpoints["basnet_lite"]))
    _one_error_line(result, "read-only")


def test_disk_full_during_a_write_leaves_nothing(cli, dataset, tmp_path, checkpoints, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("napari_segrefine.io.tiff.tifffile.imwrite", full)
    out = tmp_path / "out"
    out.mkdir()
    result = cli(*_predict(dataset[0], out, checkpoints["basnet_lite"]))
    _one_error_line(result, "no space left")
    assert list(out.iterdir()) == []


@pytest.mark.slow  # a subprocess that imports torch
def test_file_size_limit_is_one_line_and_leaves_nothing(dataset, tmp_path, checkpoints):
    """A real EFBIG: the command runs under RLIMIT_FSIZE in a subprocess."""
    script = textwrap.dedent(
        """
        import resource, sys
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))
        from napari_segrefine.cli import main
        sys.exit(main(sys.argv[1:]))
        """
    )
    out = tmp_path / "out"
    argv = [str(a) for a in _predict(dataset[0], out, checkpoints["basnet_lite"], "--save-prob")]
    done = subprocess.run(
        [sys.executable, "-c", script, *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "file-size limit" in done.stderr.strip().splitlines()[-1]
    assert not out.exists()


def test_a_user_folder_with_an_output_name_is_kept_unless_overwrite(
    cli, dataset, tmp_path, checkpoints
):
    out = tmp_path / "out"
    (out / "a_mask.tif").mkdir(parents=True)
    (out / "a_mask.tif" / "notes.txt").write_text("mine")
    args = _predict(dataset[0] / "a.png", out, checkpoints["basnet_lite"])

    refused = cli(*args)
    _one_error_line(refused, "a_mask.tif", "--overwrite")
    assert (out / "a_mask.tif" / "notes.txt").read_text() == "mine"

    replaced = cli(*args, "--overwrite")
    assert replaced.code == 0, replaced.err
    assert tifffile.imread(out / "a_mask.tif").shape == (64, 80)


def test_train_out_is_checked_before_training(cli, dataset, tmp_path, checkpoints, monkeypatch):
    (tmp_path / "file").write_text("mine")
    monkeypatch.setattr(train_cmd, "iter_finetune", pytest.fail)
    result = cli(
        "train", "--images", dataset[0], "--labels", dataset[1], "--checkpoint",
        checkpoints["basnet_lite"], "--out", tmp_path / "file" / "m.safetensors",
    )  # fmt: skip
    _one_error_line(result, "is a file, not a folder")


def test_stale_staging_of_a_dead_run_is_removed_and_a_live_one_kept(
    cli, dataset, tmp_path, checkpoints
):
    out = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], **_TEXT)
    stale = out / f".segrefine-{dead.stdout.strip()}-abc.part"
    live = out / f".segrefine-{os.getpid()}-abc.part"
    for folder in (stale, live):
        folder.mkdir(parents=True)
        (folder / "a_mask.tif").write_bytes(b"partial")

    result = cli(*_predict(dataset[0] / "a.png", out, checkpoints["basnet_lite"]))

    assert result.code == 0, result.err
    assert not stale.exists() and live.exists()
    assert "interrupted run" in result.err


@pytest.mark.slow  # a subprocess that imports torch
def test_sigterm_during_predict_removes_the_staging_folder(dataset, tmp_path, checkpoints):
    """SIGTERM arrives while the second image is predicted (the first is already staged)."""
    script = textwrap.dedent(
        """
        import sys, time
        from napari_segrefine.cli import main, predict_cmd
        real = predict_cmd.predict
        calls = []
        def slow(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                print("second", flush=True)
                time.sleep(60)
            return real(*args, **kwargs)
        predict_cmd.predict = slow
        sys.exit(main(sys.argv[1:]))
        """
    )
    out = tmp_path / "out"
    out.mkdir()
    argv = [str(a) for a in _predict(dataset[0], out, checkpoints["basnet_lite"])]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    with subprocess.Popen(
        [sys.executable, "-c", script, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        # the first image's lines (an empty-mask advice, say) may come first
        assert any(line.strip() == "second" for line in iter(process.stdout.readline, ""))
        assert [p.name for p in out.iterdir()][0].startswith(".segrefine-")
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "Traceback" not in err
    assert list(out.iterdir()) == []


def test_nan_weights_from_a_diverged_training_are_not_saved(cli, dataset, tmp_path, checkpoints):
    """``--lr 1e6`` blows the weights up; the checkpoint is refused, nothing written."""
    out = tmp_path / "m.safetensors"
    result = cli(
        "train", "--images", dataset[0], "--labels", dataset[1], "--kind", "finetune",
        "--checkpoint", checkpoints["basnet_lite"], "--steps", "3", "--lr", "1e6", "--patch", "32",
        "--batch-size", "2", "--val-fraction", "0", "--device", "cpu", "--out", out,
    )  # fmt: skip
    _one_error_line(result, "NaN or infinite", "--lr")
    assert not out.exists()


def test_negative_labels_are_foreground_as_help_says(dataset, tmp_path):
    images, _ = dataset
    labels = tmp_path / "neg"
    labels.mkdir()
    label = np.zeros((64, 80), np.int16)
    label[10:20, 10:30] = -1
    tifffile.imwrite(labels / "a.tif", label)
    files = train_cmd._Files(images / "a.png", labels / "a.tif", None)
    _, read, _ = train_cmd._read_sample(files, binary=True)
    assert read.sum() == 200 and read[15, 15] == 1


def test_an_unforeseen_os_error_is_still_one_line(cli, dataset, tmp_path, monkeypatch):
    def broken(args):
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(tmp_path / "x"))

    monkeypatch.setattr("napari_segrefine.cli.refine_cmd.run", broken)
    result = cli("refine", dataset[1], "--out", tmp_path / "out")
    _one_error_line(result, "cannot use", "x: Input/output error")
