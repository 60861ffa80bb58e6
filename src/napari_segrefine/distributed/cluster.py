"""Which Dask cluster a run uses: a `LocalCluster` here, or any scheduler address."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from distributed import Client, LocalCluster

from ..errors import SegRefineError

CONNECT_TIMEOUT = "10s"


def local_torch_threads(workers: int) -> int:
    """CPU threads per local worker, so the workers together use each core once."""
    return max(1, (os.cpu_count() or 1) // workers)


def check_scheduler(scheduler: str | Client, workers: int | None) -> None:
    """The mistakes `connect` would refuse that show without connecting (before any output).

    Raises:
        SegRefineError: an address without a protocol, or ``workers`` given for one or
            less than 1.
    """
    if isinstance(scheduler, Client):
        return
    if scheduler == "local":
        if workers is not None and workers < 1:
            raise SegRefineError(f"workers must be at least 1, got {workers}")
        return
    if "://" not in scheduler:
        raise SegRefineError(
            f"scheduler {scheduler!r} is neither 'local' nor an address such as tcp://host:8786"
        )
    if workers is not None:
        raise SegRefineError(
            f"workers apply to the 'local' scheduler; the cluster at {scheduler} has the "
            "workers it was started with"
        )


@contextmanager
def connect(scheduler: str | Client = "local", workers: int | None = None) -> Iterator[Client]:
    """A client for ``scheduler``, closed (with any cluster it started) on exit.

    Args:
        scheduler: ``local`` (a `LocalCluster` of worker processes on this machine),
            a scheduler address such as ``tcp://10.0.0.5:8786`` (started with
            ``dask scheduler``, dask-jobqueue, dask-kubernetes ...), or a `Client`
            the caller owns (left open).
        workers: local workers (default 1); for an address it must be None.

    Raises:
        SegRefineError: an address that cannot be reached, or ``workers`` given for one.
    """
    check_scheduler(scheduler, workers)
    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler == "local":
        count = workers or 1
        cluster = LocalCluster(
            n_workers=count,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: never a clash with another cluster
        )
        with cluster, Client(cluster) as client:
            yield client
        return
    with _remote(scheduler) as client:
        yield client


@contextmanager
def _remote(address: str) -> Iterator[Client]:
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SegRefineError(
            f"cannot reach the Dask scheduler at {address} ({reason}); start one with "
            "`dask scheduler` and `dask worker ADDRESS`, or use the scheduler 'local'"
        ) from None
    with client:
        yield client
