"""Shared fixtures: small inputs, deterministic seeds."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny tensors run faster on one thread, and parallel test workers don't fight."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def zarr_bomb(tmp_path):
    """A zarr array whose 300-byte header claims 100000 x 100000 pixels (no chunk written)."""
    import zarr

    path = tmp_path / "bomb.zarr"
    zarr.create_array(store=str(path), shape=(100000, 100000), chunks=(1000, 1000), dtype="u1",
                      zarr_format=2)  # fmt: skip
    return path
