"""Round trips through every format: values, dtypes, shapes, scale, GeoTIFF tags."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import zarr
from PIL import Image

from napari_segrefine import io

RNG = np.random.default_rng(0)
LABELS_2D = RNG.integers(0, 6, size=(40, 36)).astype(np.uint8)
LABELS_3D = RNG.integers(0, 4, size=(3, 40, 36)).astype(np.uint8)
PROB = RNG.random((40, 36)).astype(np.float32)

# Placement tags of a north-up raster in WGS 84, plus a nodata value.
GEO = {
    "ModelPixelScaleTag": (0.5, 0.5, 0.0),
    "ModelTiepointTag": (0.0, 0.0, 0.0, 440720.0, 3751320.0, 0.0),
    "GeoKeyDirectoryTag": (1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326),
}


@pytest.mark.parametrize("suffix", [".tif", ".tiff", ".ome.tif", ".png", ".npy", ".zarr"])
def test_labels_round_trip_2d(tmp_path, suffix):
    written = io.write_labels(tmp_path / f"mask{suffix}", LABELS_2D)
    image = io.read_image(written)
    assert image.array.dtype == np.uint8
    np.testing.assert_array_equal(image.array, LABELS_2D)


@pytest.mark.parametrize("suffix", [".tif", ".npy", ".zarr", ".ome.zarr"])
def test_labels_round_trip_3d(tmp_path, suffix):
    image = io.read_image(io.write_labels(tmp_path / f"stack{suffix}", LABELS_3D))
    assert image.shape == LABELS_3D.shape
    np.testing.assert_array_equal(image.array, LABELS_3D)


def test_labels_use_the_smallest_unsigned_type(tmp_path):
    ids = np.array([[0, 300], [2, 1]], dtype=np.int64).repeat(8, 0).repeat(8, 1)
    assert io.read_image(io.write_labels(tmp_path / "ids.tif", ids)).array.dtype == np.uint16
    mask = io.read_image(io.write_labels(tmp_path / "mask.tif", LABELS_2D > 2)).array
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, LABELS_2D > 2)


def test_binary_png_is_written_visible_as_0_and_255(tmp_path):
    mask = LABELS_2D > 2
    stored = io.read_image(io.write_labels(tmp_path / "mask.png", mask)).array
    np.testing.assert_array_equal(stored, mask.astype(np.uint8) * 255)


@pytest.mark.parametrize("suffix", [".tif", ".npy", ".zarr", ".ome.zarr"])
def test_probability_round_trip_is_exact_float32(tmp_path, suffix):
    image = io.read_image(io.write_probability(tmp_path / f"prob{suffix}", PROB.astype(float)))
    assert image.array.dtype == np.float32
    np.testing.assert_array_equal(image.array, PROB)


def test_probability_png_is_scaled_to_uint8(tmp_path):
    stored = io.read_image(io.write_probability(tmp_path / "prob.png", PROB)).array
    assert stored.dtype == np.uint8
    np.testing.assert_array_equal(stored, np.round(PROB * 255).astype(np.uint8))


@pytest.mark.parametrize("suffix", [".tif", ".ome.zarr"])
def test_per_class_probabilities_keep_their_channel_axis_and_scale(tmp_path, suffix):
    prob = RNG.random((3, 40, 36)).astype(np.float32)
    path = io.write_probability(tmp_path / f"p{suffix}", prob, channel_axis=0, scale=(2, 3))
    image = io.read_image(path)
    assert image.channel_axis == 0
    assert image.scale == pytest.approx((2.0, 3.0))
    np.testing.assert_array_equal(image.array, prob)


@pytest.mark.parametrize("suffix", [".tif", ".ome.zarr"])
def test_scale_survives(tmp_path, suffix):
    scale = (2.0, 0.5, 0.25)
    image = io.read_image(io.write_labels(tmp_path / f"s{suffix}", LABELS_3D, scale=scale))
    assert image.scale == pytest.approx(scale)


def test_scale_from_resolution_tags_is_in_micrometres(tmp_path):
    path = tmp_path / "res.tif"
    tifffile.imwrite(path, LABELS_2D, resolution=(2000.0, 4000.0), resolutionunit="CENTIMETER")
    assert io.read_image(path).scale == pytest.approx((2.5, 5.0))
    tifffile.imwrite(path, LABELS_2D)  # tifffile's default: 1 pixel per (no) unit
    assert io.read_image(path).scale is None


def test_imagej_stack_spacing_and_unit(tmp_path):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(
        path,
        LABELS_3D,
        imagej=True,
        resolution=(1 / 0.2, 1 / 0.2),
        metadata={"spacing": 1.5, "unit": "um", "axes": "ZYX"},
    )
    assert io.read_image(path).scale == pytest.approx((1.5, 0.2, 0.2))


def test_geotiff_tags_survive_read_write_read(tmp_path):
    source = tmp_path / "scene.tif"
    extratags = [
        (33550, "d", 3, GEO["ModelPixelScaleTag"], True),
        (33922, "d", 6, GEO["ModelTiepointTag"], True),
        (34735, "H", 16, GEO["GeoKeyDirectoryTag"], True),
        (42113, "s", 0, "-9999", True),
    ]
    rgb = RNG.integers(0, 255, size=(40, 36, 3)).astype(np.uint8)
    tifffile.imwrite(source, rgb, photometric="rgb", extratags=extratags)

    scene = io.read_image(source)
    assert scene.channel_axis == 2
    assert scene.geo == {**GEO, "GDAL_NODATA": "-9999"}

    mask = io.read_image(io.write_labels(tmp_path / "mask.tif", LABELS_2D, geo=scene.geo))
    assert mask.geo == GEO  # placement kept; the image's nodata value is not the mask's


def test_geo_for_a_format_without_it_warns(tmp_path):
    with pytest.warns(UserWarning, match="georeferencing"):
        io.write_labels(tmp_path / "mask.png", LABELS_2D, geo=GEO)


def test_ome_zarr_metadata_is_a_valid_multiscale(tmp_path):
    labels = RNG.integers(0, 3, size=(2, 100, 70)).astype(np.uint8)
    path = io.write_labels(tmp_path / "cells.ome.zarr", labels, scale=(3.0, 0.5, 0.5))
    attrs = json.loads((path / ".zattrs").read_text())
    multiscale = attrs["multiscales"][0]
    assert multiscale["version"] == "0.4"
    assert multiscale["name"] == "cells"
    assert [axis["name"] for axis in multiscale["axes"]] == ["z", "y", "x"]
    assert attrs["image-label"]["version"] == "0.4"
    group = zarr.open_group(str(path), mode="r")
    shapes = [group[d["path"]].shape for d in multiscale["datasets"]]
    scales = [d["coordinateTransformations"][0]["scale"] for d in multiscale["datasets"]]
    assert shapes == [(2, 100, 70), (2, 50, 35), (2, 25, 18)]
    assert scales == [[3.0, 0.5, 0.5], [3.0, 1.0, 1.0], [3.0, 2.0, 2.0]]
    np.testing.assert_array_equal(group["1"][...], labels[:, ::2, ::2])


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_5d_image_is_read_without_its_singleton_axes(tmp_path, version):
    path = tmp_path / "image.ome.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=2 if version == "0.4" else 3)
    group.create_array("0", data=LABELS_2D[None, None, None])
    axes = [{"name": "t", "type": "time"}, {"name": "c", "type": "channel"}]
    axes += [{"name": n, "type": "space", "unit": "nanometer"} for n in "zyx"]
    transform = {"type": "scale", "scale": [1, 1, 500, 200, 100]}
    datasets = [{"path": "0", "coordinateTransformations": [transform]}]
    multiscales = [{"version": version, "axes": axes, "datasets": datasets}]
    if version == "0.4":
        group.attrs["multiscales"] = multiscales
    else:  # 0.5 nests the metadata under "ome"
        group.attrs["ome"] = {"version": version, "multiscales": multiscales}

    image = io.read_image(path)
    np.testing.assert_array_equal(image.array, LABELS_2D)
    assert image.scale == pytest.approx((0.2, 0.1))
    assert image.channel_axis is None


def test_large_inputs_can_stay_on_disk(tmp_path):
    stored = io.write_labels(tmp_path / "big.zarr", LABELS_3D)
    lazy = io.read_image(stored, lazy=True).array
    assert type(lazy).__module__.startswith("dask")
    np.testing.assert_array_equal(lazy.compute(), LABELS_3D)
    mapped = io.read_image(io.write_labels(tmp_path / "big.npy", LABELS_3D), lazy=True).array
    assert isinstance(mapped, np.memmap)


def test_zarr_group_with_one_array_is_read(tmp_path):
    group = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    group.create_array("pixels", data=LABELS_2D)
    np.testing.assert_array_equal(io.read_image(tmp_path / "g.zarr").array, LABELS_2D)


def test_rgb_png_jpeg_and_palette_png(tmp_path):
    rgb = RNG.integers(0, 255, size=(16, 12, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.jpg")
    Image.fromarray(rgb).save(tmp_path / "photo.bmp")
    assert io.read_image(tmp_path / "photo.jpg").shape == (16, 12, 3)
    bmp = io.read_image(tmp_path / "photo.bmp")
    assert bmp.channel_axis == 2
    np.testing.assert_array_equal(bmp.array, rgb)

    palette = Image.fromarray(LABELS_2D, mode="P")
    palette.putpalette([0, 0, 0, 255, 0, 0] * 128)
    palette.save(tmp_path / "voc.png")
    np.testing.assert_array_equal(io.read_image(tmp_path / "voc.png").array, LABELS_2D)


@pytest.mark.parametrize("suffix", [".tif", ".ome.zarr"])
def test_overwrite_replaces_an_existing_output(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    io.write_labels(path, LABELS_2D)
    io.write_labels(path, LABELS_2D + 1)
    np.testing.assert_array_equal(io.read_image(path).array, LABELS_2D + 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
