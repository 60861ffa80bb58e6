"""The whole correction loop on shipped sample data, offline, in about a minute on a CPU.

predict -> boundary -> PRN refine -> a simulated user corrects the patches the review queue
offers, updating after every few (a head fitted to just the corrected pixels, seconds,
guarded, shown when adopted) -> metrics before and after on the corrected image and on a
held-out image of the same domain. The loop is a `CorrectionSession`, the same one the
napari widgets show.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from . import metrics
from .correction import CorrectionSession
from .data import make_sample
from .engine import Prediction, predict
from .errors import SegRefineError
from .generators import drain
from .models import DEFAULT_BINARY_MODEL, DEFAULT_PRN_MODEL, create_model
from .models.weights import SHIPPED, available_weights
from .ranking import PatchScore
from .train.head import HeadConfig

DEMO_SEED = 7
HELD_OUT_SEED = 8


@dataclass
class DemoSettings:
    """What the demo runs on and how long it trains."""

    domain: str = "roads"
    size: int = 384
    corrected_patches: int = 4
    update_every: int = 2
    review_patch: int = 64
    prn_patch: int = 32
    trees: int = HeadConfig.num_trees
    device: str = "auto"


@dataclass
class DemoResult:
    """Metrics rows (stage -> metric -> value) and the files written."""

    rows: dict[str, dict[str, float]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    patches: list[PatchScore] = field(default_factory=list)
    seconds: float = 0.0


def _scores(mask: np.ndarray, gt: np.ndarray, prob: np.ndarray | None = None) -> dict:
    """IoU, Dice, boundary F1 (2 px) and, given ``prob``, MAE of one image."""
    row = {
        "IoU": metrics.iou(mask, gt),
        "Dice": metrics.dice(mask, gt),
        "boundary F1": metrics.boundary_f1(mask, gt, tolerance=2),
    }
    if prob is not None:
        row["MAE"] = metrics.mae(prob, gt)
    return row


def _region_scores(mask: np.ndarray, gt: np.ndarray, region: np.ndarray) -> dict:
    """IoU and Dice counted inside ``region`` only."""
    inside_mask, inside_gt = np.where(region, mask, 0), np.where(region, gt, 0)
    return {
        "IoU": metrics.iou(inside_mask, inside_gt),
        "Dice": metrics.dice(inside_mask, inside_gt),
    }


def _load(name: str):
    if SHIPPED in available_weights(name):
        return create_model(name, pretrained=SHIPPED), True
    return create_model(name), False


def run_demo(
    out: Path, settings: DemoSettings | None = None, log: Callable[[str], None] = print
) -> DemoResult:
    """Run the loop and write masks, metrics and an overview PNG into ``out``."""
    settings = settings or DemoSettings()
    started = time.perf_counter()
    result = DemoResult()
    size = (settings.size, settings.size)
    sample = make_sample(settings.domain, size, DEMO_SEED)
    held_out = make_sample(settings.domain, size, HELD_OUT_SEED)
    model, trained = _load(DEFAULT_BINARY_MODEL)
    prn, prn_trained = _load(DEFAULT_PRN_MODEL)
    if not (trained and prn_trained):
        log("warning: shipped demo weights missing; running with untrained models")
    session = CorrectionSession(sample.image, name=f"{settings.domain} sample")
    log(f"1/6 predict {settings.domain} {size} with {DEFAULT_BINARY_MODEL}")
    before = session.predict(model, device=settings.device)
    held_before = predict(model, held_out.image, device=settings.device)
    log(f"2/6 refine with {DEFAULT_PRN_MODEL} at patch size {settings.prn_patch}")
    refined = drain(
        session.iter_refine(prn, patch_size=settings.prn_patch, device=settings.device)
    )
    session.apply_refined(refined)
    log(
        f"3/6 simulated user corrects the next {settings.corrected_patches} patches of the "
        f"queue, updating the head after every {settings.update_every}"
    )
    head, pending = model, 0
    for patch in _walk_queue(session, sample.label, settings.corrected_patches, settings):
        result.patches.append(patch)
        pending += 1
        if pending == settings.update_every:
            head, pending = _update(session, model, head, settings, log), 0
    if pending:  # corrections made since the last update
        head = _update(session, model, head, settings, log)
    ((_, _, valid),) = session.training_samples()
    log(f"4/6 {int(valid.sum())} corrected pixels in all")
    log("5/6 what the tool shows now (and, to see how far it carries, the held-out image)")
    after = session.prediction
    held_after = predict(head, held_out.image, device=settings.device)
    result.rows = {
        "corrected patches before": _region_scores(before.mask, sample.label, valid),
        "corrected patches after": _region_scores(after.mask, sample.label, valid),
        "before": _scores(before.mask, sample.label, before.probabilities),
        "PRN refined": _scores(refined, sample.label),
        "after update": _scores(after.mask, sample.label, after.probabilities),
        "held-out before": _scores(held_before.mask, held_out.label, held_before.probabilities),
        "held-out, head": _scores(held_after.mask, held_out.label, held_after.probabilities),
    }
    log(
        f"6/6 correct the held-out image's first {settings.update_every} patches of the queue; "
        "update from them, then from both images"
    )
    result.rows |= _second_image(held_out, held_before, session, model, settings)
    result.files = _write_outputs(out, sample, before, refined, after, valid)
    result.seconds = time.perf_counter() - started
    return result


def _walk_queue(session: CorrectionSession, label: np.ndarray, count: int, settings):
    """Correct the next ``count`` patches of the review queue as a user would (copying
    ``label`` into them), yielding each; fewer when the queue runs out."""
    for _ in range(count):
        patch = session.next_patch(settings.review_patch)
        if patch is None:  # an image of fewer patches: every one is corrected
            return
        session.paint(patch.slices, label[patch.slices])
        yield patch


def _update(session: CorrectionSession, model, shown: nn.Module, settings, log) -> nn.Module:
    """Fit a head to the session's corrections and show it when adopted, as the Correct
    dock's Update does; the model shown afterwards (``shown`` unless adopted)."""
    config = HeadConfig(num_trees=settings.trees, device=settings.device)
    try:
        update, prediction = drain(session.iter_adapt(model, config))
    except SegRefineError as error:  # e.g. the corrections hold one class: nothing to fit
        log(f"    no update yet: {error}")
        return shown
    log(f"    {update.reason} ({update.seconds:.1f} s)")
    if prediction is None:
        return shown
    session.show_update(prediction)
    return update.model


