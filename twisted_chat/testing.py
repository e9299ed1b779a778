"""
In-memory stand-ins for testing code built on L{twisted_chat.room}.

L{FakeMember} joins a real L{Room} without any transport and records what
the room sends it, decoded into lines, so tests (ours, or those of anyone
embedding the room) can assert on the conversation in microseconds.
L{LineConnection} is a whole line connection (L{ChatProtocol}) on an
in-memory transport, as the reactor would wire it.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from twisted_chat.probe import PROBE_SECONDS
from twisted_chat.protocol import ChatProtocol
from twisted_chat.room import Room
from twisted_chat.server import ChatFactory


class CountingTransport(StringTransport):
    """A StringTransport that also counts its write calls."""

    writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        super().write(data)


class LineConnection:
    """
    A L{ChatProtocol} of C{factory} on a L{CountingTransport}, connected.

    When the factory runs on a L{Clock}, the connection has joined the room
    on return (the time a silent new connection waits has passed), unless
    C{join} is false.
    """

    def __init__(
        self, factory: ChatFactory, host: str = "10.0.0.9", join: bool = True
    ) -> None:
        self.transport = CountingTransport(peerAddress=IPv4Address("TCP", host, 4000))
        protocol = factory.buildProtocol(self.transport.getPeer())
        assert isinstance(protocol, ChatProtocol)
        self.protocol = protocol
        protocol.makeConnection(self.transport)
        clock = factory.clock
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
    """A room member that keeps every line sent to it."""

    def __init__(self) -> None:
        self.name = ""
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


def joined_members(room: Room, count: int) -> list[FakeMember]:
    """C{count} fake members joined to C{room}, their greetings cleared."""
    members = [FakeMember() for _ in range(count)]
    for member in members:
        room.join(member)
    for member in members:
        member.received.clear()
    return members
