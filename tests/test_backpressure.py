"""Room-wide back-pressure in memory, on a fake clock."""

from __future__ import annotations

from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from zope.interface import implementer

from twisted_chat.backpressure import STUCK_SECONDS, ReadThrottle


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
    clock = Clock()
    throttle = ReadThrottle(clock)
    readers = [Reader() for _ in range(count)]
    for index, reader in enumerate(readers):
        throttle.add(index, reader)
    return throttle, clock, readers


def test_a_quarter_congested_pauses_everyone_and_draining_resumes() -> None:
    throttle, _, readers = make(8)
    throttle.congested(0)
    assert not throttle.paused
    throttle.congested(1)
    assert throttle.paused and all(r.paused for r in readers)
    throttle.relieved(0)
    assert not throttle.paused and not any(r.paused for r in readers)


def test_newcomers_start_paused_while_the_room_is() -> None:
    throttle, _, _ = make(4)
    throttle.congested(0)
    late = Reader()
    throttle.add("late", late)
    assert late.paused


def test_stuck_clients_stop_holding_the_room() -> None:
    throttle, clock, readers = make(4)
    throttle.congested(0)  # never drains
    assert throttle.paused
    clock.advance(STUCK_SECONDS)
    assert not throttle.paused
    assert not any(r.paused for r in readers)
    throttle.congested(1)  # someone else is slow: the room waits for them
    assert throttle.paused
    throttle.relieved(1)
    assert not throttle.paused


def test_a_single_client_that_never_reads_never_stalls_a_big_room() -> None:
    throttle, _, _ = make(11)
    throttle.congested(0)
    assert not throttle.paused


def test_removing_a_congested_client_resumes() -> None:
    throttle, _, readers = make(2)
    throttle.congested(1)
    assert throttle.paused
    throttle.remove(1)
    assert not throttle.paused and not readers[0].paused
