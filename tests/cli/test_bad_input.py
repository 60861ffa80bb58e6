"""Bad input: one line on stderr, exit code 2, no traceback, nothing (half-)written."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pooch
import pytest
import tifffile
from PIL import Image

from napari_segrefine.models.weights import CACHE_ENV


@dataclass
class Case:
    """Paths a scenario builds on: the synthetic dataset and where outputs would go."""

    root: Path
    images: Path
    labels: Path
    checkpoints: dict[str, Path]

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def model(self) -> list[str | Path]:
        return ["--checkpoint", self.checkpoints["basnet_lite"]]

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(exist_ok=True)
        return path

    def garbage(self, name: str) -> Path:
        path = self.folder("bad") / name
        path.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
        return path

    def stack(self, name: str, shape: tuple[int, ...], dtype=np.uint8) -> Path:
        path = self.folder("bad") / name
        tifffile.imwrite(path, np.zeros(shape, dtype), photometric="minisblack")
        return path

    def predict(self, *options, inputs=()) -> list:
        return [
            "predict",
            self.images / "a.png",
            *inputs,
            "--out",
            self.out,
            *self.model,
            *options,
        ]

    def model_only(self, *options) -> list:
        """``predict`` of one image with only ``options`` choosing the model."""
        return ["predict", self.images / "a.png", "--out", self.out, *options]

    def refine(self, *options, inputs=()) -> list:
        maps = self.folder("maps")
        tifffile.imwrite(maps / "m_prob.tif", np.full((64, 64), 0.7, np.float32))
        return ["refine", maps, *inputs, "--out", self.out, *options]

    def train(self, *extra, images=None, labels=None, model=None) -> list:
        return [
            "train", "--images", images or self.images, "--labels", labels or self.labels,
            *(model or self.model), "--steps", "1", "--patch", "32",
            "--out", self.out / "model.safetensors", *extra,
        ]  # fmt: skip

    def evaluate(self, pred: Path, *extra, gt: Path | None = None) -> list:
        json = self.out / "m.json"
        return ["evaluate", "--pred", pred, "--gt", gt or self.labels, "--json", json, *extra]

    def float_map(self, name: str, array: np.ndarray) -> Path:
        path = self.folder("bad") / name
        tifffile.imwrite(path, array.astype(np.float32))
        return path

    def resized_labels(self) -> Path:
        labels = self.folder("resized")
        for label in self.labels.iterdir():
            Image.fromarray(np.zeros((32, 32), np.uint8)).save(labels / label.name)
        return labels


def _unmatched_labels(case: Case) -> Path:
    labels = case.folder("partial")
    shutil.copy(case.labels / "a.png", labels / "a.png")
    return labels


def _predictions(case: Case, shape=None) -> Path:
    pred = case.folder("pred")
    for label in case.labels.iterdir():
        size = shape or np.asarray(Image.open(label)).shape
        tifffile.imwrite(pred / f"{label.stem}_mask.tif", np.ones(size, np.uint8))
    return pred


def _stack_images(case: Case) -> Path:
    """Images where ``a`` is a stack of 3 gray slices of the label's size."""
    folder = case.stack("a.tif", (3, 64, 80)).parent
    shutil.copy(case.images / "b.tif", folder / "b.tif")
    return folder


