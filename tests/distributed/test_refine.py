"""A distributed refine gives `refine`'s mask, with PRN and without, and resumes."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest
import torch
import zarr

from napari_segrefine import create_model, refine
from napari_segrefine.distributed import iter_refine_to_zarr, predict_to_zarr, refine_to_zarr
from napari_segrefine.distributed.model_cache import BUILDS, ModelPayload
from napari_segrefine.distributed.output import DONE_FOLDER
from napari_segrefine.distributed.plan import make_refine_plan
from napari_segrefine.distributed.refine_task import RefineJob
from napari_segrefine.distributed.sources import open_source
from napari_segrefine.errors import Cancelled, SegRefineError
from napari_segrefine.generators import drain
from napari_segrefine.io.zarr_io import write_ome_zarr, write_zarr
from napari_segrefine.refine.prn_windows import iter_prn_probabilities

from .conftest import CHUNK, TILE, read_output, rgb_image

PATCH, WINDOW = 16, 64  # 150 x 203 map: 3 x 4 windows, 3 x 4 chunks of 64
# on the CPU: equality with `refine` is exact there (a GPU run is checked apart)
PRN_SETTINGS = {"patch_size": PATCH, "window": WINDOW, "overlap": 0.25, "device": "cpu"}


@pytest.fixture(scope="module")
def prn() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("prn_p64_lite", width=4)


def prob_map(shape: tuple[int, int] = (150, 203), seed: int = 0) -> np.ndarray:
    """float32 in [0, 1]: smooth blobs plus noise (sides not multiples of the patch)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    smooth = 0.5 + 0.4 * np.sin(rows / 9.0) * np.cos(cols / 13.0)
    return np.clip(smooth + rng.normal(0, 0.1, shape), 0, 1).astype(np.float32)


def busy_threshold(prn: torch.nn.Module, prob: np.ndarray) -> float:
    """A threshold that puts about 40 % of the map in PRN's global mask, so the masks
    compared are far from empty (random weights give probabilities near one value)."""
    global_prob, _ = drain(iter_prn_probabilities(prn, prob, **PRN_SETTINGS))
    return float(np.quantile(global_prob, 0.6))


def test_prn_refine_on_two_workers_equals_refine(client, prn, tmp_path):
    prob = prob_map()
    threshold = busy_threshold(prn, prob)
    expected = refine(prob, prn=prn, threshold=threshold, **PRN_SETTINGS)
    assert 0.2 < expected.mean() < 0.8
    out = tmp_path / "refined.zarr"
    summary = refine_to_zarr(
        prob, out, prn=prn, threshold=threshold, chunk=CHUNK, scheduler=client, **PRN_SETTINGS
    )
    assert (summary.chunks, summary.computed) == (12, 12)
    assert summary.tiles > 12  # windows across chunk borders run in each chunk
    np.testing.assert_array_equal(read_output(out), expected)
    assert len(client.scheduler_info()["workers"]) == 2


def test_residual_prn_with_its_own_rule_on_workers_equals_refine(client, tmp_path):
    torch.manual_seed(1)
    prn = create_model("prn_p64_lite", width=4, residual=True, combine="global")
    for head in (prn.out_global, prn.out_local):  # a correction that moves the mask
        torch.nn.init.normal_(head[0].weight, std=0.5)
    prob = prob_map(seed=1)
    expected = refine(prob, prn=prn, **PRN_SETTINGS)
    assert 0 < (expected != (prob > 0.5)).mean() < 0.5
    out = tmp_path / "residual.zarr"
    refine_to_zarr(prob, out, prn=prn, chunk=CHUNK, scheduler=client, **PRN_SETTINGS)
    np.testing.assert_array_equal(read_output(out), expected)


def test_fallback_refine_equals_refine_with_a_pyramid(client, tmp_path):
    prob = prob_map(seed=1)
    expected = refine(prob, patch_size=PATCH)
    out = tmp_path / "refined.zarr"
    summary = refine_to_zarr(prob, out, patch_size=PATCH, chunk=CHUNK, scheduler=client)
    assert summary.tiles == 0
    np.testing.assert_array_equal(read_output(out), expected)
    np.testing.assert_array_equal(read_output(out, level=1), expected[::2, ::2])
    assert not (out / "prob").exists()


def test_refines_the_probabilities_of_a_distributed_predict(client, model, prn, tmp_path):
    """...keeping the pixel size and GeoTIFF tags the prediction stored."""
    path = tmp_path / "image.ome.zarr"
    write_ome_zarr(path, rgb_image((200, 232)), scale=(0.5, 0.25), channel_axis=2)
    predicted = tmp_path / "predicted.zarr"
    predict_to_zarr(
        path, predicted, model, scheduler=client, tile_size=TILE, chunk=CHUNK, save_prob=True
    )
    tags = {"ModelTiepointTag": [0, 0, 0, 100.0, 200.0, 0]}
    zarr.open_group(str(predicted), mode="r+").attrs["geotiff"] = tags  # as a GeoTIFF's run
    prob = read_output(predicted, "prob")
    out = tmp_path / "refined.zarr"
    refine_to_zarr(predicted, out, prn=prn, chunk=CHUNK, scheduler=client, **PRN_SETTINGS)
    expected = refine(prob, prn=prn, **PRN_SETTINGS)
    np.testing.assert_array_equal(read_output(out), expected)
    refined = zarr.open_group(str(out), mode="r")
    assert refined.attrs["geotiff"] == tags
    datasets = refined["mask"].attrs["multiscales"][0]["datasets"]
    assert datasets[1]["coordinateTransformations"][0]["scale"] == [1.0, 0.5]


