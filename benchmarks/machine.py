"""One line describing the machine a benchmark ran on, for its results file."""

from __future__ import annotations

import os
import platform

import torch


def describe() -> str:
    """Host, architecture, cores, load average now, torch version and its threads."""
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores, load average "
        f"{load} at the end, torch {torch.__version__}, {torch.get_num_threads()} threads)"
    )
