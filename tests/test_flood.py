"""Flood control on a fake clock."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from twisted_chat.core.limits import FloodControl, Verdict


def verdicts(control: FloodControl, count: int) -> list[Verdict]:
    return [control.check() for _ in range(count)]


def test_burst_then_one_notice_per_second() -> None:
    clock = Clock()
    control = FloodControl(rate=5, burst=20, clock=clock)
    assert verdicts(control, 20) == [Verdict.ACCEPT] * 20
    assert verdicts(control, 3) == [
        Verdict.REFUSE_WITH_NOTICE,
        Verdict.REFUSE,
        Verdict.REFUSE,
    ]
    clock.advance(0.2)  # one token back
    assert control.check() is Verdict.ACCEPT
    assert control.check() is Verdict.REFUSE  # the notice was 0.2 s ago
    clock.advance(1.0)
    assert verdicts(control, 6) == [Verdict.ACCEPT] * 5 + [Verdict.REFUSE_WITH_NOTICE]


def test_rate_over_time_never_exceeds_burst_plus_rate() -> None:
    clock = Clock()
    control = FloodControl(rate=5, burst=20, clock=clock)
    accepted = 0
    for _ in range(1000):  # 100 lines a second for 10 s
        accepted += control.check() is Verdict.ACCEPT
        clock.advance(0.01)
    assert accepted <= 20 + 5 * 10 + 1
    assert accepted >= 5 * 10


def test_a_flood_without_pause_is_disconnected() -> None:
    clock = Clock()
    control = FloodControl(rate=1, burst=1, clock=clock, disconnect_after=30)
    seen = set()
    for _ in range(29 * 10):
        seen.add(control.check())
        clock.advance(0.1)
    assert Verdict.DISCONNECT not in seen
    for _ in range(20):
        clock.advance(0.1)
        if control.check() is Verdict.DISCONNECT:
            break
    else:
        raise AssertionError("never disconnected")


def test_a_pause_starts_a_new_flood() -> None:
    clock = Clock()
    control = FloodControl(rate=1, burst=1, clock=clock, disconnect_after=3)
    for _ in range(5):
        for _ in range(20):
            assert control.check() is not Verdict.DISCONNECT
            clock.advance(0.1)
        clock.advance(1.5)  # a pause: the flood is over


def test_rate_zero_accepts_everything() -> None:
    control = FloodControl(rate=0, burst=1, clock=Clock())
    assert set(verdicts(control, 10_000)) == {Verdict.ACCEPT}


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.tuples(st.floats(0, 3), st.integers(1, 12)), max_size=30),
    rate=st.sampled_from([0, 0.5, 5, 20]),
)
def test_accept_all_is_all_or_nothing_of_check(
    steps: list[tuple[float, int]], rate: float
) -> None:
    """accept_all(n) is True exactly when n checks would all accept."""
    clock = Clock()
    bulk = FloodControl(rate=rate, burst=8, clock=clock)
    single = FloodControl(rate=rate, burst=8, clock=clock)
    for pause, count in steps:
        clock.advance(pause)
        trial = copy.deepcopy(single)
        would_accept = all(v is Verdict.ACCEPT for v in verdicts(trial, count))
        assert bulk.accept_all(count) is would_accept
        if would_accept:
            verdicts(single, count)
