"""Jobs of a session: one at a time, and Cancel ends even a single long step."""

from __future__ import annotations

import threading

import pytest

from napari_segrefine.correction import JobSlot, interruptible
from napari_segrefine.errors import Cancelled, SegRefineError
from napari_segrefine.generators import drain


def test_interruptible_passes_events_and_the_result():
    def work():
        yield 1
        yield 2
        return "done"

    seen = []
    assert drain(interruptible(work(), None), seen.append) == "done"
    assert seen == [1, 2]


def test_cancel_ends_a_job_stuck_in_one_long_step():
    stop = threading.Event()
    release = threading.Event()
    ran_in = []

    def one_tile():
        ran_in.append(threading.current_thread())
        yield "starting"
        release.wait(10)  # a forward pass that does not look at `stop`
        return "late result"

    events = interruptible(one_tile(), stop)
    assert next(events) == "starting"
    stop.set()
    with pytest.raises(Cancelled):
        next(events)
    release.set()
    assert ran_in[0] is not threading.current_thread()


def test_errors_of_the_work_reach_the_caller():
    def broken():
        raise ValueError("bad input")
        yield

    with pytest.raises(ValueError, match="bad input"):
        drain(interruptible(broken(), threading.Event()))


def test_a_slot_runs_one_job_and_cancel_sets_its_stop():
    slot = JobSlot()
    stop = slot.begin("Segment")
    with pytest.raises(SegRefineError, match="Segment is still running"):
        slot.begin("Refine")
    slot.cancel()
    assert stop.is_set()
    slot.end(stop)
    assert not slot.busy
    assert not slot.begin("Refine").is_set()


def test_work_stops_when_nobody_listens_any_more():
    produced = []

    def endless():
        while True:
            produced.append(1)
            yield len(produced)

    before = {t.ident for t in threading.enumerate()}
    events = interruptible(endless(), threading.Event())
    next(events)
    (helper,) = [t for t in threading.enumerate() if t.ident not in before]
    events.close()

    helper.join(timeout=5)
    assert not helper.is_alive()
