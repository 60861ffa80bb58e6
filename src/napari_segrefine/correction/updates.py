"""`ModelUpdates`: the part of `CorrectionSession` that shows a model's updates.

An update is a new prediction learned from the corrections (`iter_adapt` fits a head)
or made by any function of them (`propose_update`). It is shown keeping every
corrected pixel, can be shown part first (what the viewer shows, while the rest is
computed), and undone (`undo_update`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np
from torch import nn

from ..engine import FirstPart, Prediction, boundary_map, threshold_mask
from ..errors import SegRefineError
from ..generators import Progress
from ..train.head import HeadConfig, HeadResult, fit_head

ModelUpdate = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class ModelUpdates:
    """Model updates of a `CorrectionSession` (its attributes and `_set_binary`)."""

    def propose_update(self, update: ModelUpdate) -> Prediction:
        """A new prediction from ``update(image, mask, valid) -> probabilities`` (pure).

        The hook for models that learn as the user corrects: ``update`` gets copies of
        the corrections and returns P(foreground) of the mask's shape.
        """
        current = self.require_binary()
        image, mask, valid = self.image, np.array(self.mask), self.valid > 0
        probabilities = np.asarray(update(image, mask, valid), dtype=np.float32)
        if probabilities.shape != self.shape:
            raise SegRefineError(
                f"the model update returned shape {probabilities.shape}, expected {self.shape}"
            )
        flat = [probabilities] if probabilities.ndim == 2 else list(probabilities)
        boundary = np.stack([boundary_map(p) for p in flat]).reshape(self.shape)
        mask = threshold_mask(probabilities, current.threshold)
        return Prediction(probabilities, mask, boundary, current.threshold)

    def update_model(self, update: ModelUpdate) -> Prediction:
        """`propose_update` then `set_prediction`: corrections stay as they are."""
        prediction = self.propose_update(update)
        self.set_prediction(prediction)
        return prediction

    def iter_adapt(
        self,
        model: nn.Module,
        config: HeadConfig | None = None,
        *,
        stop: threading.Event | None = None,
        also_from: Sequence[ModelUpdates] = (),
        first: Sequence[int] | None = None,
    ) -> Generator[Any, None, tuple[HeadResult, Prediction | None]]:
        """Fit a head to the corrections and, when its guard adopts it, predict with it.

        ``also_from``: other images' sessions whose corrections train the head too (one
        classifier for a set of similar images, as ilastik does); the guard still judges
        it on this image's corrections only. ``first``: a part to predict first, e.g.
        what the viewer shows (see `iter_predict`): a `FirstPart` event gives it (see
        `propose_part`, `show_part`). Pure (see `show_update`); returns the
        `HeadResult` and the new prediction, None when the head was not adopted (its
        ``reason`` says why).
        """
        if not self.corrected_pixels:
            raise SegRefineError(
                f"{self.name!r} has no corrected pixels yet; correct or confirm part of "
                "its mask first"
            )
        helpers = [other for other in also_from if other is not self and other.corrected_pixels]
        own = self.training_samples()
        others = [sample for other in helpers for sample in other.training_samples()]
        pixels = self.corrected_pixels + sum(other.corrected_pixels for other in helpers)
        images = f" of {1 + len(helpers)} images" if helpers else ""
        yield Progress(0, 0, f"fitting a head to {pixels} corrected pixels{images}")
        result = fit_head(model, own + others, config, judged_on=range(len(own)))
        if not result.adopted:
            return result, None
        threshold = self.prediction.threshold if self.prediction is not None else 0.5
        prediction = yield from self.iter_predict(
            result.model, stop=stop, threshold=threshold, first=first
        )
        return result, prediction

    def propose_part(self, part: FirstPart) -> tuple[Prediction, np.ndarray]:
        """What showing the first part of an adopted update (`iter_adapt`'s `FirstPart`
        event) would show, the rest of the image as it is, and what that would change
        (`proposed_changes`); pure, for a worker (see `show_part`)."""
        shown = self.require_binary() if self.before_part is None else self.before_part[0]
        key = (*(() if part.index is None else (part.index,)), *_box(part.region))
        probabilities, boundary = shown.probabilities.copy(), shown.boundary.copy()
        probabilities[key], boundary[key] = part.probabilities, boundary_map(part.probabilities)
        mask = threshold_mask(probabilities, shown.threshold)
        merged = Prediction(probabilities, mask, boundary, shown.threshold)
        return merged, self.proposed_changes(merged)

    def show_part(self, merged: Prediction) -> None:
        """Show an update's first part (``merged``, from `propose_part`) while the rest
        is computed; corrected pixels stay as they are. `show_update` then shows the
        whole update, `drop_part` (the update was cancelled or failed) what was shown
        before, `keep_part` keeps the part (a newer update takes over)."""
        current = self.require_binary()
        if self.before_part is None:
            self.before_part = (current, self.before_update)
        if merged.threshold != current.threshold:  # moved while the part was made
            merged = merged.with_threshold(current.threshold)
        self._set_binary(merged, None, self.before_part[0])

    def drop_part(self) -> np.ndarray | None:
        """Show again what was shown before an update's first part (`show_part`), when
        the update did not finish; returns what that changed, None when no part was shown."""
        if self.before_part is None:
            return None
        shown, before_update = self.before_part
        shown = shown.with_threshold(self.require_binary().threshold)
        self.before_part = None
        changes = self.proposed_changes(shown)
        self._set_binary(shown, None, before_update)
        return changes

    def keep_part(self) -> None:
        """Keep an update's part (`show_part`) as shown when the rest will not come
        (a newer update replaces it): the rest of the image shows what it showed before,
        and `undo_update` goes back to before the part. Nothing to do when no part is
        shown."""
        self.before_part = None

    def show_update(self, prediction: Prediction) -> None:
        """Show an adopted update's ``prediction`` (from `iter_adapt`), keeping the
        prediction shown before it (in memory) for `undo_update`."""
        before = self.require_binary() if self.before_part is None else self.before_part[0]
        self.before_part = None
        self._set_binary(prediction, None, before)

    def undo_update(self) -> np.ndarray:
        """Show again what was shown before the last `show_update`, at the threshold used
        now; every correction stays. Returns what the undo changed (`proposed_changes`).

        Raises:
            SegRefineError: no update to undo (none shown, or a new prediction since).
        """
        if self.before_update is None:
            raise SegRefineError(
                f"no update of {self.name!r} to undo: none was shown since it was last "
                "segmented, fine-tuned or undone"
            )
        before = self.before_update.with_threshold(self.require_binary().threshold)
        changes = self.proposed_changes(before)
        self.set_prediction(before)
        return changes


def _box(region: tuple[int, int, int, int]) -> tuple[slice, slice]:
    y0, y1, x0, x1 = region
    return slice(y0, y1), slice(x0, x1)
