"""Training families: the users' kinds of images, each a scene generator plus an acquisition.

`DOMAINS` (roads, polyps, salient) are the tidy uint8 RGB sample sets of the demo and the
tests. `FAMILIES` widen them to what users open: fluorescence and transmitted-light
microscopy, stained histology, endoscopy, natural photographs, and aerial images as RGB,
panchromatic (grey) and multispectral data (blue, green, red band order, 11 to 16 bit);
each drawn at a random magnification and imaged with blur, noise, uneven illumination,
8/12/16-bit ranges and, where it happens, inverted contrast (`acquisition.Acquisition`).

Example:
    >>> from napari_segrefine.data.families import make_family_sample
    >>> sample = make_family_sample("nuclei", (128, 128), seed=1)
    >>> sample.image.ndim, sample.label.shape
    (2, (128, 128))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import SegRefineError
from .acquisition import Acquisition, acquire, zoom_pair
from .histology import make_histology
from .microscopy import make_brightfield, make_fluorescence, make_nuclei, make_phase
from .polyps import make_polyps
from .roads import make_roads
from .salient import make_salient
from .samples import Sample, check_seed, check_size
from .texture import derive_salt

Scene = Callable[[tuple[int, int], int], tuple[np.ndarray, np.ndarray]]

_LUMA = np.array([0.299, 0.587, 0.114])
_MICROSCOPE = Acquisition(
    bits=(8, 12, 16), invert=0.1, blur=1.5, noise=0.03, photons=(30.0, 3000.0),
    illumination=0.5, zoom=(0.6, 1.6), offset=0.6, hot_pixels=0.3,
)  # fmt: skip
_CAMERA = Acquisition(bits=(8,), blur=1.0, noise=0.015, illumination=0.3, zoom=(0.7, 1.4))
_SATELLITE = Acquisition(
    bits=(8, 11, 12, 16), blur=1.0, noise=0.015, illumination=0.25, zoom=(0.6, 1.5),
    offset=0.1, hot_pixels=0.5,
)  # fmt: skip


def _float(scene: Scene) -> Scene:
    """A uint8 RGB generator as one that returns floats in [0, 1]."""

    def render(size: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
        image, label = scene(size, seed)
        return image / 255.0, label > 0

    return render


def _grey(scene: Scene) -> Scene:
    """A float RGB generator as a panchromatic (luminance) one."""

    def render(size: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
        image, label = scene(size, seed)
        return image @ _LUMA, label

    return render


def _bgr(scene: Scene) -> Scene:
    """A float RGB generator with its bands stored blue, green, red (satellite order)."""

    def render(size: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
        image, label = scene(size, seed)
        return np.ascontiguousarray(image[..., ::-1]), label

    return render


@dataclass(frozen=True)
class Family:
    """One kind of image: a float scene generator and how it is acquired."""

    scene: Scene
    acquisition: Acquisition
    description: str


FAMILIES: dict[str, Family] = {
    "fluorescence": Family(make_fluorescence, _MICROSCOPE, "bright cells and spots on dark"),
    "nuclei": Family(make_nuclei, _MICROSCOPE, "crowded touching fluorescent nuclei"),
    "brightfield": Family(make_brightfield, _MICROSCOPE, "dark absorbing cells on bright"),
    "phase": Family(make_phase, _MICROSCOPE, "phase contrast: dark cells/rods with halos"),
    "histology": Family(make_histology, _CAMERA, "H&E-like section, label = nuclei"),
    "endoscopy": Family(_float(make_polyps), _CAMERA, "colonoscopy, label = polyps"),
    "salient": Family(_float(make_salient), _CAMERA, "photographs, label = salient object"),
    "aerial_rgb": Family(_float(make_roads), _SATELLITE, "aerial RGB, label = roads"),
    "aerial_pan": Family(_grey(_float(make_roads)), _SATELLITE, "panchromatic, label = roads"),
    "aerial_multispectral": Family(
        _bgr(_float(make_roads)), _SATELLITE, "B, G, R bands, 11-16 bit, label = roads"
    ),
}
"""Training families by name."""


def check_family(family: str) -> Family:
    """The `Family` called ``family``, else raise `SegRefineError`."""
    if family not in FAMILIES:
        raise SegRefineError(
            f"unknown image family {family!r}: expected one of {', '.join(FAMILIES)}"
        )
    return FAMILIES[family]


def make_family_sample(
    family: str, size: int | tuple[int, int] = (256, 256), seed: int = 0
) -> Sample:
    """One sample of ``family``: any dtype (uint8 or uint16), grey or 3-band, with its label.

    The scene is rendered ``1 / zoom`` times the requested size and resampled to it, so
    objects appear at random magnifications; then `acquisition.acquire` images it.
    """
    spec = check_family(family)
    size, seed = check_size(size), check_seed(seed)
    rng = np.random.default_rng(derive_salt(seed, 900))
    zoom = float(np.exp(rng.uniform(*np.log(spec.acquisition.zoom))))
    drawn = tuple(max(int(round(side / zoom)), 32) for side in size)
    scene, label = spec.scene(drawn, seed)
    scene, label = zoom_pair(scene, label, size)
    image, label = acquire(scene, label, rng, spec.acquisition)
    return Sample(image, label.astype(np.uint8), family, seed)