SCENARIOS: dict[str, Callable[[Case], list]] = {
    # predict
    "predict unreadable file": lambda c: c.predict(inputs=[c.garbage("z.png")]),
    "predict wrong dims": lambda c: c.predict(inputs=[c.stack("five.tif", (2, 2, 2, 16, 16))]),
    "predict empty folder": lambda c: c.predict(inputs=[c.folder("empty")]),
    "predict missing input": lambda c: c.predict(inputs=[c.root / "missing.png"]),
    "predict unsupported file": lambda c: c.predict(inputs=[c.garbage("notes.txt")]),
    "predict unknown model": lambda c: ["predict", c.images, "--out", c.out, "--model", "nope"],
    "predict PRN as model": lambda c: ["predict", c.images, "--out", c.out, "--model", "prn_p4"],
    "predict missing checkpoint": lambda c: [
        "predict",
        c.images,
        "--out",
        c.out,
        "--checkpoint",
        c.root / "none.safetensors",
    ],  # fmt: skip
    "predict damaged checkpoint": lambda c: [
        "predict",
        c.images,
        "--out",
        c.out,
        "--checkpoint",
        c.garbage("m.safetensors"),
    ],  # fmt: skip
    "predict tile 0": lambda c: c.predict("--tile", "0"),
    "predict negative tile": lambda c: c.predict("--tile", "-64"),
    "predict tile too big": lambda c: c.predict("--tile", "9000"),
    "predict model without weights": lambda c: c.model_only("--model", "bisenetv1_binary"),
    "predict weights not downloaded": lambda c: c.model_only("--model", "basnet"),
    "predict download fails": lambda c: c.model_only("--model", "bisenetv2"),
    "predict untrained checkpoint": lambda c: c.predict("--untrained"),
    "predict batch size 0": lambda c: c.predict("--batch-size", "0"),
    "predict overlap 1": lambda c: c.predict("--overlap", "1"),
    "predict threshold 2": lambda c: c.predict("--threshold", "2"),
    "predict unknown device": lambda c: c.predict("--device", "tpu"),
    "predict same stems": lambda c: c.predict(inputs=[c.stack("a.tif", (64, 64))]),
    "predict out is a file": lambda c: [
        "predict",
        c.images,
        *c.model,
        "--out",
        c.images / "a.png",
    ],  # fmt: skip
    # refine
    "refine out of range": lambda c: c.refine(
        inputs=[c.float_map("big.tif", np.full((64, 64), 2.0))]
    ),
    "refine wrong dims": lambda c: c.refine(
        inputs=[c.stack("s_prob.tif", (3, 64, 64), np.float32)]
    ),
    "refine patch size 0": lambda c: c.refine("--patch-size", "0"),
    "refine threshold 1": lambda c: c.refine("--threshold", "1"),
    "refine segmenter as PRN": lambda c: c.refine("--prn", c.checkpoints["basnet_lite"]),
    "refine missing PRN file": lambda c: c.refine("--prn", c.root / "prn.safetensors"),
    "refine unknown PRN": lambda c: c.refine("--prn", "prn_p99"),
    "refine PRN without weights": lambda c: c.refine("--prn", "prn_p0"),
    "refine untrained without PRN": lambda c: c.refine("--untrained"),
    # evaluate
    "evaluate unmatched": lambda c: c.evaluate(_predictions(c), gt=_unmatched_labels(c)),
    "evaluate size mismatch": lambda c: c.evaluate(_predictions(c, shape=(8, 8))),
    "evaluate empty folder": lambda c: c.evaluate(c.folder("empty")),
    "evaluate missing folder": lambda c: c.evaluate(c.root / "nowhere"),
    "evaluate threshold 2": lambda c: c.evaluate(_predictions(c), "--threshold", "2"),
    # train
    "train labels of another size": lambda c: c.train(labels=c.resized_labels()),
    "train unmatched": lambda c: c.train(labels=_unmatched_labels(c)),
    "train masks of another size": lambda c: c.train("--masks", c.resized_labels()),
    "train empty images": lambda c: c.train(images=c.folder("empty")),
    "train steps 0": lambda c: c.train("--steps", "0"),
    "train negative lr": lambda c: c.train("--lr", "-1"),
    "train patch 7": lambda c: c.train("--patch", "7"),
    "train patch 100000": lambda c: c.train("--patch", "100000"),
    "train patch 48": lambda c: c.train("--patch", "48"),
    "train model without weights": lambda c: c.train(model=["--model", "bisenetv1_binary"]),
    "train missing checkpoint": lambda c: c.train("--checkpoint", c.root / "x.safetensors"),
    "train unknown model": lambda c: c.train(model=["--model", "nope"]),
    "train image stack": lambda c: c.train(images=_stack_images(c)),
}


def _offline(*args, **kwargs):
    raise ConnectionError("no network in the tests")


@pytest.fixture
def case(dataset, tmp_path, checkpoints, monkeypatch) -> Case:
    """The scenario paths, with an empty weights cache and no network for downloads."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(pooch, "retrieve", _offline)
    images, labels = dataset
    return Case(tmp_path, images, labels, checkpoints)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, case, scenario, folder_snapshot):
    argv = SCENARIOS[scenario](case)
    case.out.mkdir()
    (case.out / "a_mask.tif").write_bytes(b"an earlier result")
    before = folder_snapshot(case.out)

    result = cli(*argv)

    assert result.code == 2, (result.out, result.err)
    assert len(result.err_lines) == 1, result.err
    assert result.err_lines[0].startswith(f"napari-segrefine {argv[0]}: error: ")
    assert "Traceback" not in result.err
    assert folder_snapshot(case.out) == before


MESSAGES = {
    "predict tile too big": "--tile must be a positive number between 1 and 8192",
    "predict model without weights": "--untrained",
    "predict weights not downloaded": "drive.google.com",
    "predict download fails": "could not download bisenetv2_city",
    "refine PRN without weights": "--untrained",
    "train patch 7": "--patch must be a multiple of 32 between 32 and 4096 pixels, got 7",
    "train patch 100000": "--patch must be a multiple of 32 between 32 and 4096",
}


@pytest.mark.parametrize("scenario", MESSAGES)
def test_error_messages_say_what_to_do(cli, case, scenario):
    result = cli(*SCENARIOS[scenario](case))

    assert result.code == 2
    assert MESSAGES[scenario] in result.err


def test_new_output_folder_is_removed_after_an_error(cli, case):
    out = case.root / "new" / "deeper"

    result = cli("predict", case.images, case.garbage("z.png"), "--out", out, *case.model)

    assert result.code == 2
    assert "z.png" in result.err
    assert not (case.root / "new").exists()


def test_console_script_exits_2_without_traceback(case):
    script = Path(sys.executable).with_name("napari-segrefine")
    assert script.is_file(), "the package must be installed (pip install -e .)"
    argv = [str(a) for a in case.predict(inputs=[case.garbage("z.png")])]

    done = subprocess.run([script, *argv], capture_output=True, text=True, timeout=120)

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "Traceback" not in done.stderr and "z.png" in done.stderr
    assert not case.out.exists()
