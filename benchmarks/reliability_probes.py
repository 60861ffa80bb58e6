"""Reliability probes: hostile inputs and faults, each run as a fresh CLI subprocess.

Every probe builds its input in a scratch folder, runs ``python -m napari_segrefine.cli``
in a subprocess and records the exit code, whether stderr ended in exactly one line
without a traceback, the child's peak RSS (``os.wait4``) over the peak of a tiny
successful ``predict`` (the baseline: interpreter, torch and the model), and a probe's
own check (nothing half-written, nothing of the user's lost, the output correct).

Faults that need privileges are real when the script runs as root: a read-only bind
mount, a 256 KiB tmpfs (ENOSPC), a folder of mode 0555 with the root's permission-override
capabilities dropped by ``setpriv`` (EACCES); otherwise they are reported as not run.
EFBIG comes from ``RLIMIT_FSIZE``.

    python benchmarks/reliability_probes.py > benchmarks/results/reliability_probes.md
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image
from safetensors.torch import save_file

from napari_segrefine import create_model, save_checkpoint
from napari_segrefine.io import read_image

SRC = Path(__file__).resolve().parents[1] / "src"
NO_OVERRIDE = [
    "setpriv",
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
    "--",
]


@dataclass
class Probe:
    """One probe: its class, the command line, what success means, and extra checks."""

    kind: str
    name: str
    argv: Callable[[Path], list]
    expect: int = 2
    check: Callable[[Path], str] | None = None  # "" when fine, else what went wrong
    options: dict = field(default_factory=dict)  # locked, fsize, sigterm_when, mount


@dataclass
class Outcome:
    code: int | None
    one_line: bool
    peak_mb: float
    seconds: float
    note: str


def _run(argv: list, options: dict, root: Path, timeout: float = 180) -> Outcome:
    """Run the CLI in a child, reaped with ``os.wait4`` for its own peak RSS."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "HOME": str(root)}
    fsize, when = options.get("fsize"), options.get("sigterm_when")

    def prepare() -> None:
        if fsize:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    command = [sys.executable, "-m", "napari_segrefine.cli", *map(str, argv)]
    if options.get("locked"):
        command = NO_OVERRIDE + command
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=prepare, env=env
        )
        note, signalled = "", False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if when and not signalled and when(root):
                time.sleep(0.3)
                process.send_signal(signal.SIGTERM)
                signalled = True
            if time.perf_counter() - start > timeout:
                process.kill()
                note = f"HUNG: killed after {timeout:.0f} s"
            time.sleep(0.02)
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    lines = [line for line in lines if "WARNING" not in line and "removed" not in line]
    return Outcome(
        process.returncode,
        len(lines) <= 1 and not any("Traceback" in line for line in lines),
        usage.ru_maxrss / 1024,
        time.perf_counter() - start,
        note or (lines[-1][:160] if lines else ""),
    )


@dataclass
class Case:
    """Shared inputs, and the probe's own scratch folder ``here``."""

    root: Path
    here: Path = Path()

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def labels(self) -> Path:
        return self.root / "labels"

    @property
    def ckpt(self) -> Path:
        return self.root / "basnet_lite.safetensors"

    def predict(self, *inputs, out: Path | None = None, extra=()) -> list:
        inputs = inputs or (self.images / "a.png",)
        out = out or self.here / "out"
        return ["predict", *inputs, "--out", out, "--checkpoint", self.ckpt, *extra]

    def train(self, *extra, labels: Path | None = None, out: Path | None = None) -> list:
        return [
            "train", "--images", self.images, "--labels", labels or self.labels,
            "--checkpoint", self.ckpt, "--steps", "2", "--patch", "32", "--batch-size", "2",
            "--out", out or self.here / "m.safetensors", *extra,
        ]  # fmt: skip

    def header_ckpt(self, header) -> Path:
        state = {k: v.contiguous() for k, v in create_model("basnet_lite").state_dict().items()}
        path = self.here / "hostile.safetensors"
        raw = header if isinstance(header, str) else json.dumps(header)
        save_file(state, str(path), metadata={"segrefine": raw})
        return path


