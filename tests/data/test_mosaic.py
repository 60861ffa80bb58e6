"""Lazy mosaics: consistent regions, laziness, seamless roads, indexing, dask."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine import data
from napari_segrefine.data import mosaic as mosaic_module
from napari_segrefine.data.road_network import centerline_pixels
from napari_segrefine.data.roads import RoadScene
from napari_segrefine.errors import SegRefineError


@pytest.mark.parametrize("domain", data.DOMAINS)
def test_region_equals_the_same_region_cut_from_a_larger_request(domain: str) -> None:
    mosaic = data.LazyMosaic(domain, (600, 600), chunk=128, seed=2)
    image, label = mosaic.region(100, 260, 90, 300)
    big_image, big_label = data.LazyMosaic(domain, (600, 600), chunk=128, seed=2).region(
        40, 400, 0, 420
    )
    np.testing.assert_array_equal(image, big_image[60:220, 90:300])
    np.testing.assert_array_equal(label, big_label[60:220, 90:300])
    assert 0 < label.sum() < label.size


def test_huge_mosaic_is_built_instantly_and_renders_only_what_is_read(monkeypatch) -> None:
    boxes = []
    render = RoadScene.render

    def spy(self, y0, y1, x0, x1):
        boxes.append((y0, y1, x0, x1))
        return render(self, y0, y1, x0, x1)

    monkeypatch.setattr(RoadScene, "render", spy)
    mosaic = data.LazyMosaic("roads", (8192, 8192), chunk=512, seed=0)
    assert mosaic.shape == (8192, 8192, 3) and mosaic.ndim == 3 and mosaic.dtype == np.uint8
    assert mosaic.label.shape == (8192, 8192) and mosaic.label.ndim == 2
    assert boxes == []
    crop = mosaic.label[4000:4256, 1000:1256]
    assert crop.shape == (256, 256) and crop.dtype == np.uint8
    assert boxes == [(4000, 4256, 1000, 1256)]


def test_tiled_domains_generate_only_the_touched_chunks_and_cache_them(monkeypatch) -> None:
    calls = []
    generate = data.samples.GENERATORS["polyps"]

    def spy(size, seed):
        calls.append((size, seed))
        return generate(size, seed)

    monkeypatch.setitem(data.samples.GENERATORS, "polyps", spy)
    mosaic = data.LazyMosaic("polyps", (8192, 8192), chunk=128, seed=1)
    first = mosaic[300:350, 130:250]
    assert [size for size, _ in calls] == [(128, 128)]
    assert calls[0][1] == mosaic.chunk_seed(2, 1)
    np.testing.assert_array_equal(mosaic[300:350, 130:250], first)
    assert len(calls) == 1
    mosaic.label[250:260, 120:140]
    assert len(calls) == 1 + 3  # chunks (1, 0), (2, 0) and (1, 1) are new; (2, 1) is cached


def test_polyp_tiles_are_samples_with_chunk_seeds() -> None:
    mosaic = data.LazyMosaic("polyps", (256, 256), chunk=128, seed=3)
    tile = data.make_sample("polyps", (128, 128), mosaic.chunk_seed(1, 0))
    np.testing.assert_array_equal(mosaic[128:256, 0:128], tile.image)
    np.testing.assert_array_equal(mosaic.label[128:256, 0:128], tile.label)
    assert not np.array_equal(mosaic[0:128, 0:128], tile.image)


def test_roads_and_terrain_run_on_across_chunk_borders() -> None:
    mosaic = data.LazyMosaic("roads", (1024, 1024), chunk=256, seed=0)
    left_image, left = mosaic.region(0, 512, 0, 256)  # two chunks, requested separately
    right_image, right = mosaic.region(0, 512, 256, 512)
    last, first = left[:, -1].astype(bool), right[:, 0].astype(bool)
    assert last.sum() > 0 and first.sum() > 0
    near = np.convolve(first, np.ones(5), mode="same") > 0
    assert (last & near).sum() >= 0.95 * last.sum()  # every road goes on within 2 px
    whole_image, whole = mosaic.region(0, 512, 0, 512)  # one render has no seam to hide
    np.testing.assert_array_equal(np.concatenate([left_image, right_image], axis=1), whole_image)
    np.testing.assert_array_equal(np.concatenate([left, right], axis=1), whole)


def test_indexing_matches_numpy_on_the_rendered_region() -> None:
    mosaic = data.LazyMosaic("salient", (300, 200), chunk=64, seed=4)
    image, label = mosaic.region(0, 300, 0, 200)
    np.testing.assert_array_equal(mosaic[5], image[5])
    np.testing.assert_array_equal(mosaic[-1, 3], image[-1, 3])
    np.testing.assert_array_equal(mosaic[10:50:7, ::-9, 1], image[10:50:7, ::-9, 1])
    np.testing.assert_array_equal(mosaic[..., 2], image[..., 2])
    np.testing.assert_array_equal(mosaic.label[..., 3], label[..., 3])
    np.testing.assert_array_equal(mosaic.label[:, 7], label[:, 7])
    assert mosaic[5:5].shape == (0, 200, 3)
    assert mosaic.label[:0, 3].shape == (0,)
    with pytest.raises(IndexError):
        mosaic[300]
    with pytest.raises(IndexError):
        mosaic[1, 2, 3, 4]


def test_to_dask_gives_chunked_arrays_equal_to_the_regions() -> None:
    dask = pytest.importorskip("dask", reason="dask is an optional extra")
    mosaic = data.LazyMosaic("roads", (700, 600), chunk=256, seed=1)
    image, label = mosaic.to_dask()
    assert image.shape == (700, 600, 3) and label.shape == (700, 600)
    assert image.dtype == np.uint8 and label.dtype == np.uint8
    assert image.chunks[:2] == ((256, 256, 188), (256, 256, 88))
    got_image, got_label = dask.compute(image[200:300, 500:600], label[200:300, 500:600])
    want_image, want_label = mosaic.region(200, 300, 500, 600)
    np.testing.assert_array_equal(got_image, want_image)
    np.testing.assert_array_equal(got_label, want_label)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"domain": "trees"}, "unknown sample domain"),
        ({"domain": "roads", "shape": (4, 4)}, "shape"),
        ({"domain": "roads", "chunk": 0}, "chunk"),
        ({"domain": "roads", "seed": -3}, "seed"),
    ],
)
def test_bad_mosaic_arguments_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(SegRefineError, match=message):
        data.LazyMosaic(**kwargs)


def test_centerline_pixels_of_adjacent_boxes_add_up_to_the_big_box() -> None:
    rng = np.random.default_rng(0)
    points = np.cumsum(rng.normal(0, 15, (40, 2)), axis=0) + 100
    whole = set(zip(*centerline_pixels(points, 0, 200, 0, 200)))
    top = set(zip(*centerline_pixels(points, 0, 77, 0, 200)))
    bottom = set(zip(*centerline_pixels(points, 77, 200, 0, 200)))
    assert whole and top and bottom
    assert top | bottom == whole and not top & bottom


def test_mosaic_module_keeps_few_tiles_in_memory() -> None:
    mosaic = data.LazyMosaic("salient", (2048, 2048), chunk=32, seed=0)
    mosaic[0:1024:1, 0:32]  # 32 tiles
    assert len(mosaic._tiles) == mosaic_module._CACHE_CHUNKS
