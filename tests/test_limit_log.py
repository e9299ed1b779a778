"""The log of limit hits stays small however hard it is pushed."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.logger import Logger, LogLevel

from twisted_chat.session.limitlog import (
    BURST,
    LINES_PER_SECOND,
    PER_CONNECTION_SECONDS,
    LimitLog,
)


def make_log() -> tuple[LimitLog, Clock, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    clock = Clock()
    return LimitLog(clock, Logger(observer=events.append)), clock, events  # type: ignore[arg-type]


def test_one_connection_logs_a_limit_once_per_interval_with_the_count_left_out() -> (
    None
):
    limit_log, clock, events = make_log()
    state: dict[str, list[float]] = {}
    for _ in range(100):
        limit_log.hit(state, "line_length", "{peer} too long", peer="p")
    assert len(events) == 1
    assert events[0]["suppressed"] == 0
    clock.advance(PER_CONNECTION_SECONDS)
    limit_log.hit(state, "line_length", "{peer} too long", peer="p")
    assert len(events) == 2
    assert (events[1]["suppressed"], events[1]["unlogged"]) == (99, 99)
    assert events[1]["log_level"] is LogLevel.info


def test_each_limit_has_its_own_interval() -> None:
    limit_log, _clock, events = make_log()
    state: dict[str, list[float]] = {}
    limit_log.hit(state, "rate", "rate")
    limit_log.hit(state, "line_length", "length", LogLevel.warn)
    assert [event["log_format"].split(" (")[0] for event in events] == [
        "rate",
        "length",
    ]
    assert events[1]["log_level"] is LogLevel.warn


def test_many_connections_together_log_at_most_the_global_rate() -> None:
    limit_log, clock, events = make_log()
    seconds = 10
    for _tick in range(seconds * 10):
        for _ in range(50):  # 50 fresh connections a tick, each hitting a limit
            limit_log.hit({}, "line_length", "too long")
        clock.advance(0.1)
    assert len(events) <= BURST + LINES_PER_SECOND * seconds
    total = len(events) + sum(event["unlogged"] for event in events)
    # Every hit is either logged or counted in a later line, but for the
    # ones after the last line logged.
    assert total <= seconds * 10 * 50
    assert total >= seconds * 10 * 50 - 50 * 10 / LINES_PER_SECOND