def make_shared(root: Path) -> None:
    rng = np.random.default_rng(0)
    for folder in ("images", "labels", "many"):
        (root / folder).mkdir(parents=True)
    for name in ("a", "b"):
        Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(
            root / "images" / f"{name}.png"
        )
        label = np.zeros((64, 80), np.uint8)
        label[10:40, 20:60] = 255
        Image.fromarray(label).save(root / "labels" / f"{name}.png")
    for index in range(8):
        image = rng.integers(0, 255, (512, 512, 3), dtype=np.uint8)
        Image.fromarray(image).save(root / "many" / f"m{index}.png")
    save_checkpoint(create_model("basnet_lite"), root / "basnet_lite.safetensors")
    os.chmod(root, 0o755)


def _zip_bomb(path: Path, mib: int) -> Path:
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("archive/data/0", "w", force_zip64=True) as member,
    ):
        block = bytes(2**20)
        for _ in range(mib):
            member.write(block)
    return path


def _zarr_bomb(path: Path) -> Path:
    import zarr

    zarr.create_array(
        store=str(path), shape=(100000, 100000), chunks=(1000, 1000), dtype="u1", zarr_format=2
    )
    return path


def _npy_bomb(path: Path) -> Path:
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(
            file, {"descr": "|u1", "fortran_order": False, "shape": (100000, 100000)}
        )
    return path


def _prob_map(path: Path) -> Path:
    tifffile.imwrite(path, np.full((64, 64), 0.7, np.float32))
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _cmyk(path: Path) -> Path:
    Image.new("CMYK", (64, 64), (0, 255, 255, 0)).save(path)
    return path


def _odd_geotiff(path: Path) -> Path:
    tags = [(33550, "s", 0, "1.0 1.0 0", True), (34737, "s", 0, "Zürich|".encode(), True)]
    tifffile.imwrite(path, np.zeros((64, 64, 3), np.uint8), photometric="rgb", extratags=tags)
    return path


def _negative_labels(case: Case) -> Path:
    folder = case.here / "labels"
    folder.mkdir()
    for name in ("a", "b"):
        label = np.zeros((64, 80), np.int16)
        label[10:40, 20:60] = -1
        tifffile.imwrite(folder / f"{name}.tif", label)
    return folder


def _user_folder(case: Case) -> list:
    (case.here / "out" / "a_mask.tif").mkdir(parents=True)
    (case.here / "out" / "a_mask.tif" / "notes.txt").write_text("mine")
    return case.predict()


def _stale_staging(case: Case) -> list:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], **_OUT)
    stale = case.here / "out" / f".segrefine-{dead.stdout.strip()}-x.part"
    stale.mkdir(parents=True)
    (stale / "a_mask.tif").write_bytes(b"partial")
    return case.predict()


_OUT = {"capture_output": True, "text": True, "check": True}


def _mounted(case: Case, how: list[str]) -> Path:
    target = case.here / "mnt"
    target.mkdir()
    subprocess.run(["mount", *how, str(target)], check=True, capture_output=True)
    MOUNTS.append(target)
    return target


MOUNTS: list[Path] = []


def _nothing_left(case: Case) -> str:
    out = case.here / "out"
    left = sorted(p.name for p in out.rglob("*")) if out.exists() else []
    return f"left behind: {left}" if left else ""


def _kept(case: Case) -> str:
    notes = case.here / "out" / "a_mask.tif" / "notes.txt"
    return "" if notes.is_file() and notes.read_text() == "mine" else "user folder lost"


def _no_staging(case: Case) -> str:
    out = case.here / "out"
    staged = [p.name for p in out.iterdir() if p.name.startswith(".")] if out.exists() else []
    return f"staging left: {staged}" if staged else ""


def _no_checkpoint(case: Case) -> str:
    return "checkpoint written" if (case.here / "m.safetensors").exists() else ""


def _rgb_read(case: Case) -> str:
    data = read_image(case.here / "c.jpg")
    return "" if data.shape == (64, 64, 3) else f"read as {data.shape}"


