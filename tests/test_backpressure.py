"""Room-wide back-pressure in memory, on a fake clock."""

from __future__ import annotations

from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from zope.interface import implementer

from twisted_chat.session.throttle import STUCK_SECONDS, ReadThrottle


@implementer(IPushProducer)
class Reader:
    """Records whether its reading is paused."""

    paused = False

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        pass


def make(count: int) -> tuple[ReadThrottle, Clock, list[Reader]]:
    """A throttle over C{count} readers: pauses above 1000 bytes, resumes at 250."""
    clock = Clock()
    throttle = ReadThrottle(clock, high_water=1000, low_water=250)
    readers = [Reader() for _ in range(count)]
    for index, reader in enumerate(readers):
        throttle.add(index, reader)
    return throttle, clock, readers


def test_queued_bytes_over_the_high_water_pause_everyone_until_low_water() -> None:
    throttle, _, readers = make(8)
    throttle.queued(0, 600)
    throttle.queued(1, 400)
    assert not throttle.paused  # 1000 is not over the mark
    throttle.queued(1, 401)
    assert throttle.paused and all(r.paused for r in readers)
    throttle.queued(0, 0)
    assert throttle.paused  # 401 left: still above the low-water mark
    throttle.queued(1, 250)
    assert not throttle.paused and not any(r.paused for r in readers)
    assert throttle.queued_bytes == 250


def test_newcomers_start_paused_while_the_room_is() -> None:
    throttle, _, _ = make(4)
    throttle.queued(0, 5000)
    late = Reader()
    throttle.add("late", late)
    assert late.paused


def test_stuck_clients_stop_holding_the_room() -> None:
    throttle, clock, readers = make(4)
    throttle.queued(0, 5000)  # never drains
    assert throttle.paused
    clock.advance(STUCK_SECONDS)
    assert not throttle.paused
    assert not any(r.paused for r in readers)
    throttle.queued(0, 9000)  # still stuck: it grows without counting
    assert not throttle.paused and throttle.queued_bytes == 0
    throttle.queued(1, 5000)  # someone else is slow: the room waits for them
    assert throttle.paused
    throttle.queued(1, 0)
    assert not throttle.paused


def test_a_client_backed_up_for_long_is_stuck_as_soon_as_it_matters() -> None:
    throttle, clock, _ = make(4)
    throttle.queued(0, 900)  # under the mark, and never drains
    clock.advance(STUCK_SECONDS * 2)
    throttle.queued(0, 2000)
    assert not throttle.paused


def test_a_stuck_client_that_drains_counts_again() -> None:
    throttle, clock, _ = make(4)
    throttle.queued(0, 5000)
    clock.advance(STUCK_SECONDS)
    assert not throttle.paused
    throttle.queued(0, 0)
    throttle.queued(0, 5000)
    assert throttle.paused


def test_removing_a_backed_up_client_resumes() -> None:
    throttle, _, readers = make(2)
    throttle.queued(1, 5000)
    assert throttle.paused
    throttle.remove(1)
    assert not throttle.paused and not readers[0].paused
    assert throttle.queued_bytes == 0


def test_a_slow_reader_that_keeps_draining_holds_the_room_and_is_never_stuck() -> None:
    throttle, clock, readers = make(4)
    throttle.queued(0, 5000)
    for _ in range(10):  # ten seconds, never empty, but draining
        clock.advance(STUCK_SECONDS * 0.6)
        throttle.queued(0, 4000, moved=True)
        clock.advance(STUCK_SECONDS * 0.4)
        throttle.queued(0, 5000)
        assert throttle.paused and readers[1].paused
    clock.advance(STUCK_SECONDS)  # then it stops draining
    assert not throttle.paused
    throttle.queued(0, 6000, moved=True)  # and drains again: it counts again
    assert throttle.paused and throttle.queued_bytes == 6000


def test_a_key_that_never_sticks_holds_the_room_however_long_it_waits() -> None:
    """The link to Redis: what waits for it is the daemon's own memory."""
    throttle, clock, readers = make(4)
    throttle.never_stuck.add("link")
    throttle.queued("link", 5000)
    clock.advance(10 * STUCK_SECONDS)
    assert throttle.paused and all(r.paused for r in readers)
    throttle.queued(0, 5000)  # a client that never reads still sticks
    clock.advance(STUCK_SECONDS)
    assert throttle.paused and throttle.queued_bytes == 5000
    throttle.queued("link", 0, moved=True)
    assert not throttle.paused
