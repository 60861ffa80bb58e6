"""Long work a session owns: one job at a time, stoppable at any moment.

`interruptible` drives a generator (or a callback-style function) in a helper thread
and hands its events over, checking the stop event several times a second, so Cancel
takes effect even while a library call is inside one long step (a one-tile image is
one forward pass): the unfinished step's result is dropped.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator
from typing import Any, TypeVar

from ..errors import Cancelled, SegRefineError

T = TypeVar("T")
POLL_S = 0.05

_FINISHED = object()


def interruptible(
    events: Generator[Any, None, T], stop: threading.Event | None
) -> Generator[Any, None, T]:
    """Yield ``events``' items and return its value; raise `Cancelled` once ``stop`` is set.

    The generator runs in a daemon thread; after a stop its remaining work is abandoned
    (it is closed at its next event) and its result is never used.
    """
    stop = stop or threading.Event()
    abandoned = threading.Event()  # the caller stopped listening (closed, or an error)
    channel: queue.Queue = queue.Queue(maxsize=64)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            while True:
                try:
                    event = next(events)
                except StopIteration as finished:
                    outcome["value"] = finished.value
                    break
                if stop.is_set() or abandoned.is_set():
                    events.close()
                    break
                _put(channel, event, abandoned)
        except BaseException as error:  # re-raised below, in the caller's thread
            outcome["error"] = error
        finally:
            _put(channel, _FINISHED, abandoned)

    threading.Thread(target=target, name="segrefine-job", daemon=True).start()
    try:
        while (event := _next_event(channel, stop)) is not _FINISHED:
            yield event
    finally:
        abandoned.set()
    if stop.is_set() or isinstance(outcome.get("error"), Cancelled):
        raise Cancelled("stopped")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _put(channel: queue.Queue, item: Any, abandoned: threading.Event) -> None:
    """Hand ``item`` over, unless the caller has stopped listening."""
    while not abandoned.is_set():
        try:
            channel.put(item, timeout=POLL_S)
            return
        except queue.Full:
            continue


def _next_event(channel: queue.Queue, stop: threading.Event) -> Any:
    """The next event of ``channel``, polling ``stop`` (`Cancelled` once it is set)."""
    while True:
        if stop.is_set():
            raise Cancelled("stopped")
        try:
            return channel.get(timeout=POLL_S)
        except queue.Empty:
            continue


class JobSlot:
    """The one job a session runs at a time, with the event that stops it."""

    def __init__(self) -> None:
        self.name: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        return self.name is not None

    def begin(self, name: str, stop: threading.Event | None = None) -> threading.Event:
        """Claim the slot for job ``name``; returns its stop event (``stop`` when given:
        a job over several sessions shares one).

        Raises:
            SegRefineError: another job of this session is running.
        """
        with self._lock:
            if self.name is not None:
                raise SegRefineError(
                    f"{self.name} is still running on this image; wait for it or cancel it"
                )
            self.name, self._stop = name, stop or threading.Event()
            return self._stop

    def end(self, stop: threading.Event) -> None:
        """Free the slot, if ``stop`` is still the current job's."""
        with self._lock:
            if stop is self._stop:
                self.name = None

    def cancel(self) -> None:
        """Ask the running job to stop (it ends at once, see `interruptible`)."""
        self._stop.set()
