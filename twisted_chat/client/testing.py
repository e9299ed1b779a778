"""
Test code built on the terminal client without a network or a reactor: a
fake chat server to hand L{ChatSession} as its endpoint, and a screen that
keeps what it is shown.

    clock = Clock()
    server = FakeServer()
    session = ChatSession(clock, "chat-host", 5000, "alice", False,
                          endpoint=server.endpoint)
    session.screen = screen = RecordingScreen()
    defer.ensureDeferred(session.connect())   # connected at once
    server.say(text.WELCOME.format(server="Team Chat", name="guest1", count=1))
    assert server.sent() == ["/nick alice"]

Each connection is a L{FakeConnection} over a
L{twisted.internet.testing.StringTransport}: what the client writes is kept
for L{FakeConnection.sent}; what the server says arrives when the test says
it; nothing closes unless the test closes it, so a test sees the client
hang up (L{FakeConnection.hung_up}) before it sees what follows.
"""

from __future__ import annotations

from twisted.internet import defer, error
from twisted.internet.interfaces import (
    IProtocol,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_chat import text

__all__ = ["FakeConnection", "FakeServer", "RecordingScreen"]


class FakeConnection:
    """
    One connection a client made to a L{FakeServer}.

    Guarantees: L{say} delivers the lines in the server's line format (each
    ends with CRLF), all in one read; L{sent} is every complete line the
    client wrote, in order, without its line ending; after L{close}, the
    protocol has been told once that the connection is done, and nothing
    more can be said on it.
    """

    def __init__(self, protocol: IProtocol, transport: StringTransport) -> None:
        self.protocol = protocol
        self.transport = transport
        self.closed = False

    def sent(self) -> list[str]:
        """Every complete line the client sent, decoded from UTF-8."""
        *lines, _partial = self.transport.value().split(b"\n")
        return [line.removesuffix(b"\r").decode("utf-8") for line in lines]

    def say(self, *lines: str) -> None:
        """The server sends C{lines}, as it sends every line (CRLF)."""
        self.say_bytes(b"".join(text.encode_line(line) for line in lines))

    def say_bytes(self, data: bytes) -> None:
        """The server sends C{data} as it is: broken UTF-8, escapes, anything."""
        if self.closed:
            raise RuntimeError("the connection is closed: nothing more arrives")
        self.protocol.dataReceived(data)

    @property
    def hung_up(self) -> bool:
        """Whether the client closed (or is closing) this connection."""
        return bool(self.transport.disconnecting)

    def close(self) -> None:
        """The server closes the connection cleanly."""
        if self.closed:
            raise RuntimeError("the connection is closed already")
        self.closed = True
        self.transport.connected = False
        self.protocol.connectionLost(Failure(error.ConnectionDone()))


@implementer(IStreamClientEndpoint)
class FakeServer:
    """
    An endpoint whose connections are L{FakeConnection}s, made at once.

    Guarantees: each connection attempt either connects at once (appending
    to L{connections}), fails at once with L{error.ConnectionRefusedError}
    while L{refusing}, or, while L{hanging}, waits for ever: cancelling it
    (what L{ChatSession.quit} does) fails it and counts it in L{cancelled}.
    L{sent}, L{say} and L{close} act on the last connection made.
    """

    def __init__(self) -> None:
        self.connections: list[FakeConnection] = []
        self.refusing = False
        self.hanging = False
        self.cancelled = 0

    def endpoint(self) -> IStreamClientEndpoint:
        """This server, for C{ChatSession(..., endpoint=server.endpoint)}."""
        return self

    def connect(self, protocolFactory: IProtocolFactory) -> defer.Deferred[IProtocol]:
        if self.refusing:
            return defer.fail(error.ConnectionRefusedError())
        if self.hanging:
            return defer.Deferred(self._cancelled)
        transport = StringTransport()
        protocol = protocolFactory.buildProtocol(transport.getPeer())
        if protocol is None:
            return defer.fail(error.ConnectError("the factory built no protocol"))
        protocol.makeConnection(transport)
        self.connections.append(FakeConnection(protocol, transport))
        return defer.succeed(protocol)

    def _cancelled(self, attempt: defer.Deferred[IProtocol]) -> None:
        self.cancelled += 1

    @property
    def last(self) -> FakeConnection:
        """The connection made last."""
        if not self.connections:
            raise LookupError("no connection has been made to this server")
        return self.connections[-1]

    def sent(self) -> list[str]:
        """Every line the client sent on the last connection."""
        return self.last.sent()

    def say(self, *lines: str) -> None:
        """The server sends C{lines} on the last connection."""
        self.last.say(*lines)

    def close(self) -> None:
        """The server closes the last connection."""
        self.last.close()


class RecordingScreen:
    """
    A L{twisted_chat.client.session.Screen} that keeps everything, in order:
    the server's lines (L{shown}), the person's own (L{own}), the client's
    notices (L{notices}) and every name the prompt was given (L{names}).
    """

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.own: list[str] = []
        self.notices: list[str] = []
        self.names: list[str] = []

    def show(self, line: str) -> None:
        self.shown.append(line)

    def show_own(self, line: str) -> None:
        self.own.append(line)

    def notice(self, line: str) -> None:
        self.notices.append(line)

    def set_name(self, name: str) -> None:
        self.names.append(name)
