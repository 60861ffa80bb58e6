"""`predict`: a segmentation model over any image, tile by tile, with progress."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import nn

from ..errors import SegRefineError
from ..generators import Progress, ProgressCallback, drain_to_callback, map_events
from ..models.config import ModelConfig, model_config
from ..models.normalization import normalize, scale_divisor
from .default_tiling import (
    DEFAULT_OVERLAP,
    default_tile_shape,
    padded_shape,
    tiling_unlike_training,
)
from .device import autocast_dtype, autocasting, evaluating, resolve_device
from .oom import RunPlan, smaller
from .prediction import FirstPart, Prediction, assemble, check_threshold
from .preprocess import crop_to, match_channels, pad_to_multiple, to_channels_first
from .tiling import (
    TileFn,
    TileMemo,
    Window,
    as_tile_shape,
    iter_sliding_window,
    tile_grid,
    touching_tiles,
)
from .tuning import inference_copy


def predict(
    model: nn.Module,
    image: np.ndarray,
    *,
    tile_size: int | Sequence[int] | None = None,
    overlap: float = DEFAULT_OVERLAP,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
    precision: str = "auto",
    progress: ProgressCallback | None = None,
    threshold: float = 0.5,
    channel_axis: int | None = None,
    bands: Sequence[int] | None = None,
    stop: threading.Event | None = None,
) -> Prediction:
    """Segment ``image`` with ``model``: `iter_predict`, drained.

    Takes `iter_predict`'s arguments, and ``progress``: called as
    ``progress(tiles done, total)`` after each batch of tiles.
    """
    events = iter_predict(
        model,
        image,
        tile_size=tile_size,
        overlap=overlap,
        batch_size=batch_size,
        device=device,
        precision=precision,
        threshold=threshold,
        channel_axis=channel_axis,
        bands=bands,
        stop=stop,
    )
    return drain_to_callback(events, progress)


def iter_predict(
    model: nn.Module,
    image: np.ndarray,
    *,
    tile_size: int | Sequence[int] | None = None,
    overlap: float = DEFAULT_OVERLAP,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
    precision: str = "auto",
    threshold: float = 0.5,
    channel_axis: int | None = None,
    bands: Sequence[int] | None = None,
    stop: threading.Event | None = None,
    first: Sequence[int] | None = None,
) -> Generator[Progress, None, Prediction]:
    """Segment ``image`` with ``model``, yielding a `Progress` after each batch of tiles.

    Each slice of a stack is normalized on its own as the model expects (gray
    replicated to the model's channels), reflect-padded to a multiple of 32, run tile
    by tile with Gaussian blending, and cropped back to the input's size.
    Probabilities (sigmoid or softmax) are blended, not logits.

    Args:
        model: a segmentation model built by napari-segrefine (it carries
            ``segrefine_config``); it is moved to ``device`` and run in eval mode,
            its training flag restored afterwards.
        image: 2D gray, RGB(A), multiband, or a stack of these; see `to_channels_first`.
        tile_size: tile side or (height, width), rounded up to a multiple of 32. None:
            the whole image at once up to 1024 pixels per side, else 512 tiles.
        overlap: fraction of a tile shared with each neighbour, in [0, 1).
        batch_size: tiles per model call; None: 4 on a GPU, 1 on the CPU.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``. Out of memory, a
            slice starts again with batch 1, then half-size tiles, then on the CPU,
            with a warning each time (`engine.oom`).
        precision: ``auto`` (bf16 autocast on CUDA, fp16 where bf16 is missing, fp32
            elsewhere; always fp32 for a head, whose trees split the fp32 features they
            were fitted on), ``fp32``, ``fp16`` or ``bf16``.
        threshold: binary masks are ``probabilities > threshold``.
        channel_axis: the image's channel axis when it cannot be guessed.
        bands: channel indices to feed the model (e.g. 3 bands of a multiband image).
        stop: a `threading.Event`; when set, `Cancelled` is raised between batches.
        first: a part to compute before the rest, e.g. what a viewer shows:
            ``(y0, y1, x0, x1)``, or ``(n, y0, y1, x0, x1)`` in slice n of a stack. Its
            slice runs first, the tiles touching it first of all (none twice), and a
            `FirstPart` event carries its probabilities as soon as they are known.

    Returns:
        The `Prediction` (as the generator's return value).
    """
    config = _image_model_config(model)
    check_threshold(threshold)
    stack, layout = to_channels_first(image, channel_axis, bands)
    in_channels = model_in_channels(model)
    match_channels(stack[0], in_channels)  # a channel mismatch fails before any work
    torch_device = resolve_device(device)
    precision = _precision(model, precision)
    dtype = autocast_dtype(torch_device, precision)
    spatial = stack.shape[2:]
    plan = RunPlan(
        torch_device,
        _tile_shape(tile_size, spatial),
        batch_size or (1 if torch_device.type == "cpu" else 4),
    )
    _warn_if_tiled_unlike_training(model, plan.tile, overlap, spatial)
    part = _first_part(first, len(stack) if layout.is_stack else None, spatial)
    job = _Job(model, config, in_channels, overlap, precision, stop, len(stack), part)
    yield Progress(0, job.total_tiles(plan, spatial), "starting")
    slices: list[np.ndarray] = [np.empty(0)] * len(stack)
    done = 0
    with evaluating(model, torch_device):
        run_tiles = _tile_function(model, plan.device, dtype)
        for index in job.slice_order():
            label = f"slice {index + 1}/{len(stack)}: " if layout.is_stack else ""
            predict_slice = _predict_first if index == job.first_index else _predict_slice
            probs, plan, run_tiles, done = yield from predict_slice(
                job, stack[index], (done, label), plan, run_tiles
            )
            slices[index] = crop_to(probs, spatial)
    return assemble(slices, layout.is_stack, threshold)


@dataclass(frozen=True)
class _Job:
    """What stays the same over the slices of one `iter_predict` call."""

    model: nn.Module
    config: ModelConfig
    in_channels: int
    overlap: float
    precision: str
    stop: threading.Event | None
    slices: int
    first: _Part | None = None

    @property
    def first_index(self) -> int | None:
        return None if self.first is None else self.first.index or 0

    def slice_order(self) -> list[int]:
        """The slices in the order they run: the first part's slice first."""
        order = list(range(self.slices))
        if self.first_index:
            order.insert(0, order.pop(self.first_index))
        return order

    def ahead_tiles(self, plan: RunPlan, spatial: tuple[int, int]) -> int:
        """The tiles run for the first part ahead of its slice: those touching it, when
        they are fewer than the slice's (else 0: the part comes with its slice)."""
        if self.first is None:
            return 0
        ahead = _part_tiles(self.first.region, plan, spatial, self.overlap)
        return ahead if ahead < _tile_count(plan, spatial, self.overlap) else 0

    def total_tiles(self, plan: RunPlan, spatial: tuple[int, int]) -> int:
        per_slice = _tile_count(plan, spatial, self.overlap)
        return per_slice * self.slices + self.ahead_tiles(plan, spatial)


@dataclass(frozen=True)
class _Part:
    """The part `iter_predict` computes first: a region of one slice (index None: 2D)."""

    index: int | None
    region: tuple[int, int, int, int]


def _first_part(first: Sequence[int] | None, slices: int | None, spatial) -> _Part | None:
    """``first`` checked against the image: a `_Part`, or None when there is none."""
    if first is None:
        return None
    values = list(np.asarray(first).ravel())
    if len(values) != (4 if slices is None else 5) or not all(
        isinstance(v, (int, np.integer)) for v in values
    ):
        where = "(y0, y1, x0, x1)" if slices is None else "(n, y0, y1, x0, x1) in a stack"
        raise SegRefineError(f"first must be ints {where}, got {first!r}")
    values = [int(v) for v in values]
    index = None if slices is None else values.pop(0)
    y0, y1, x0, x1 = values
    inside = 0 <= y0 < y1 <= spatial[0] and 0 <= x0 < x1 <= spatial[1]
    if not inside or (index is not None and not 0 <= index < slices):
        raise SegRefineError(
            f"first {tuple(values)!r} is empty or outside the image "
            f"({'' if slices is None else f'{slices} slices of '}{spatial[0]} x {spatial[1]})"
        )
    return _Part(index, (y0, y1, x0, x1))


def _predict_first(
    job: _Job, raw: np.ndarray, position: tuple[int, str], plan: RunPlan, run_tiles: TileFn
) -> Generator[Progress, None, tuple[np.ndarray, RunPlan, TileFn, int]]:
    """`_predict_slice` of the slice holding ``job.first``: the tiles touching the part
    run first (`_Job.ahead_tiles`), a `FirstPart` event gives the part, then the slice
    is completed, each tile run once."""
    done, label = position
    part, spatial = job.first, raw.shape[1:]
    memo = TileMemo()
    if job.ahead_tiles(plan, spatial):
        ahead, plan, run_tiles, done = yield from _predict_slice(
            job,
            raw,
            (done, f"{label}first part: "),
            plan,
            run_tiles,
            region=part.region,
            memo=memo,
        )
    else:
        ahead = None

    def first_event(probs: np.ndarray) -> FirstPart:
        probs = probs[0] if len(probs) == 1 else probs  # binary: (h, w)
        total = job.total_tiles(plan, spatial)
        return FirstPart(done, total, f"{label}first part", part.index, part.region, probs)

    if ahead is not None:
        yield first_event(ahead)
    probs, plan, run_tiles, done = yield from _predict_slice(
        job, raw, (done, label), plan, run_tiles, memo=memo
    )
    if ahead is None and job.slices > 1:  # the rest: the other slices
        y0, y1, x0, x1 = part.region
        yield first_event(probs[:, y0:y1, x0:x1])
    return probs, plan, run_tiles, done


def _predict_slice(
    job: _Job,
    raw: np.ndarray,
    position: tuple[int, str],
    plan: RunPlan,
    run_tiles: TileFn,
    *,
    region: tuple[int, int, int, int] | None = None,
    memo: TileMemo | None = None,
) -> Generator[Progress, None, tuple[np.ndarray, RunPlan, TileFn, int]]:
    """One slice's padded probabilities (or only ``region``'s, from the tiles touching
    it), started again on a smaller plan when out of memory.

    ``position`` is the tiles done before and the slice's label; ``memo`` gives the
    tiles it holds again, and keeps the others. Returns the probabilities, the plan and tile call
    that worked (kept for the next slices) and the tiles done after this slice.
    """
    done, label = position
    spatial = raw.shape[1:]
    while True:
        tiles = run_tiles if memo is None else memo.wrap(run_tiles)
        model_input, normalized = _model_input(raw, job.in_channels, job.config, tiles)
        window = None if region is None else Window(model_input.shape[1:], region)
        as_stack_event = partial(_stack_event, done, job.total_tiles(plan, spatial), label)
        windows = iter_sliding_window(
            normalized, model_input, plan.tile, job.overlap, batch_size=plan.batch,
            stop=job.stop, window=window,
        )  # fmt: skip
        del model_input, normalized  # the tiling generator holds them while it runs
        try:
            probs = yield from map_events(windows, as_stack_event)
        except torch.OutOfMemoryError:
            del windows
            plan, run_tiles = _after_out_of_memory(plan, job.model, job.precision)
            continue
        ran = _tile_count(plan, spatial, job.overlap)
        if region is not None:
            ran = _part_tiles(region, plan, spatial, job.overlap)
        return probs, plan, run_tiles, done + ran


def _part_tiles(region, plan: RunPlan, spatial: tuple[int, int], overlap: float) -> int:
    """How many tiles of the slice's tiling touch ``region``."""
    return len(touching_tiles(Window(padded_shape(spatial), region), plan.tile, overlap))


def _tile_count(plan: RunPlan, spatial: tuple[int, int], overlap: float) -> int:
    return len(tile_grid(padded_shape(spatial), plan.tile, overlap))


def _after_out_of_memory(
    plan: RunPlan, model: nn.Module, precision: str
) -> tuple[RunPlan, TileFn]:
    """The next smaller plan (see `engine.oom`), announced, and its tile call."""
    smaller_plan = smaller(plan)
    warnings.warn(
        f"out of memory with {plan.describe()}; starting the slice again with "
        f"{smaller_plan.describe()}",
        stacklevel=3,
    )
    model.to(smaller_plan.device)
    dtype = autocast_dtype(smaller_plan.device, precision)
    return smaller_plan, _tile_function(model, smaller_plan.device, dtype)


def model_in_channels(model: nn.Module) -> int:
    """Input channels of ``model``: its ``in_channels`` setting, else its first conv's."""
    kwargs = model_config(model).kwargs
    if "in_channels" in kwargs:
        return int(kwargs["in_channels"])
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return 3 if first_conv is None else first_conv.in_channels


def _image_model_config(model: nn.Module) -> ModelConfig:
    config = model_config(model)
    if config.input_kind != "image":
        raise SegRefineError(
            f"{config.arch!r} refines probability maps, it does not segment images; "
            "use napari_segrefine.refine(prob, prn=model) instead"
        )
    return config


def _model_input(
    raw: np.ndarray, in_channels: int, config: ModelConfig, run_tiles: TileFn
) -> tuple[np.ndarray, TileFn]:
    """One raw (C, H, W) slice, padded, and the tile call that normalizes each tile.

    The slice stays in its own dtype (a view when no padding is needed): tiles are cast
    to float32 and normalized one batch at a time with the whole slice's divisor, which
    gives exactly the tiles of the whole slice normalized at once.
    """
    fitted = match_channels(raw, in_channels)
    norm = config.normalization
    divisor = scale_divisor(fitted, norm)

    def normalized(batch: np.ndarray) -> np.ndarray:
        for slot in batch:
            slot[...] = normalize(slot, norm, divisor)
        return run_tiles(batch)

    return pad_to_multiple(fitted), normalized


def _warn_if_tiled_unlike_training(model, tile: tuple, overlap: float, spatial) -> None:
    """A head learned its network's outputs on the default tiling (`train.head`): other
    tiles give it values it did not learn."""
    problem = tiling_unlike_training(model, tile, overlap, spatial)
    if problem:
        warnings.warn(
            f"{problem}: leave the tile size and overlap at their defaults",
            stacklevel=6,  # the line that called `predict`
        )


def _tile_shape(tile_size: int | Sequence[int] | None, spatial: tuple[int, int]) -> tuple:
    if tile_size is None:
        return default_tile_shape(spatial)
    return padded_shape(as_tile_shape(tile_size))


def tile_function(model: nn.Module, device: torch.device, precision: str = "auto") -> TileFn:
    """The tile call `predict` makes: a (B, C, h, w) float32 batch in, probabilities out.

    ``model`` must already be on ``device`` and in eval mode.
    """
    return _tile_function(model, device, autocast_dtype(device, _precision(model, precision)))


def _precision(model: nn.Module, precision: str) -> str:
    """``precision`` with ``auto`` as the model asks for it (a head: fp32)."""
    return getattr(model, "auto_precision", "auto") if precision == "auto" else precision


def _tile_function(model: nn.Module, device: torch.device, dtype: torch.dtype | None) -> TileFn:
    """numpy batch in, per-pixel probabilities (sigmoid or softmax) out, on the tuned path."""
    runner = inference_copy(model, device, model_in_channels(model))

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), autocasting(device, dtype):
            tensor = runner.prepare(torch.from_numpy(batch).to(device))
            logits = _main_output(runner.module(tensor)).float()
        probs = torch.sigmoid(logits) if logits.shape[1] == 1 else torch.softmax(logits, 1)
        return probs.contiguous().cpu().numpy()

    return run


def _main_output(output: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    if isinstance(output, (tuple, list)):
        output = output[0]
    if not isinstance(output, torch.Tensor) or output.ndim != 4:
        raise SegRefineError(
            "the model must return logits of shape (B, C, H, W) in eval mode; "
            f"got {type(output).__name__} {getattr(output, 'shape', '')}"
        )
    return output


def _stack_event(offset: int, total: int, label: str, tiles: Progress) -> Progress:
    """One slice's tile event as an event of the whole stack."""
    return Progress(offset + tiles.done, total, f"{label}{tiles.message}")
