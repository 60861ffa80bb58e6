"""A head runs on a cluster with the tiling it learned, or the run says it does not."""

from __future__ import annotations

import warnings

import pytest

from napari_segrefine import create_model
from napari_segrefine.distributed import predict_to_zarr
from napari_segrefine.train.head import HeadConfig, new_head

from .conftest import rgb_image

UNLEARNED = "give it values it did not learn"


@pytest.fixture(scope="module")
def plain():
    return create_model("basnet_lite", width=4)


@pytest.fixture(scope="module")
def head(plain):
    """An untrained head: what matters here is that it reads its network's outputs."""
    return new_head(plain, HeadConfig(deep="outputs"))


def _unlearned(caught: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [w for w in caught if UNLEARNED in str(w.message)]


def test_a_head_on_an_image_predict_runs_whole_warns_at_the_callers_line(client, head, tmp_path):
    """`predict` runs a 600 px image as one tile; the cluster cuts 512 px tiles by
    default. The tiling the warning names is the one predict uses: no warning."""
    image = rgb_image((600, 40))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict_to_zarr(image, tmp_path / "a.zarr", head, scheduler=client)
    [warning] = _unlearned(caught)
    assert "tiles of 608 x 64 overlapping by 0.25" in str(warning.message)
    assert "pass tile_size=608 and overlap=0.25" in str(warning.message)
    assert warning.filename == __file__

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict_to_zarr(image, tmp_path / "b.zarr", head, scheduler=client, tile_size=608)
    assert not _unlearned(caught)


@pytest.mark.parametrize(
    "shape",
    [(96, 160), (1100, 40)],  # a tile cut to the image: predict's one tile; over 1024: 512s
)
def test_a_head_on_the_tiles_predict_uses_by_default_does_not_warn(client, head, tmp_path, shape):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict_to_zarr(rgb_image(shape), tmp_path / "out.zarr", head, scheduler=client)
    assert not _unlearned(caught)


def test_a_network_alone_learned_nothing_per_tile_and_does_not_warn(client, plain, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict_to_zarr(rgb_image((600, 40)), tmp_path / "net.zarr", plain, scheduler=client)
    assert not _unlearned(caught)
