"""How a model expects its input to be scaled; travels with the model."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CITYSCAPES_MEAN = (0.3257, 0.3690, 0.3223)
CITYSCAPES_STD = (0.2112, 0.2148, 0.2115)
COCO_MEAN = (0.46962251, 0.4464104, 0.40718787)
COCO_STD = (0.27469736, 0.27012361, 0.28515933)
ADE20K_MEAN = (0.49343230, 0.46819794, 0.43106043)
ADE20K_STD = (0.25680755, 0.25506608, 0.27422913)

Scale = Literal["image_max", "dtype_max", "none"]


@dataclass(frozen=True)
class Normalization:
    """Input normalization of a model.

    Attributes:
        scale: how raw pixels become floats in [0, 1] before mean/std:
            ``image_max`` divides by the image's own maximum (BASNet),
            ``dtype_max`` by 255 for 8-bit data, 1 for floats in [0, 1], else by
            the image's own maximum (see `value_range`) (BiSeNet),
            ``none`` leaves the values as they are (PRN takes probabilities).
        mean: per-channel mean subtracted after scaling, or None.
        std: per-channel std divided after the mean, or None.
    """

    scale: Scale = "dtype_max"
    mean: tuple[float, ...] | None = IMAGENET_MEAN
    std: tuple[float, ...] | None = IMAGENET_STD

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Normalization:
        mean, std = data.get("mean"), data.get("std")
        return cls(
            scale=data.get("scale", "dtype_max"),
            mean=tuple(mean) if mean is not None else None,
            std=tuple(std) if std is not None else None,
        )


BASNET_NORM = Normalization("image_max", IMAGENET_MEAN, IMAGENET_STD)
IMAGENET_NORM = Normalization("dtype_max", IMAGENET_MEAN, IMAGENET_STD)
BISENET_CITY_NORM = Normalization("dtype_max", CITYSCAPES_MEAN, CITYSCAPES_STD)
PROBABILITY_NORM = Normalization("none", None, None)


def value_range(image: np.ndarray) -> float:
    """The pixel value that ``dtype_max`` scaling maps to 1.0.

    bool: 1; uint8 and integer data within 0..255: 255; floats within [0, 1]: 1.
    Anything else (12- or 16-bit data in uint16, floats in 0..255 or in physical units)
    is scaled by the image's own maximum: the dtype's nominal range (65535) would make
    12-bit microscopy images nearly black, and float ranges are not fixed.
    """
    if image.dtype == np.bool_ or image.size == 0:
        return 1.0
    peak = float(np.max(image))
    if image.dtype.kind == "f":
        return 1.0 if peak <= 1.0 else peak
    if image.dtype == np.uint8 or peak <= 255:
        return 255.0
    return peak


def scale_divisor(image: np.ndarray, norm: Normalization) -> float:
    """What the whole image is divided by before mean/std, as ``norm.scale`` says."""
    if norm.scale == "image_max":
        peak = float(np.max(image)) if image.size else 0.0
        return peak if peak > 0 else 1.0
    if norm.scale == "dtype_max":
        return value_range(image)
    return 1.0


def normalize(image: np.ndarray, norm: Normalization, divisor: float | None = None) -> np.ndarray:
    """Scale a channels-first image (C, H, W) of any dtype as ``norm`` says.

    Args:
        image: the pixels.
        norm: the model's `Normalization`.
        divisor: what to divide by before mean/std; None: `scale_divisor` of ``image``.
            A part of a larger image passes the whole image's divisor.

    Returns:
        float32 array of the same shape. Grayscale images given to a 3-channel
        mean/std are normalized with the first channel's statistics per channel;
        the caller replicates channels beforehand when the model needs 3.
    """
    x = image.astype(np.float32, copy=True)
    x /= np.float32(scale_divisor(image, norm) if divisor is None else divisor)
    if norm.mean is not None and norm.std is not None:
        channels = x.shape[0]
        mean = np.resize(np.asarray(norm.mean, np.float32), channels)
        std = np.resize(np.asarray(norm.std, np.float32), channels)
        x -= mean[:, None, None]
        x /= std[:, None, None]
    return x