def _second_image(held_out, held_before: Prediction, first, model, settings) -> dict:
    """Rows for the held-out image after its first ``update_every`` patches of the queue
    are corrected: the update from them alone, and from them plus the ``first`` session's
    corrections."""
    second = CorrectionSession(held_out.image, name=f"{settings.domain} held-out")
    second.set_prediction(held_before)
    painted = len(list(_walk_queue(second, held_out.label, settings.update_every, settings)))
    config = HeadConfig(num_trees=settings.trees, device=settings.device)
    patches = f"{painted} patch{'es' if painted > 1 else ''}"
    rows = {}
    for name, helpers in (("own", ()), ("both", [first])):
        try:
            _, shown = drain(second.iter_adapt(model, config, also_from=helpers))
        except SegRefineError:  # its patches hold one class only: nothing to fit yet
            shown = None
        shown = held_before if shown is None else shown
        rows[f"held-out, {patches}, {name}"] = _scores(
            shown.mask, held_out.label, shown.probabilities
        )
    return rows


def _write_outputs(out: Path, sample, before: Prediction, refined, after: Prediction, valid):
    from .io import write_labels
    from .overview import save_overview

    out.mkdir(parents=True, exist_ok=True)
    files = [
        write_labels(out / "mask_before.tif", before.mask),
        write_labels(out / "mask_refined.tif", refined),
        write_labels(out / "mask_after.tif", after.mask),
        write_labels(out / "corrected_pixels.tif", valid.astype(np.uint8)),
    ]
    panels = {
        "image": sample.image,
        "probability": before.probabilities,
        "boundary": before.boundary,
        "mask before": before.mask,
        "PRN refined": refined,
        "corrected patches": valid,
        "mask after": after.mask,
        "ground truth": sample.label,
    }
    files.append(save_overview(out / "overview.png", panels))
    return files


def format_table(rows: dict[str, dict[str, float]]) -> str:
    """The metrics as an aligned plain-text table."""
    columns = list(dict.fromkeys(c for row in rows.values() for c in row))
    width = max(map(len, rows), default=0)
    lines = [" " * width + "".join(f"{c:>13}" for c in columns)]
    for stage, row in rows.items():
        lines.append(
            f"{stage:<{width}}"
            + "".join(f"{row[c]:>13.4f}" if c in row else f"{'':>13}" for c in columns)
        )
    return "\n".join(lines)
