"""Long work is a generator that yields progress events and returns its result."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TypeVar

Event = TypeVar("Event")
Result = TypeVar("Result")


def drain(
    events: Generator[Event, None, Result], on_event: Callable[[Event], None] | None = None
) -> Result:
    """Run a generator to its end, handing each event to ``on_event``; its return value."""
    while True:
        try:
            event = next(events)
        except StopIteration as finished:
            return finished.value
        if on_event is not None:
            on_event(event)
