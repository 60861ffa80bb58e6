"""What ``napari-segrefine bench`` measures: the machine, and each case on each path.

A path is how the work runs: ``eager fp32`` (the model as built, fp32, inside
`engine.tuning.eager`), ``tuned fp32`` (BatchNorm folded, channels_last) and ``tuned
bf16`` (the same with bf16 autocast; only where the device runs bf16). Every case runs
on every path with the same inputs and reports the time and how far the output moved
from the eager fp32 one, so speed and correctness are read off one table.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial

import numpy as np
import torch
from scipy import ndimage

from ..engine import boundary_map, predict
from ..engine.device import autocast_dtype, autocasting, cpu_supports_bf16
from ..engine.tuning import eager, inference_copy
from ..generators import drain
from ..models import create_model, get_spec
from ..ranking import rank_patches
from ..refine.pipeline import prn_final_mask
from ..refine.prn_windows import iter_prn_probabilities

PATHS = ("eager fp32", "tuned fp32", "tuned bf16")


@dataclass
class Row:
    """One case: seconds per path, and the output's distance from the eager fp32 one.

    ``diff`` is the largest absolute probability difference; ``flips`` the fraction of
    mask pixels that differ (cases with masks only).
    """

    case: str
    size: str
    seconds: dict[str, float] = field(default_factory=dict)
    diff: dict[str, float] = field(default_factory=dict)
    flips: dict[str, float] = field(default_factory=dict)
    bytes_per_pixel: float | None = None


def machine(device: torch.device) -> dict[str, str]:
    """The machine, its load and the settings that decide CPU speed."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    facts = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "logical cores": str(os.cpu_count()),
        "load average (1, 5, 15 min)": load,
        "torch": torch.__version__,
        "torch threads": str(torch.get_num_threads()),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "(unset)"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
        "CPU bf16 (oneDNN)": "yes" if cpu_supports_bf16() else "no",
        "device": str(device),
    }
    if device.type == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(device)
    return facts


def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def paths_on(device: torch.device) -> tuple[str, ...]:
    """The paths this device runs: bf16 only where it runs natively."""
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    bf16 = bf16 or (device.type == "cpu" and cpu_supports_bf16())
    return PATHS if bf16 else PATHS[:2]


def _on_path(path: str) -> contextlib.AbstractContextManager:
    return eager() if path.startswith("eager") else contextlib.nullcontext()


def _precision(path: str) -> str:
    return path.split()[-1]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


Compare = Callable[[object, object], tuple[float | None, float | None]]


def _interleaved(
    row: Row, runs: dict[str, Callable[[], object]], repeats: int, compare: Compare
) -> Row:
    """Time each path ``repeats`` times, the paths taking turns (eager first in each
    round), so that a change of the machine's load hits every path alike; record the
    median seconds and the last run's distance from the eager fp32 output."""
    times: dict[str, list[float]] = {path: [] for path in runs}
    for _ in range(repeats):
        reference = None
        for path, run in runs.items():
            with _on_path(path):
                start = time.perf_counter()
                output = run()
                times[path].append(time.perf_counter() - start)
            reference = output if reference is None else reference
            diff, flips = compare(reference, output)
            if diff is not None:
                row.diff[path] = diff
            if flips is not None:
                row.flips[path] = flips
            del output
    row.seconds = {path: statistics.median(values) for path, values in times.items()}
    return row


def forward_case(
    name: str, shape: tuple[int, int], device: torch.device, batch: int, repeats: int
) -> Row:
    """A registered model's forward on a random batch, after one warm-up call per path."""
    spec = get_spec(name)
    extra = {"aux": False} if spec.family.startswith("bisenet") else {}
    model = create_model(name, **extra).to(device).eval()
    probability_input = spec.input_kind == "probability"
    forward_kwargs = {"patch_size": 64} if probability_input else {}
    channels = 1 if probability_input else 3
    x = torch.rand(batch, channels, *shape, generator=torch.Generator().manual_seed(0))
    x = x.to(device)
    runs = {}
    for path in paths_on(device):
        with _on_path(path):
            runner = inference_copy(model, device, channels, min(shape), **forward_kwargs)
        dtype = autocast_dtype(device, _precision(path))

        def run(runner=runner, dtype=dtype) -> torch.Tensor:
            with torch.inference_mode(), autocasting(device, dtype):
                output = runner.module(runner.prepare(x), **forward_kwargs)
            first = output[0] if isinstance(output, (tuple, list)) else output
            _sync(device)
            return torch.sigmoid(first.float())

        run()  # warm-up: oneDNN picks its kernels on the first call
        runs[path] = run
    row = Row(f"forward {name}", f"{batch} x {shape[0]}x{shape[1]}")
    return _interleaved(row, runs, repeats, _compare_tensors)


