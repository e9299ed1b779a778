"""A script can know exactly how many of its lines the rate refused."""

from __future__ import annotations

from twisted.internet.task import Clock

from twisted_chat import text
from twisted_chat.core.hub import Hub
from twisted_chat.core.limits import Limits
from twisted_chat.testing import LineConnection, line_factory


def test_refused_lines_are_counted_and_reported_before_a_command_reply() -> None:
    clock = Clock()
    factory = line_factory(Hub("memory"), Limits(rate=5, burst=20), clock=clock)  # type: ignore[arg-type]
    listener, sender = LineConnection(factory), LineConnection(factory)
    listener.lines()
    sender.lines()
    sender.protocol.dataReceived(b"".join(b"line %d\n" % n for n in range(30)))
    assert len(listener.lines()) == 20
    assert sender.lines() == [text.SLOW_DOWN.format(rate="5", burst=20, count=1)]
    clock.advance(0.2)  # one line's worth of rate
    sender.protocol.dataReceived(b"/limits\n")
    assert sender.lines() == [
        text.SLOW_DOWN.format(rate="5", burst=20, count=9),
        text.LIMITS.format(rate="5", burst=20, length=2048),
    ]
    clock.advance(10)
    sender.protocol.dataReceived(b"/limits\n")
    assert sender.lines() == [text.LIMITS.format(rate="5", burst=20, length=2048)]
