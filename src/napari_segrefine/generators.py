"""Long work is a generator that yields progress events and returns its result.

The convention, for predict, refine and fine-tune alike: ``iter_x(...)`` yields
`Progress` events (or a subclass of it) and returns its result, so
``result = yield from iter_x(...)`` composes and a widget can run it in napari's
``thread_worker``; ``x(...)`` drains it (`drain`, `drain_to_callback`). The one stop
mechanism is a `threading.Event` passed as ``stop=`` and checked between steps.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TypeVar

Event = TypeVar("Event")
Other = TypeVar("Other")
Result = TypeVar("Result")
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Progress:
    """One step of long work: ``done`` of ``total`` steps, and what was done in words.

    ``total`` is 0 while the amount of work is not known yet.
    """

    done: int
    total: int
    message: str = ""


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


def map_events(
    events: Generator[Event, None, Result], convert: Callable[[Event], Other]
) -> Generator[Other, None, Result]:
    """Yield ``convert(event)`` for each event of ``events``; return their result."""
    while True:
        try:
            event = next(events)
        except StopIteration as finished:
            return finished.value
        yield convert(event)


def drain_to_callback(
    events: Generator[Progress, None, Result], progress: ProgressCallback | None
) -> Result:
    """`drain`, calling ``progress(done, total)`` with each event (the callback style)."""
    if progress is None:
        return drain(events)
    return drain(events, lambda event: progress(event.done, event.total))
