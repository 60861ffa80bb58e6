"""`CorrectionSession`: the loop of one image (or stack), with no Qt and no napari.

The session holds the prediction, the mask the user corrects and the record of the
pixels they corrected or confirmed (the valid mask), one undo history for both, the
review queue and the autosave. Heavy steps come in two halves: a pure ``iter_*`` or
``propose_*`` half that may run in a worker thread, and a quick ``set_*``/``apply_*``
half that changes the session's arrays in place (a viewer shows them without copies).
Every change is announced on `events` (psygnal), in the thread that made it.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal, SignalGroup
from torch import nn

from ..engine import Prediction, iter_predict
from ..errors import SegRefineError
from ..generators import drain
from ..ranking import SPREAD, PatchScore, otsu_level, rank_patches, rank_two_class_patches
from ..refine import iter_refine
from .edits import (
    Key,
    bounding_key,
    change_grid,
    change_map,
    correction_samples,
    keep_corrections,
    spatial_shape,
    stroke_before,
)
from .history import Change, History
from .jobs import JobSlot, interruptible
from .store import Restored, SessionStore, image_fingerprint
from .updates import ModelUpdates

Sample = tuple[np.ndarray, np.ndarray, np.ndarray]


class SessionEvents(SignalGroup):
    """What a view listens to. ``mask``/``valid`` carry the changed box (None: all)."""

    prediction = Signal(object)
    mask = Signal(object)
    valid = Signal(object)
    history = Signal(int, int)
    notice = Signal(str)


class CorrectionSession(ModelUpdates):
    """The correction loop of one image or stack.

    Args:
        image: (H, W), (H, W, C) or a stack (N, H, W[, C]) of them.
        name: what to call the image (a napari layer name, a file name).
        rgb: whether the last axis holds colours; None guesses (3 or 4 channels last).
        source: the file the image came from (names the autosave and places it).
        autosave_root: a folder for the autosave; wins over ``source``'s folder.
    """

    def __init__(
        self,
        image: np.ndarray,
        *,
        name: str = "image",
        rgb: bool | None = None,
        source: str | Path | None = None,
        autosave_root: str | Path | None = None,
    ) -> None:
        self.image = image
        self.name = name
        self.rgb = bool(image.ndim >= 3 and image.shape[-1] in (3, 4)) if rgb is None else rgb
        self.source, self.autosave_root = source, autosave_root
        self.shape = spatial_shape(np.shape(image), self.rgb)
        self.prediction: Prediction | None = None
        self.before_update: Prediction | None = None  # what `undo_update` goes back to
        self.before_part: tuple[Prediction, Prediction | None] | None = None  # see `show_part`
        self.mask: np.ndarray | None = None
        self.valid: np.ndarray | None = None
        self.class_prediction: Prediction | None = None
        self.classes: np.ndarray | None = None
        self.before_refine: np.ndarray | None = None
        self.current: tuple[int | None, PatchScore] | None = None
        self.history = History()
        self.jobs = JobSlot()
        self.events = SessionEvents()
        self.generation = 0
        self._fingerprint: str | None = None

    # -- prediction and threshold ------------------------------------------------------

    def iter_predict(
        self, model: nn.Module, *, stop: threading.Event | None = None, **options: Any
    ) -> Generator[Any, None, Prediction]:
        """Predict the image (pure: the session is not changed; see `set_prediction`)."""
        options.setdefault("channel_axis", -1 if self.rgb else None)
        return (
            yield from interruptible(iter_predict(model, self.image, stop=stop, **options), stop)
        )

    def predict(self, model: nn.Module, **options: Any) -> Prediction:
        """Predict and show the result (`iter_predict` then `set_prediction`)."""
        prediction = drain(self.iter_predict(model, **options))
        self.set_prediction(prediction)
        return prediction

    def set_prediction(self, prediction: Prediction, restored: Restored | None = None) -> None:
        """Make ``prediction`` the session's, keeping every corrected or confirmed pixel.

        A multi-class prediction goes to `classes` and leaves the binary mask alone. The
        first binary mask restores the autosave (``restored``: one read elsewhere).
        """
        if not prediction.is_binary:
            self.class_prediction, self.classes = prediction, prediction.mask
            self.events.prediction.emit(prediction)
            return
        self.before_part = None
        self._set_binary(prediction, restored, None)

    def _set_binary(self, prediction, restored, before_update) -> None:
        """`set_prediction` of a binary prediction, with what `undo_update` goes back to;
        all of it is set before the events go out."""
        if prediction.mask.shape != self.shape:
            raise SegRefineError(
                f"the prediction has shape {prediction.mask.shape} but {self.name!r} needs "
                f"{self.shape}; segment this image again"
            )
        self.prediction, self.before_update = prediction, before_update
        if self.mask is None:
            self._start_mask(
                prediction.mask, self.load_autosave() if restored is None else restored
            )
        else:
            np.copyto(self.mask, prediction.mask, where=self.valid == 0)
        self.events.prediction.emit(prediction)
        self.events.mask.emit(None)

    def _start_mask(self, proposed: np.ndarray, restored: Restored) -> None:
        self.mask = np.array(proposed, dtype=np.uint8, copy=True)
        self.valid = np.zeros(self.shape, dtype=np.uint8)
        if restored.notice:
            self.events.notice.emit(restored.notice)
        if restored.mask is not None and restored.mask.shape == self.shape:
            self.valid[...] = restored.valid
            np.copyto(self.mask, restored.mask.astype(np.uint8), where=self.valid > 0)
            self.generation = int(restored.meta.get("generation", 0))
            self.events.notice.emit(
                f"restored {int(self.valid.sum())} corrected pixels of {self.name!r} "
                f"from {self.store.path}"
            )

    def set_threshold(self, threshold: float) -> None:
        """Re-cut the mask at ``threshold``; corrected pixels and the record stay as they are."""
        prediction = self.require_binary().with_threshold(threshold)
        self._set_binary(prediction, None, self.before_update)

    def require_binary(self) -> Prediction:
        """The binary prediction; a `SegRefineError` saying what to run otherwise."""
        if self.prediction is None or self.mask is None:
            if self.class_prediction is not None:
                raise SegRefineError(
                    f"{self.name!r} has a {self.class_prediction.num_classes}-class "
                    "prediction only; this step works on binary (one-logit) models"
                )
            raise SegRefineError(f"no prediction for {self.name!r}: run Segment first")
        return self.prediction

    # -- refinement and model updates -----------------------------------------------

    def iter_refine(
        self,
        prn: nn.Module | None,
        *,
        patch_size: int = 64,
        device: str = "auto",
        stop: threading.Event | None = None,
    ) -> Generator[Any, None, np.ndarray]:
        """Refine each slice's probability map (pure; see `apply_refined`)."""
        prediction = self.require_binary()
        probabilities = prediction.probabilities
        slices = [probabilities] if probabilities.ndim == 2 else list(probabilities)
        threshold = float(np.clip(prediction.threshold, 0.01, 0.99))
        refined = []
        for prob in slices:
            work = iter_refine(
                prob, prn=prn, patch_size=patch_size, threshold=threshold, device=device,
                stop=stop,
            )  # fmt: skip
            refined.append((yield from interruptible(work, stop)))
        return refined[0] if probabilities.ndim == 2 else np.stack(refined)

    def propose_refined(self, refined: np.ndarray) -> tuple[Key | None, np.ndarray | None]:
        """What taking ``refined`` would change: a box and its new values (pure)."""
        self.require_binary()
        merged = keep_corrections(refined.astype(np.uint8), self.mask, self.valid)
        key = bounding_key(merged != self.mask)
        return key, None if key is None else merged[key]

    def apply_refined(
        self, refined: np.ndarray | None = None, proposal: tuple | None = None
    ) -> np.ndarray:
        """Take a refined mask (one undo step), keeping corrections; returns the old mask.

        Args:
            refined: the mask from `iter_refine`.
            proposal: `propose_refined`'s result, computed elsewhere (a worker), instead.
        """
        key, box = self.propose_refined(refined) if proposal is None else proposal
        before = np.array(self.mask, copy=True)
        if key is not None:  # pixels corrected since the proposal keep their value
            self._change(key, "refine", mask=np.where(self.valid[key] > 0, self.mask[key], box))
        self.before_refine = before
        return before

    def proposed_changes(self, prediction: Prediction) -> np.ndarray:
        """`change_map` of the mask if ``prediction`` were set: what it would add
        (`GAINED`) and remove (`LOST`) outside the corrected pixels (pure). While an
        update's first part is shown (`show_part`), against the mask from before it."""
        self.require_binary()
        return change_map(
            self._mask_before_part(), keep_corrections(prediction.mask, self.mask, self.valid)
        )

    def _mask_before_part(self) -> np.ndarray:
        if self.before_part is None:
            return self.mask
        return keep_corrections(self.before_part[0].mask, self.mask, self.valid)

    def unchecked_share(self, changes: np.ndarray) -> float:
        """The share of the pixels not yet corrected or confirmed that ``changes`` (a
        `proposed_changes` map) marks."""
        unchecked = max(1, changes.size - np.count_nonzero(self.valid))
        return np.count_nonzero(changes) / unchecked

    def refine_grid(self, patch_size: int) -> np.ndarray:
        """Changed fraction per patch between `before_refine` and the mask (pure)."""
        if self.before_refine is None or self.mask is None:
            raise SegRefineError(f"{self.name!r} has not been refined yet: run Refine first")
        return change_grid(self.before_refine, self.mask, patch_size)

    @property
    def corrected_pixels(self) -> int:
        return 0 if self.valid is None else int(np.count_nonzero(self.valid))

    # -- edits and history ----------------------------------------------------------

    def record_stroke(self, atoms: list[Any], on: str = "mask") -> Key | None:
        """Record an edit a viewer already wrote into `mask` (its pixels become corrected),
        or with ``on="valid"`` into `valid` (pixels confirmed as they are).

        Args:
            atoms: the napari history atoms of the edit.
            on: which array the viewer wrote: ``"mask"`` or ``"valid"``.
        """
        if self.mask is None or self.valid is None:
            return None
        found = stroke_before(list(atoms), self.mask if on == "mask" else self.valid)
        if found is None:
            return None
        key, before, touched = found
        mask_before = before if on == "mask" else self.mask[key].copy()
        valid_before = self.valid[key].copy() if on == "mask" else before
        if on == "mask":
            self.valid[key][touched] = 1
        label = "edit" if on == "mask" else "confirm"
        change = Change(key, mask_before, self.mask[key].copy(), valid_before,
                        self.valid[key].copy(), label)  # fmt: skip
        self.history.push(change)
        self.events.valid.emit(key)
        self.events.history.emit(*self.history.counts)
        return key

    def paint(self, key: Key, values: np.ndarray | int) -> None:
        """Set mask pixels in ``key`` to ``values`` and record them as corrected."""
        self.require_binary()
        mask = np.broadcast_to(np.asarray(values, np.uint8), self.mask[key].shape)
        self._change(key, "edit", mask=mask, valid=np.ones_like(mask))

    def confirm(self, key: Key) -> None:
        """Record the pixels in ``key`` as checked and correct, as they are."""
        self.require_binary()
        self._change(key, "confirm", valid=np.ones_like(self.valid[key]))

    def _change(
        self, key: Key, label: str, mask: np.ndarray | None = None, valid: np.ndarray | None = None
    ) -> None:
        mask_after = self.mask[key].copy() if mask is None else np.array(mask, np.uint8)
        valid_after = self.valid[key].copy() if valid is None else np.array(valid, np.uint8)
        change = Change(key, self.mask[key].copy(), mask_after, self.valid[key].copy(),
                        valid_after, label)  # fmt: skip
        self.history.push(change)
        self._show(change, undoing=False)

    def undo(self) -> bool:
        """Undo the last edit, confirm or refinement: mask and record together."""
        change = self.history.take_undo()
        if change is not None:
            self._show(change, undoing=True)
        return change is not None

    def redo(self) -> bool:
        """Redo the last undone step."""
        change = self.history.take_redo()
        if change is not None:
            self._show(change, undoing=False)
        return change is not None

    def _show(self, change: Change, undoing: bool) -> None:
        self.mask[change.key] = change.mask_before if undoing else change.mask_after
        self.valid[change.key] = change.valid_before if undoing else change.valid_after
        self.events.mask.emit(change.key)
        self.events.valid.emit(change.key)
        self.events.history.emit(*self.history.counts)

    # -- review queue, samples --------------------------------------------------------

    def rank(
        self, patch_size: int, index: int | None = None, top_k: int | None = None
    ) -> list[PatchScore]:
        """Patches of slice ``index`` (None: a 2-D image) most likely wrong, unchecked
        first (only the first ``top_k`` when given).

        Until the corrections hold both classes (no update can learn from them yet), the
        patches that hold both grey-level classes of the image (or the whole stack) come
        first instead (`rank_two_class_patches`; `benchmarks/results/queue_loop.md`).
        """
        return self._rank(patch_size, index, top_k, self._two_class_level())

    def _two_class_level(self) -> float | None:
        """The grey level between the two classes of the whole image or stack while the
        queue offers two-class patches first (until the corrections hold both classes);
        None once they do, or for a flat image (the model's signals rank then)."""
        if self.corrections_hold_both_classes():
            return None
        return otsu_level(self.image, self.rgb)

    def _rank(self, patch_size, index, top_k, level: float | None):
        prediction = self.require_binary()
        if (index is None) != (len(self.shape) == 2):
            raise SegRefineError(f"{self.name!r} is a stack: say which slice to review")
        pick = (lambda a: a) if index is None else (lambda a: a[index])
        if level is not None:
            return rank_two_class_patches(
                pick(self.image), patch_size, valid=pick(self.valid), top_k=top_k, level=level
            )
        return rank_patches(
            pick(prediction.probabilities),
            patch_size,
            boundary=pick(prediction.boundary),
            refined=pick(self.mask),
            valid=pick(self.valid),
            threshold=prediction.threshold,
            top_k=top_k,
        )

    def corrections_hold_both_classes(self) -> bool:
        """Whether the corrected or confirmed pixels hold foreground and background."""
        if self.mask is None:
            return False
        corrected = self.mask[self.valid > 0] > 0
        return bool(corrected.any() and not corrected.all())

    def next_patch(self, patch_size: int, index: int | None = None) -> PatchScore | None:
        """The top-ranked patch not yet checked (None when all are); it becomes `current`.

        On a stack, ``index`` picks the slice to review; None ranks every slice and
        takes the best patch of the whole stack (``current[0]`` says which slice), each
        slice's score times `SPREAD` for every patch's worth of pixels already checked
        in it, so the queue spreads over the slices as it does within one.
        """
        stack = len(self.shape) > 2
        slices = range(self.shape[0]) if stack and index is None else [index]
        best: tuple[float, int | None, PatchScore] | None = None
        level = self._two_class_level()  # once for all slices
        for where in slices:
            top = self._rank(patch_size, where, 1, level)
            if not top:
                continue
            checked = np.count_nonzero(self.valid if where is None else self.valid[where])
            score = top[0].score * SPREAD ** (checked / patch_size**2)
            if best is None or score > best[0]:
                best = (score, where, top[0])
        self.current = best[1:] if best else None
        return best[2] if best else None

    def confirm_patch(self) -> None:
        """Confirm the `current` patch as it is."""
        if self.current is None:
            raise SegRefineError("no patch to confirm: press Next patch first")
        index, patch = self.current
        self.confirm(patch.slices if index is None else (slice(index, index + 1), *patch.slices))
        self.current = None

    def training_samples(self) -> list[Sample]:
        """(image, mask, valid) triples of the corrected slices (copies, safe to train on)."""
        self.require_binary()
        return correction_samples(self.image, self.rgb, self.mask, self.valid)

    # -- autosave ---------------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = image_fingerprint(self.image)
        return self._fingerprint

    @property
    def store(self) -> SessionStore:
        """Where this session is autosaved (see `SessionStore.for_image`)."""
        return SessionStore.for_image(self.name, self.fingerprint, self.source, self.autosave_root)

    def load_autosave(self) -> Restored:
        """Read the autosave (a bad one is set aside: see `Restored.notice`)."""
        return self.store.load()

    def snapshot(
        self, **meta: Any
    ) -> tuple[SessionStore, np.ndarray, np.ndarray, int, dict[str, Any]]:
        """Copies of what `save` writes (and ``meta``), taken now; the write may happen
        in a worker (`write_snapshot`)."""
        self.require_binary()
        self.generation += 1
        meta = {"image": self.name, "threshold": self.prediction.threshold, **meta}
        return self.store, self.mask.copy(), self.valid.copy(), self.generation, meta

    def save(self) -> Path:
        """Autosave now, on this thread."""
        return write_snapshot(self.snapshot())

    def close(self) -> None:
        """Stop the running job; the session is not used any more."""
        self.jobs.cancel()


def write_snapshot(snapshot: tuple[SessionStore, np.ndarray, np.ndarray, int, dict]) -> Path:
    """Write a `CorrectionSession.snapshot` (safe to call from a worker thread)."""
    store, mask, valid, generation, meta = snapshot
    return store.save(mask, valid, generation, **meta)