def _geo_written(case: Case) -> str:
    geo = read_image(case.here / "out" / "g_mask.tif").geo or {}
    return "" if geo.get("GeoAsciiParamsTag") == "Zürich|" else f"geo written: {geo}"


def _staging_appeared(root: Path) -> bool:
    out = root / "out"
    return out.exists() and any(p.name.startswith(".segrefine-") for p in out.iterdir())


OUTPUTS = "output folders"
KILLS = "kills"
CHECKPOINTS = "hostile checkpoints and configs"
BOMBS = "size bombs"
INPUTS = "inputs read right"

PROBES = [
    Probe(OUTPUTS, "--out under a regular file", lambda c: (
        (c.here / "f").write_text("x"), c.predict(out=c.here / "f" / "out"))[1]),
    Probe(OUTPUTS, "--out a dangling symlink", lambda c: (
        (c.here / "out").symlink_to(c.here / "gone"), c.predict())[1]),
    Probe(OUTPUTS, "--out on a read-only bind mount", lambda c: c.predict(
        out=_mounted(c, ["--bind", "-o", "ro", str(c.here)]) / "out"), options={"mount": 1}),
    Probe(OUTPUTS, "--out on a full filesystem (256 KiB tmpfs, ENOSPC)", lambda c: c.predict(
        c.root / "many" / "m0.png", out=_mounted(c, ["-t", "tmpfs", "-o", "size=256k", "tmpfs"]),
        extra=("--save-prob", "--save-boundary")), options={"mount": 1}),
    Probe(OUTPUTS, "--out in a folder of mode 0555 (EACCES)", lambda c: c.predict(
        out=c.here / "locked" / "out"), options={"locked": 1}),
    Probe(OUTPUTS, "output over the file-size limit (RLIMIT_FSIZE, EFBIG)", lambda c: c.predict(
        extra=("--save-prob",)), check=_nothing_left, options={"fsize": 4096}),
    Probe(OUTPUTS, "user folder a_mask.tif/ in --out", _user_folder, check=_kept),
    Probe(OUTPUTS, "train --out in a folder of mode 0555", lambda c: c.train(
        out=c.here / "locked" / "m.safetensors"), options={"locked": 1}),
    Probe(KILLS, "SIGTERM during predict of a folder", lambda c: c.predict(
        c.root / "many", out=c.here / "out"), expect=143, check=_no_staging,
        options={"sigterm_when": _staging_appeared}),
    Probe(KILLS, "stale staging folder of a killed run", _stale_staging, expect=0,
          check=_no_staging),
    Probe(CHECKPOINTS, "metadata not JSON", lambda c: c.predict(
        extra=()) [:-2] + ["--checkpoint", c.header_ckpt("{arch: basnet")]),
    Probe(CHECKPOINTS, "metadata a list", lambda c: c.predict()[:-2] + [
        "--checkpoint", c.header_ckpt(["basnet_lite"])]),
    Probe(CHECKPOINTS, "metadata without arch", lambda c: c.predict()[:-2] + [
        "--checkpoint", c.header_ckpt({"kwargs": {}})]),
    Probe(CHECKPOINTS, "non-numeric normalization", lambda c: c.predict()[:-2] + [
        "--checkpoint", c.header_ckpt({"arch": "basnet_lite", "normalization": {"std": ["x"]}})]),
    Probe(CHECKPOINTS, "width=4000", lambda c: c.predict()[:-2] + [
        "--checkpoint", c.header_ckpt({"arch": "basnet", "kwargs": {"width": 4000}})]),
    Probe(CHECKPOINTS, "width=1e6", lambda c: c.predict()[:-2] + [
        "--checkpoint", c.header_ckpt({"arch": "basnet", "kwargs": {"width": 1e6}})]),
    Probe(CHECKPOINTS, "num_classes=1e9", lambda c: c.predict()[:-2] + [
        "--checkpoint", c.header_ckpt({"arch": "bisenetv2", "kwargs": {"num_classes": 10**9}})]),
    Probe(CHECKPOINTS, "zip-bomb .pth, 4 MiB -> 4 GiB", lambda c: c.predict()[:-2] + [
        "--checkpoint", _zip_bomb(c.here / "bomb.pth", 4096)]),
    Probe(CHECKPOINTS, "zip-bomb .pth, 1 MiB -> 1 GiB", lambda c: c.predict()[:-2] + [
        "--checkpoint", _zip_bomb(c.here / "bomb.pth", 1024)]),
    Probe(CHECKPOINTS, "train --lr 1e6 (NaN weights)", lambda c: c.train(
        "--lr", "1e6", "--val-fraction", "0"), check=_no_checkpoint),
    Probe(BOMBS, "zarr .zarray claiming 100000 x 100000", lambda c: c.predict(
        _zarr_bomb(c.here / "bomb.zarr"))),
    Probe(BOMBS, ".npy header claiming 100000 x 100000", lambda c: c.predict(
        _npy_bomb(c.here / "bomb.npy"))),
    Probe(BOMBS, "refine --patch-size 1000000000", lambda c: [
        "refine", _prob_map(c.here / "m_prob.tif"), "--out", c.here / "out",
        "--patch-size", "1000000000"]),
    Probe(BOMBS, "train --batch-size 100000", lambda c: c.train("--batch-size", "100000")),
    Probe(BOMBS, "FIFO named x.png", lambda c: c.predict(_fifo(c.here / "x.png"))),
    Probe(INPUTS, "CMYK JPEG", lambda c: c.predict(_cmyk(c.here / "c.jpg")), expect=0,
          check=_rgb_read),
    Probe(INPUTS, "GeoTIFF with ASCII scale and non-ASCII params", lambda c: c.predict(
        _odd_geotiff(c.here / "g.tif")), expect=0, check=_geo_written),
    Probe(INPUTS, "int16 labels with foreground -1", lambda c: c.train(
        labels=_negative_labels(c)), expect=0),
]  # fmt: skip


