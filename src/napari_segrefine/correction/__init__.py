"""The correction loop of one image, with no Qt: `CorrectionSession` and its parts.

The napari widgets are views of a session; the CLI, ``demo`` and the benchmarks drive
the same session headless.
"""

from .edits import (
    GAINED,
    LOST,
    change_grid,
    change_map,
    correction_samples,
    keep_corrections,
    spatial_shape,
)
from .history import Change, History
from .jobs import JobSlot, interruptible
from .session import CorrectionSession, SessionEvents, write_snapshot
from .store import Restored, SessionStore, image_fingerprint, session_identity
from .updates import ModelUpdate

__all__ = [
    "GAINED",
    "LOST",
    "Change",
    "CorrectionSession",
    "History",
    "JobSlot",
    "ModelUpdate",
    "Restored",
    "SessionEvents",
    "SessionStore",
    "change_grid",
    "change_map",
    "correction_samples",
    "image_fingerprint",
    "interruptible",
    "keep_corrections",
    "session_identity",
    "spatial_shape",
    "write_snapshot",
]
