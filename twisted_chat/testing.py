"""
In-memory harnesses for code built on the chat core, ours or anyone's.

L{FakeMember} joins a real L{Hub} without any transport and records what it
is sent, as lines of the line front end, so tests can assert on the
conversation in microseconds. L{TurnDriver} stands in for the reactor's
once-per-turn flush, so a test decides when a turn ends. L{LineConnection}
is a whole line connection (L{LineProtocol} and its session) on an
in-memory transport, as the reactor would wire it.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from twisted_chat.core.hub import Hub
from twisted_chat.core.limits import Limits
from twisted_chat.core.room import Renderer
from twisted_chat.frontends.line.factory import LineFactory
from twisted_chat.frontends.line.probe import PROBE_SECONDS
from twisted_chat.frontends.line.protocol import LineProtocol
from twisted_chat.frontends.line.render import LINE_RENDERER
from twisted_chat.session.services import Services

__all__ = [
    "CountingTransport",
    "FakeMember",
    "LineConnection",
    "TurnDriver",
    "joined_members",
    "line_factory",
]


class TurnDriver:
    """
    A hub's C{schedule} that runs nothing until told: L{end_turn} is the
    end of a reactor turn. Guarantees: each scheduled flush runs exactly
    once, in the order scheduled.
    """

    def __init__(self) -> None:
        self._waiting: list[Callable[[], None]] = []

    def __call__(self, flush: Callable[[], None]) -> None:
        self._waiting.append(flush)

    @property
    def pending(self) -> int:
        """How many flushes wait for the end of the turn."""
        return len(self._waiting)

    def end_turn(self) -> None:
        """Run every flush scheduled so far (and those they schedule)."""
        while self._waiting:
            waiting, self._waiting = self._waiting, []
            for flush in waiting:
                flush()


class CountingTransport(StringTransport):
    """A StringTransport that also counts its write calls."""

    writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        super().write(data)


def line_factory(
    hub: Hub | None = None, limits: Limits | None = None, clock: Clock | None = None
) -> LineFactory:
    """A L{LineFactory} over a hub (a new one by default) on a L{Clock}."""
    clock = clock if clock is not None else Clock()
    return LineFactory(Services(hub if hub is not None else Hub(), limits, clock))


class LineConnection:
    """
    A L{LineProtocol} of C{factory} on a L{CountingTransport}, connected.

    When the factory runs on a L{Clock}, the connection has joined the hub
    on return (the time a silent new connection waits has passed), unless
    C{join} is false.
    """

    def __init__(
        self, factory: LineFactory, host: str = "10.0.0.9", join: bool = True
    ) -> None:
        self.transport = CountingTransport(peerAddress=IPv4Address("TCP", host, 4000))
        protocol = factory.buildProtocol(self.transport.getPeer())
        assert isinstance(protocol, LineProtocol)
        self.protocol: LineProtocol = protocol
        protocol.makeConnection(self.transport)
        clock = factory.services.clock
        if join and isinstance(clock, Clock):
            clock.advance(PROBE_SECONDS)

    def lines(self) -> list[str]:
        """
        What the connection was sent since the last call, as lines (telnet
        negotiation, which is not UTF-8, shows as U+FFFD).
        """
        data: bytes = self.transport.value()
        self.transport.clear()
        return data.decode("utf-8", "replace").split("\r\n")[:-1]


class FakeMember:
    """A hub member that keeps every byte sent to it, in the line format."""

    def __init__(
        self, renderer: Renderer = LINE_RENDERER, address: str | None = None
    ) -> None:
        self.name = ""
        self.renderer = renderer
        self.account: str | None = None
        self.address = address
        self.received = bytearray()
        self.closed = False

    def send(self, data: bytes) -> None:
        self.received += data

    def close(self) -> None:
        self.closed = True

    @property
    def lines(self) -> list[str]:
        """Everything received, split into lines without their CRLF."""
        return self.received.decode("utf-8").split("\r\n")[:-1]

    def take_lines(self) -> list[str]:
        """L{lines}, then forget them, so the next call shows only what is new."""
        lines = self.lines
        self.received.clear()
        return lines


def joined_members(hub: Hub, count: int) -> list[FakeMember]:
    """C{count} fake members connected to C{hub}, their greetings cleared."""
    members = [FakeMember() for _ in range(count)]
    for member in members:
        hub.connect(member)
    hub.turn.flush()
    for member in members:
        member.received.clear()
    return members