def run_probe(probe: Probe, root: Path, index: int) -> tuple[Outcome | None, str]:
    case = Case(root, root / f"p{index:02d}")
    case.here.mkdir()
    if probe.options.get("mount") and os.geteuid() != 0:
        return None, "not run: needs root for mount"
    if probe.options.get("locked"):
        if shutil.which("setpriv") is None:
            return None, "not run: needs setpriv (util-linux)"
        (case.here / "locked").mkdir(mode=0o555)
    try:
        argv = probe.argv(case)
    except subprocess.CalledProcessError as err:
        return None, f"not run: {err.stderr.decode(errors='replace').strip()[:80]}"
    outcome = _run(argv, probe.options, case.here)
    problem = probe.check(case) if probe.check else ""
    return outcome, problem


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="segrefine-probes-"))
    os.chmod(root, 0o755)
    try:
        make_shared(root)
        baseline = _run(Case(root, root).predict(out=root / "baseline"), {}, root)
        rows, clean = [], 0
        for index, probe in enumerate(PROBES):
            outcome, problem = run_probe(probe, root, index)
            if outcome is None:
                cells = (probe.kind, probe.name, probe.expect, "-", "-", "-", problem, "not run")
                rows.append("| " + " | ".join(map(str, cells)) + " |")
                continue
            over = outcome.peak_mb - baseline.peak_mb
            ok = outcome.code == probe.expect and outcome.one_line and not problem and over < 1024
            clean += ok
            rows.append(
                f"| {probe.kind} | {probe.name} | {probe.expect} | {outcome.code} | "
                f"{'yes' if outcome.one_line else 'NO'} | {over:+.0f} | "
                f"{problem or outcome.note.replace('|', '/')} | {'clean' if ok else 'NOT CLEAN'} |"
            )
            print(rows[-1], file=sys.stderr)
    finally:
        for mount in reversed(MOUNTS):
            subprocess.run(["umount", str(mount)], check=False)
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
        f"Python {platform.python_version()}. Baseline (tiny predict) peak RSS "
        f"{baseline.peak_mb:.0f} MiB.\n"
    )
    print(f"{clean} of {len(PROBES)} probes clean.\n")
    print(
        "| class | probe | expected exit | exit | one line, no traceback | peak RSS over "
        "baseline (MiB) | check / last stderr line | verdict |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
