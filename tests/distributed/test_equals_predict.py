"""A distributed run gives `predict`'s result, for every input kind it reads."""

from __future__ import annotations

import pickle

import numpy as np
import tifffile
import torch
import zarr

from napari_segrefine import create_model
from napari_segrefine.distributed import make_plan, predict_to_zarr
from napari_segrefine.distributed.model_cache import BUILDS, ModelPayload
from napari_segrefine.distributed.output import DONE_FOLDER
from napari_segrefine.distributed.sources import open_source
from napari_segrefine.distributed.task import ChunkJob
from napari_segrefine.engine import tile_grid

from .conftest import CHUNK, TILE, assert_equals_predict, read_output, rgb_image


def test_two_workers_equal_predict(client, model, image_zarr, tmp_path):
    path, image = image_zarr
    out = tmp_path / "out.zarr"
    summary = predict_to_zarr(
        path, out, model, scheduler=client, tile_size=TILE, chunk=CHUNK, save_prob=True
    )
    assert summary.chunks == summary.computed == 4 * 4
    assert len(client.scheduler_info()["workers"]) == 2
    assert_equals_predict(out, model, image)
    assert len(list((out / DONE_FOLDER).iterdir())) == 16


def test_pyramid_levels_are_nearest_halvings_with_ome_metadata(
    client, model, image_zarr, tmp_path
):
    path, _ = image_zarr
    out = tmp_path / "out.zarr"
    predict_to_zarr(path, out, model, scheduler=client, tile_size=TILE, chunk=CHUNK)
    group = zarr.open_group(str(out / "mask"), mode="r")
    multiscale = group.attrs["multiscales"][0]
    assert [d["path"] for d in multiscale["datasets"]] == ["0", "1", "2"]
    assert "image-label" in group.attrs
    full = read_output(out, "mask", 0)
    for level in (1, 2):
        np.testing.assert_array_equal(
            read_output(out, "mask", level), full[:: 2**level, :: 2**level]
        )
    assert not (out / "prob").exists()


def test_uint16_geotiff_keeps_georeference_and_whole_image_scaling(client, model, tmp_path):
    """A 16-bit image is scaled by the whole image's maximum, not each chunk's."""
    rng = np.random.default_rng(3)
    image = (rng.random((150, 203)) * 3000).astype(np.uint16)
    image[5, 7] = 4000  # the maximum lies in one chunk only
    geo = {"ModelPixelScaleTag": (0.5, 0.5, 0.0), "ModelTiepointTag": (0, 0, 0, 100.0, 200.0, 0)}
    path = tmp_path / "ortho.tif"
    tifffile.imwrite(
        path,
        image,
        tile=(64, 64),
        extratags=[
            (33550, "d", 3, geo["ModelPixelScaleTag"], True),
            (33922, "d", 6, geo["ModelTiepointTag"], True),
        ],
    )
    out = tmp_path / "ortho.zarr"
    predict_to_zarr(
        path, out, model, scheduler=client, tile_size=TILE, chunk=CHUNK, save_prob=True
    )
    assert_equals_predict(out, model, image)
    stored = zarr.open_group(str(out), mode="r").attrs["geotiff"]
    assert stored["ModelTiepointTag"] == list(geo["ModelTiepointTag"])


def test_folder_gives_one_store_per_image(client, model, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    images = {"a": rgb_image((96, 130), 1), "b": rgb_image((140, 70), 2)}
    for name, image in images.items():
        tifffile.imwrite(folder / f"{name}.tif", image, photometric="rgb")
    out = tmp_path / "out"
    summary = predict_to_zarr(
        folder, out, model, scheduler=client, tile_size=TILE, chunk=CHUNK, save_prob=True
    )
    assert summary.outputs == [out / "a.zarr", out / "b.zarr"]
    for name, image in images.items():
        assert_equals_predict(out / f"{name}.zarr", model, image)


def test_in_memory_array_is_scattered_and_equal(client, model, tmp_path):
    image = rgb_image((100, 100), 4)
    out = tmp_path / "mem.zarr"
    predict_to_zarr(
        image, out, model, scheduler=client, tile_size=TILE, chunk=CHUNK, save_prob=True
    )
    assert_equals_predict(out, model, image)


def test_model_goes_to_workers_once_not_with_each_task(client, image_zarr, tmp_path):
    path, _ = image_zarr
    torch.manual_seed(123)
    model = create_model("basnet_lite")  # weights no earlier test sent: a new digest
    payload = ModelPayload.from_model(model)
    before = BUILDS["count"]
    predict_to_zarr(
        path, tmp_path / "o1.zarr", model, scheduler=client, tile_size=TILE, chunk=CHUNK
    )
    predict_to_zarr(
        path, tmp_path / "o2.zarr", model, scheduler=client, tile_size=TILE, chunk=CHUNK
    )
    # 32 chunks; both in-process workers share one cache: the model was built once
    assert BUILDS["count"] - before == 1
    plan = make_plan((200, 232), TILE, 0.25, CHUNK)
    job = ChunkJob((0, 0), (0, 64, 0, 64), plan, payload.digest, None, 1.0)
    task_bytes = len(pickle.dumps((open_source(path), job)))
    assert task_bytes < 4096 < len(payload.weights)


def test_chunks_cover_the_image_once_and_run_every_tile():
    plan = make_plan((200, 232), TILE, 0.25, CHUNK)
    cover = np.zeros(plan.shape, int)
    for y0, y1, x0, x1 in plan.regions().values():
        cover[y0:y1, x0:x1] += 1
    assert (cover == 1).all()
    grid = tile_grid(plan.padded, plan.tile, plan.overlap)
    assert plan.tiles_run() > len(grid)  # tiles across chunk borders run in each chunk