def _compare_tensors(reference: torch.Tensor, output: torch.Tensor) -> tuple[float, None]:
    return float((output - reference).abs().max()), None


def predict_case(
    model_name: str,
    side: int,
    device: torch.device,
    options: tuple[int | None, int],
    memory: bool,
) -> Row:
    """`predict` on a ``side`` x ``side`` RGB image; ``options`` are (tile, repeats).

    With ``memory``, also the numpy peak of one more run on the last path in bytes per
    pixel (tracemalloc: numpy arrays, not torch's own buffers such as activations).
    """
    tile, repeats = options
    model = create_model(model_name, pretrained=True)
    image = synthetic_rgb(side)
    runs = {
        path: partial(
            predict, model, image, tile_size=tile, device=device, precision=_precision(path)
        )
        for path in paths_on(device)
    }
    row = Row(f"predict {model_name}", f"{side}x{side}")
    _interleaved(row, runs, repeats, _compare_predictions)
    if memory:
        row.bytes_per_pixel = _numpy_peak(runs[paths_on(device)[-1]]) / (side * side)
    return row


def _compare_predictions(reference, output) -> tuple[float, float]:
    diff = float(np.abs(output.probabilities - reference.probabilities).max())
    return diff, float((output.mask != reference.mask).mean())


def _numpy_peak(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def refine_case(side: int, device: torch.device, repeats: int) -> Row:
    """PRN refinement (shipped ``prn_p64_lite``, patch 64) of a ``side``^2 map, per path:
    `refine`'s steps (PRN windows, then the combined mask) with the path's precision."""
    prn = create_model("prn_p64_lite", pretrained=True)
    prob = synthetic_probability(side)

    def run(precision: str) -> np.ndarray:
        windows = iter_prn_probabilities(
            prn, prob, patch_size=64, device=device, precision=precision
        )
        return prn_final_mask(prn, *drain(windows))

    runs = {path: partial(run, _precision(path)) for path in paths_on(device)}
    row = Row("refine prn_p64_lite", f"{side}x{side}")
    return _interleaved(row, runs, repeats, _compare_masks)


def _compare_masks(reference: np.ndarray, output: np.ndarray) -> tuple[None, float]:
    return None, float((output != reference).mean())


def rank_cases(side: int) -> list[Row]:
    """`boundary_map` and `rank_patches` (computing its own boundary) on a ``side``^2 map.

    Pure numpy: one path ("tuned fp32" is the code as it is; there is no eager twin).
    """
    prob = synthetic_probability(side)
    rows = []
    for case, fn in (
        ("boundary_map", lambda: boundary_map(prob)),
        ("rank_patches", lambda: rank_patches(prob, 128)),
    ):
        start = time.perf_counter()
        fn()
        rows.append(Row(case, f"{side}x{side}", {"tuned fp32": time.perf_counter() - start}))
    return rows


def synthetic_rgb(side: int, seed: int = 0) -> np.ndarray:
    """A reproducible uint8 RGB image of smooth blobs on texture."""
    rng = np.random.default_rng(seed)
    blobs = _smooth_field(rng, side) > 0.55
    texture = rng.integers(0, 40, (side, side, 3), dtype=np.uint8)
    color = np.where(blobs[..., None], (200, 90, 80), (60, 110, 140)).astype(np.uint8)
    return color + texture


def synthetic_probability(side: int, seed: int = 1) -> np.ndarray:
    """A reproducible float32 probability map with soft, curved contours."""
    field_ = _smooth_field(np.random.default_rng(seed), side)
    return (1 / (1 + np.exp(-(field_ - 0.5) * 20))).astype(np.float32)


def _smooth_field(rng: np.random.Generator, side: int) -> np.ndarray:
    """Noise blurred at 1/32 of the side, scaled to [0, 1] (computed small, then zoomed)."""
    small = max(8, side // 8)
    noise = ndimage.gaussian_filter(rng.random((small, small)), small / 32, mode="wrap")
    zoomed = ndimage.zoom(noise, side / small, order=1)[:side, :side].astype(np.float32)
    zoomed -= zoomed.min()
    zoomed /= max(float(zoomed.max()), 1e-6)
    return zoomed
