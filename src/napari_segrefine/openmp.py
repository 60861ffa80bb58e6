"""OpenMP on a shared CPU: waiting threads sleep instead of spinning.

With OpenMP's default wait policy, torch's idle threads spin for a while before they
sleep; on a CPU shared with napari's GUI (or any other process) that spinning steals the
cores the work needs. Measured here on 2 busy cores (basnet_lite, 256 px forward):
0.35 s with the default policy, 0.17-0.24 s with ``PASSIVE``.
"""

from __future__ import annotations

import os


def prefer_passive_waiting() -> None:
    """Ask for ``OMP_WAIT_POLICY=PASSIVE`` unless the user set a policy.

    OpenMP reads the variable once, when torch loads: call this before importing torch
    (the command line and the napari plugin do).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
