"""Autosave of a correction session: one container, written atomically and durably.

Each image's session lives in one ``.segrefine.npz`` file (mask, valid mask and a JSON
record with a generation number) named after the image's stem, extension and a hash of
its pixels, so two images never share one. A save writes a hidden temporary file,
flushes it to disk (fsync), renames it over the old one and flushes the folder: a
crash leaves either the old session or the new one, never a mix. A file that cannot be
read, or that belongs to other pixels, is set aside (renamed, never deleted).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SegRefineError
from .legacy import legacy_folder, read_legacy

SUFFIX = ".segrefine.npz"
FORMAT = 1
HASH_CHARS = 12
_READ_ERRORS = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile)


def image_fingerprint(image: np.ndarray) -> str:
    """A hash of an image's shape, type and pixels, to match saved corrections."""
    array = np.ascontiguousarray(image)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{array.shape}{array.dtype.str}".encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "image"


def session_identity(name: str, fingerprint: str, source: str | Path | None = None) -> str:
    """A name no two images share: the file's stem and extension (else the layer name)
    and the pixels' hash, e.g. ``a.tif-0123456789ab``."""
    label = Path(source).name if source else name
    return f"{_safe(label)}-{fingerprint[:HASH_CHARS]}"


@dataclass(frozen=True)
class Restored:
    """What `SessionStore.load` found: saved arrays, or a notice about a set-aside file."""

    mask: np.ndarray | None = None
    valid: np.ndarray | None = None
    meta: dict[str, Any] | None = None
    notice: str | None = None


def _fsync_directory(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is still atomic
        return
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


@dataclass(frozen=True)
class SessionStore:
    """The autosave file of one image: ``<folder>/<identity>.segrefine.npz``."""

    path: Path
    fingerprint: str
    legacy: Path | None = None  # an older release's autosave folder for this image

    @classmethod
    def for_image(
        cls,
        name: str,
        fingerprint: str,
        source: str | Path | None = None,
        root: str | Path | None = None,
    ) -> SessionStore:
        """Beside the source file, in ``root`` when given, else in the temp folder."""
        if root:
            folder = Path(root)
        elif source and Path(source).exists():
            folder = Path(source).parent
        else:
            folder = Path(tempfile.gettempdir()) / "napari-segrefine"
        identity = session_identity(name, fingerprint, source)
        return cls(folder / f"{identity}{SUFFIX}", fingerprint, legacy_folder(name, source, root))

    def save(self, mask: np.ndarray, valid: np.ndarray, generation: int, **meta: Any) -> Path:
        """Write the whole session in one durable, atomic step.

        Raises:
            SegRefineError: the shapes differ, or the folder cannot be written.
        """
        if np.shape(mask) != np.shape(valid):
            raise SegRefineError(
                f"mask {np.shape(mask)} and valid mask {np.shape(valid)} differ in shape"
            )
        record = {
            "format": FORMAT,
            "generation": int(generation),
            "image_fingerprint": self.fingerprint,
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "corrected_pixels": int(np.count_nonzero(valid)),
            **meta,
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._write(mask, (np.asarray(valid) > 0).astype(np.uint8), record)
        except OSError as error:
            raise SegRefineError(
                f"cannot autosave to {self.path.parent} ({error.strerror or error}); "
                "choose another autosave folder"
            ) from error
        return self.path

    def _write(self, mask: np.ndarray, valid: np.ndarray, record: dict[str, Any]) -> None:
        handle, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        temporary = Path(name)
        try:
            with os.fdopen(handle, "wb") as stream:
                meta = np.array(json.dumps(record, default=str))
                np.savez_compressed(stream, mask=mask, valid=valid, meta=meta)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _fsync_directory(self.path.parent)

    def load(self) -> Restored:
        """The saved session; a corrupt or foreign file is renamed aside with a notice."""
        if not self.path.is_file():
            return self._load_legacy()
        try:
            mask, valid, meta = self._read()
        except _READ_ERRORS as error:
            return Restored(notice=self._set_aside("corrupt", f"it cannot be read ({error})"))
        if meta.get("image_fingerprint") != self.fingerprint:
            return Restored(notice=self._set_aside("foreign", "it belongs to other pixels"))
        return Restored(mask=mask, valid=valid > 0, meta=meta)

    def _load_legacy(self) -> Restored:
        found = None if self.legacy is None else read_legacy(self.legacy, self.fingerprint)
        if found is None:
            return Restored()
        notice = f"read corrections saved by an older version in {self.legacy} (kept as is)"
        return Restored(mask=found[0], valid=found[1], meta={"generation": 0}, notice=notice)

    def _read(self) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        with np.load(self.path, allow_pickle=False) as archive:
            mask, valid = archive["mask"], archive["valid"]
            meta = json.loads(str(archive["meta"]))
        if not isinstance(meta, dict):
            raise ValueError(f"the record is a {type(meta).__name__}, not an object")
        if mask.shape != valid.shape or mask.ndim not in (2, 3):
            raise ValueError(f"mask {mask.shape} and valid {valid.shape} do not match")
        return mask, valid, meta

    def _set_aside(self, why: str, reason: str) -> str:
        aside = self.path.with_name(f"{self.path.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}")
        counter = 1
        while aside.exists():
            aside = aside.with_name(f"{aside.name.rsplit('~', 1)[0]}~{counter}")
            counter += 1
        self.path.rename(aside)
        return f"the autosave {self.path.name} was set aside as {aside.name}: {reason}"