def test_rerun_refines_only_missing_chunks(client, prn, tmp_path):
    prob = prob_map(seed=2)
    source = tmp_path / "prob.zarr"
    write_zarr(source, prob)
    out = tmp_path / "refined.zarr"
    run = dict(prn=prn, chunk=CHUNK, scheduler=client, **PRN_SETTINGS)
    refine_to_zarr(source, out, **run)
    again = refine_to_zarr(source, out, **run)
    assert (again.already_done, again.computed, again.tiles) == (12, 0, 0)
    (out / DONE_FOLDER / "r1_c2").unlink()  # as if the run stopped while writing it
    zarr.open_group(str(out), mode="r+")["mask/0"][64:128, 128:192] = 7
    resumed = refine_to_zarr(source, out, **run)
    assert (resumed.already_done, resumed.computed) == (11, 1)
    np.testing.assert_array_equal(read_output(out), refine(prob, prn=prn, **PRN_SETTINGS))
    with pytest.raises(SegRefineError, match="holds a run with other settings"):
        refine_to_zarr(source, out, **{**run, "patch_size": 32})


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"chunk": 40}, "chunk 40 does not fit patch 16"),
        ({"chunk": 32}, "at least PRN's window (64)"),
        ({"patch_size": 12}, "multiple of 8"),
        ({"threshold": 1.0}, "strictly between 0 and 1"),
    ],
)
def test_bad_settings_are_refused_before_any_cluster(prn, tmp_path, options, expected):
    settings = {**PRN_SETTINGS, "chunk": CHUNK, **options}
    with pytest.raises(SegRefineError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        refine_to_zarr(
            prob_map(), tmp_path / "o.zarr", prn=prn, scheduler="tcp://0.0.0.0:9", **settings
        )
    assert not (tmp_path / "o.zarr").exists()


def test_wrong_inputs_are_one_clear_error(client, model, image_zarr, tmp_path):
    out = tmp_path / "o.zarr"
    with pytest.raises(SegRefineError, match="segments images; refine takes a PRN model"):
        refine_to_zarr(prob_map(), out, prn=model, chunk=CHUNK, scheduler=client)
    with pytest.raises(SegRefineError, match="one 2-D"):
        refine_to_zarr(np.zeros((2, 64, 64), np.float32), out, chunk=CHUNK, scheduler=client)
    path, _ = image_zarr
    predicted = tmp_path / "predicted.zarr"
    predict_to_zarr(path, predicted, model, scheduler=client, tile_size=TILE, chunk=CHUNK)
    with pytest.raises(SegRefineError, match="without probabilities; rerun predict"):
        refine_to_zarr(predicted, out, chunk=CHUNK, scheduler=client)
    with pytest.raises(
        SegRefineError, match=r"image rows \d+:\d+, columns \d+:\d+ must hold probabilities"
    ):
        refine_to_zarr(prob_map() * 2, out, patch_size=PATCH, chunk=CHUNK, scheduler=client)


def test_prn_goes_to_workers_once_not_with_each_task(client, tmp_path):
    torch.manual_seed(321)
    prn = create_model("prn_p64_lite", width=4)  # weights no earlier test sent
    payload = ModelPayload.from_model(prn)
    source = tmp_path / "prob.zarr"
    write_zarr(source, prob_map(seed=3))
    before = BUILDS["count"]
    for name in ("o1.zarr", "o2.zarr"):
        refine_to_zarr(
            source, tmp_path / name, prn=prn, chunk=CHUNK, scheduler=client, **PRN_SETTINGS
        )
    # 24 chunks; both in-process workers share one cache: the model was built once
    assert BUILDS["count"] - before == 1
    plan = make_refine_plan((150, 203), PATCH, WINDOW, 0.25, CHUNK)
    job = RefineJob((0, 0), (0, 64, 0, 64), plan, PATCH, payload.digest, None, 0.5)
    assert len(pickle.dumps((open_source(source), job))) < 4096 < len(payload.weights)


def test_stop_between_chunks_then_rerun_finishes_equal(client, prn, tmp_path):
    prob = prob_map(seed=4)
    out = tmp_path / "refined.zarr"
    run = dict(prn=prn, chunk=CHUNK, scheduler=client, **PRN_SETTINGS)
    stop = threading.Event()
    events = []
    with pytest.raises(Cancelled):
        for event in iter_refine_to_zarr(prob, out, stop=stop, **run):
            events.append((event.done, event.total))
            if event.done == 1:
                stop.set()
    assert events == [(0, 12), (1, 12)]
    # chunks already running when it stopped may still finish: the rerun counts them
    rest = refine_to_zarr(prob, out, **run)
    assert rest.already_done >= 1 and rest.already_done + rest.computed == 12
    np.testing.assert_array_equal(read_output(out), refine(prob, prn=prn, **PRN_SETTINGS))
