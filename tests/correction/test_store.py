"""Autosave: one durable container, identities that never collide, bad files set aside."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine.correction import (
    CorrectionSession,
    SessionStore,
    image_fingerprint,
    session_identity,
)
from napari_segrefine.engine import Prediction, boundary_map, threshold_mask


def _session(image, tmp_path, **kwargs) -> CorrectionSession:
    session = CorrectionSession(image, name="a", autosave_root=tmp_path, **kwargs)
    prob = (image / 255.0).astype(np.float32)
    session.set_prediction(Prediction(prob, threshold_mask(prob, 0.5), boundary_map(prob)))
    return session


@pytest.fixture
def image():
    return np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1))


def test_a_session_comes_back_from_its_single_container(tmp_path, image):
    first = _session(image, tmp_path)
    first.paint((slice(0, 5), slice(0, 5)), 1)
    path = first.save()
    first.paint((slice(10, 12), slice(0, 2)), 1)
    first.save()

    assert path.suffixes[-2:] == [".segrefine", ".npz"]
    assert list(tmp_path.iterdir()) == [path]  # no temporary left behind
    second = _session(image.copy(), tmp_path)
    np.testing.assert_array_equal(second.valid, first.valid)
    np.testing.assert_array_equal(second.mask, first.mask)
    assert second.generation == 2
    second.save()
    with np.load(path) as archive:
        assert '"generation": 3' in str(archive["meta"])


def test_identity_has_stem_extension_and_pixel_hash(tmp_path, image):
    other = image[:, ::-1].copy()
    names = {
        session_identity("a", image_fingerprint(image), tmp_path / "a.tif"),
        session_identity("a", image_fingerprint(image), tmp_path / "a.png"),
        session_identity("a", image_fingerprint(other), tmp_path / "a.tif"),
    }
    assert len(names) == 3
    assert all(name.startswith("a.") for name in names)


def test_two_images_with_one_stem_keep_their_own_corrections(tmp_path, image):
    for suffix in (".tif", ".png"):
        (tmp_path / f"a{suffix}").write_bytes(b"")
    tif = CorrectionSession(image, name="a", source=tmp_path / "a.tif")
    png = CorrectionSession(image, name="a", source=tmp_path / "a.png")
    assert tif.store.path != png.store.path
    assert tif.store.path.parent == tmp_path


@pytest.mark.parametrize(
    "content", [b"", b"PK\x03\x04 truncated", b"not a zip at all"], ids=["empty", "zip", "text"]
)
def test_a_corrupt_autosave_is_set_aside_with_a_notice(tmp_path, image, content):
    store = SessionStore.for_image("a", image_fingerprint(image), root=tmp_path)
    store.path.write_bytes(content)
    notices = []
    session = CorrectionSession(image, name="a", autosave_root=tmp_path)
    session.events.notice.connect(notices.append)

    restored = session.load_autosave()

    assert restored.mask is None and "set aside" in restored.notice
    assert not store.path.exists()
    (aside,) = tmp_path.iterdir()
    assert ".corrupt-" in aside.name and aside.read_bytes() == content


def test_a_list_shaped_record_and_a_foreign_session_are_set_aside(tmp_path, image):
    store = SessionStore.for_image("a", image_fingerprint(image), root=tmp_path)
    zeros = np.zeros(image.shape, np.uint8)
    with store.path.open("wb") as stream:
        np.savez(stream, mask=zeros, valid=zeros, meta=np.array("[1, 2]"))
    assert "cannot be read" in store.load().notice

    SessionStore(store.path, "another image").save(zeros, zeros, 1)
    notices = []
    session = _session_with_notices(image, tmp_path, notices)

    assert any("belongs to other pixels" in n for n in notices)
    assert not session.valid.any()
    kinds = sorted(p.name.split(".")[-1].split("-")[0] for p in tmp_path.iterdir())
    assert kinds == ["corrupt", "foreign"]


def _session_with_notices(image, tmp_path, notices):
    session = CorrectionSession(image, name="a", autosave_root=tmp_path)
    session.events.notice.connect(notices.append)
    prob = (image / 255.0).astype(np.float32)
    session.set_prediction(Prediction(prob, threshold_mask(prob, 0.5), boundary_map(prob)))
    return session


def test_a_crash_during_a_save_leaves_the_previous_session(tmp_path, image, monkeypatch):
    session = _session(image, tmp_path)
    session.paint((slice(0, 3), slice(0, 3)), 1)
    session.save()
    session.paint((slice(20, 30), slice(20, 30)), 0)

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(Exception, match="cannot autosave"):
        session.save()
    monkeypatch.undo()

    assert len(list(tmp_path.iterdir())) == 1  # the temporary was removed
    restored = SessionStore.for_image("a", session.fingerprint, root=tmp_path).load()
    assert restored.valid.sum() == 9 and restored.meta["generation"] == 1


def test_saves_are_flushed_to_disk(tmp_path, image, monkeypatch):
    synced = []
    real = __import__("os").fsync
    monkeypatch.setattr("os.fsync", lambda fd: synced.append(fd) or real(fd))
    _session(image, tmp_path).save()
    assert len(synced) >= 2  # the file, then its folder


def test_corrections_saved_by_an_older_version_come_back_and_stay(tmp_path, image):
    from napari_segrefine.io import write_labels

    source = tmp_path / "a.tif"
    source.write_bytes(b"")
    folder = tmp_path / "a.segrefine"
    folder.mkdir()
    valid = np.zeros(image.shape, np.uint8)
    valid[:4] = 1
    write_labels(folder / "mask.tif", np.ones(image.shape, np.uint8))
    write_labels(folder / "valid.tif", valid)
    record = f'{{"image_fingerprint": "{image_fingerprint(image)}"}}'
    (folder / "session.json").write_text(record)
    notices = []
    session = CorrectionSession(image, name="a", source=source)
    session.events.notice.connect(notices.append)
    prob = (image / 255.0).astype(np.float32)
    session.set_prediction(Prediction(prob, threshold_mask(prob, 0.5), boundary_map(prob)))

    assert session.valid.sum() == 4 * 32 and session.mask[:4].all()
    assert any("older version" in n for n in notices)
    session.save()
    assert sorted(p.name for p in folder.iterdir()) == ["mask.tif", "session.json", "valid.tif"]
