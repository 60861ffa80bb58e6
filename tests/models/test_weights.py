"""The one weights resolver: shipped, cache, download or file; one-line errors otherwise."""

from __future__ import annotations

import pooch
import pytest
import torch

from napari_segrefine import SegRefineError, create_model, save_checkpoint
from napari_segrefine.models import model_config
from napari_segrefine.models.weights import (
    CACHE_ENV,
    PUBLISHED_WEIGHTS,
    SHIPPED,
    available_weights,
    manual_path,
    resolve_weights,
    shipped_weights_path,
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_shipped_weights_come_first_and_load():
    assert available_weights("basnet_lite")[0] == SHIPPED
    assert resolve_weights("basnet_lite") == shipped_weights_path("basnet_lite")
    assert resolve_weights("basnet_lite", SHIPPED) == shipped_weights_path("basnet_lite")
    model = create_model("basnet_lite", pretrained=SHIPPED)
    source = model_config(model).provenance["source"]
    assert source == str(shipped_weights_path("basnet_lite"))


def test_published_weights_come_from_the_cache_without_a_download(cache, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("pooch must not download a cached file")

    weights = PUBLISHED_WEIGHTS["bisenetv2_city"]
    cache.mkdir()
    (cache / weights.filename).write_bytes(b"cached")
    monkeypatch.setattr(pooch.core, "stream_download", no_network)
    assert resolve_weights("bisenetv2", "bisenetv2_city") == cache / weights.filename


def test_manual_weights_come_from_the_cache(cache):
    weights = PUBLISHED_WEIGHTS["prn_p64_duts"]
    target = manual_path(weights)
    target.parent.mkdir(parents=True)
    torch.save(create_model("prn_p64").state_dict(), target)
    assert resolve_weights("prn_p64") == target
    model = create_model("prn_p64", pretrained=True)
    assert model_config(model).kwargs["upstream_row7_quirk"] is True


def test_a_failed_download_is_one_line(cache, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(SegRefineError) as error:
        resolve_weights("bisenetv1", True)
    assert "could not download bisenetv1_city" in _one_line(error)


def test_a_file_resolves_to_itself(tmp_path):
    path = save_checkpoint(create_model("prn_p0", width=4), tmp_path / "mine")
    assert resolve_weights("prn_p0", path) == path
    assert model_config(create_model("prn_p0", pretrained=path)).kwargs["width"] == 4


@pytest.mark.parametrize(
    ("arch", "source", "says"),
    [
        ("prn_p0", True, "has no shipped or published weights"),
        ("prn_p4", SHIPPED, "has no shipped demo weights"),
        ("basnet_lite", "no/such/file.safetensors", "no weights file at"),
        ("basnet_lite", False, "no weights asked for"),
    ],
)
def test_missing_weights_are_one_line_errors(cache, arch, source, says):
    with pytest.raises(SegRefineError) as error:
        resolve_weights(arch, source)
    assert says in _one_line(error)


def test_missing_manual_weights_say_where_to_put_them(cache):
    with pytest.raises(SegRefineError) as error:
        create_model("basnet", pretrained=True)
    message = _one_line(error)
    assert "Google Drive" in message and str(cache) in message
