"""What `predict` returns: `Prediction`, and the `FirstPart` event of a part computed first."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import SegRefineError
from ..generators import Progress
from .boundary import boundary_map


@dataclass(frozen=True)
class Prediction:
    """What `predict` returns.

    Attributes:
        probabilities: float32. Binary: P(foreground), (..., H, W); multi-class: the
            softmax, (..., C, H, W). Leading axis N when the input was a stack.
        mask: binary: uint8 0/1, ``probabilities > threshold``; multi-class: the
            argmax (uint8 for up to 256 classes, else int32). (..., H, W).
        boundary: float32 (..., H, W) in [0, 1], see `boundary_map`; follows the
            model's own contours (p = 0.5, or the argmax), whatever the threshold.
        threshold: the threshold the binary mask was made with.
        num_classes: 1 for a binary model, else the number of classes.
    """

    probabilities: np.ndarray
    mask: np.ndarray
    boundary: np.ndarray
    threshold: float = 0.5
    num_classes: int = 1

    @property
    def is_binary(self) -> bool:
        return self.num_classes == 1

    def with_threshold(self, threshold: float) -> Prediction:
        """The same prediction with the binary mask re-made at ``threshold`` (fast).

        Multi-class masks are the argmax and stay as they are.
        """
        if not self.is_binary:
            return replace(self, threshold=float(threshold))
        mask = threshold_mask(self.probabilities, threshold)
        return replace(self, mask=mask, threshold=float(threshold))


@dataclass(frozen=True)
class FirstPart(Progress):
    """`iter_predict`'s event when the part asked for ``first`` is done, before the rest.

    Attributes:
        index: the slice of a stack the part is in; None for a 2D image.
        region: ``(y0, y1, x0, x1)`` of the part.
        probabilities: its float32 P(foreground) (h, w), or softmax (K, h, w): the same
            values as these pixels of the whole prediction.
    """

    index: int | None = None
    region: tuple[int, int, int, int] = (0, 0, 0, 0)
    probabilities: np.ndarray | None = None


def threshold_mask(prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """uint8 0/1 mask of ``prob > threshold`` (strict), for a threshold in [0, 1]."""
    check_threshold(threshold)
    return np.greater(prob, threshold).view(np.uint8)


def check_threshold(threshold: float) -> None:
    if not 0 <= threshold <= 1:
        raise SegRefineError(f"threshold must be in [0, 1], got {threshold!r}")


def assemble(slices: list[np.ndarray], is_stack: bool, threshold: float) -> Prediction:
    """``slices`` are N (K, H, W) maps: K = 1 binary. One slice is not copied."""
    probs = np.stack(slices) if len(slices) > 1 else slices[0][None]
    num_classes = probs.shape[1]
    binary = num_classes == 1
    if binary:
        probs = probs[:, 0]
    if not is_stack:
        probs = probs[0]
    if binary:
        mask = threshold_mask(probs, threshold)
    else:
        label_dtype = np.uint8 if num_classes <= 256 else np.int32
        mask = probs.argmax(axis=-3).astype(label_dtype)
    boundary = boundary_map(probs, multiclass=not binary)
    return Prediction(probs, mask, boundary, float(threshold), num_classes)
