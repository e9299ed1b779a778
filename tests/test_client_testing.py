"""
The client's public test harness (L{twisted_chat.client.testing}) keeps the
promises its docstrings make, so tests built on it can trust it.
"""

from __future__ import annotations

import pytest
from twisted.internet import defer, error, task
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure
from zope.interface.verify import verifyObject

from twisted_chat import text
from twisted_chat.client.session import ChatSession, ServerConnection
from twisted_chat.client.testing import FakeServer, RecordingScreen

WELCOME = text.WELCOME.format(server="Team Chat", name="guest1", count=1)


class Reads(Protocol):
    """A protocol that keeps each read and each end it is told of."""

    def __init__(self) -> None:
        self.reads: list[bytes] = []
        self.ends: list[Failure] = []

    def dataReceived(self, data: bytes) -> None:
        self.reads.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.ends.append(reason)


def connect(server: FakeServer) -> tuple[Reads, defer.Deferred[object]]:
    protocol = Reads()
    attempt: defer.Deferred[object] = server.endpoint().connect(
        Factory.forProtocol(lambda: protocol)
    )
    return protocol, attempt


def test_the_fake_server_is_an_endpoint() -> None:
    assert verifyObject(IStreamClientEndpoint, FakeServer().endpoint())


def test_a_connection_is_made_at_once_and_kept() -> None:
    server = FakeServer()
    protocol, attempt = connect(server)
    assert attempt.called and attempt.result is protocol
    assert [c.protocol for c in server.connections] == [protocol]
    assert server.last.transport is protocol.transport


def test_lines_said_arrive_in_the_servers_format_in_one_read() -> None:
    server = FakeServer()
    protocol, _ = connect(server)
    server.say("<bob> hi", "*** x has joined")
    server.last.say_bytes(b"\x1b[31mraw")
    assert protocol.reads == [b"<bob> hi\r\n*** x has joined\r\n", b"\x1b[31mraw"]


def test_sent_is_every_complete_line_without_its_ending() -> None:
    server = FakeServer()
    protocol, _ = connect(server)
    assert server.sent() == []
    assert protocol.transport is not None
    protocol.transport.write("one\ntwo\r\ncafé\nhalf".encode())
    assert server.sent() == ["one", "two", "café"]


def test_closing_tells_the_protocol_once_and_ends_the_connection() -> None:
    server = FakeServer()
    protocol, _ = connect(server)
    server.close()
    assert [end.type for end in protocol.ends] == [error.ConnectionDone]
    assert server.last.closed
    with pytest.raises(RuntimeError, match="closed already"):
        server.close()
    with pytest.raises(RuntimeError, match="nothing more arrives"):
        server.say("late")
    assert len(protocol.ends) == 1 and protocol.reads == []


def test_hung_up_says_whether_the_client_closed() -> None:
    server = FakeServer()
    protocol, _ = connect(server)
    assert not server.last.hung_up
    assert protocol.transport is not None
    protocol.transport.loseConnection()
    assert server.last.hung_up
    assert protocol.ends == []  # the test closes it, when it chooses


def test_a_refusing_server_fails_each_attempt_at_once() -> None:
    server = FakeServer()
    server.refusing = True
    _, attempt = connect(server)
    failures: list[Failure] = []
    attempt.addErrback(failures.append)
    assert [f.type for f in failures] == [error.ConnectionRefusedError]
    assert server.connections == []


def test_a_hanging_attempt_waits_until_cancelled_and_is_counted() -> None:
    server = FakeServer()
    server.hanging = True
    _, attempt = connect(server)
    assert not attempt.called
    attempt.cancel()
    failures: list[Failure] = []
    attempt.addErrback(failures.append)
    assert [f.type for f in failures] == [defer.CancelledError]
    assert (server.cancelled, server.connections) == (1, [])


def test_a_factory_that_builds_nothing_fails_the_attempt() -> None:
    class Refusing(Factory):
        def buildProtocol(self, addr: object) -> None:
            return None

    failures: list[Failure] = []
    FakeServer().connect(Refusing()).addErrback(failures.append)
    assert [f.type for f in failures] == [error.ConnectError]


def test_last_before_any_connection_says_so() -> None:
    with pytest.raises(LookupError, match="no connection"):
        FakeServer().sent()


def test_the_documented_example_runs_a_session() -> None:
    """The module docstring's example, as written there."""
    clock = task.Clock()
    server = FakeServer()
    session = ChatSession(
        clock, "chat-host", 5000, "alice", False, endpoint=server.endpoint
    )
    session.screen = screen = RecordingScreen()
    assert defer.ensureDeferred(session.connect()).called
    server.say(WELCOME)
    assert server.sent() == ["/nick alice"]
    assert isinstance(server.last.protocol, ServerConnection)
    server.say(text.YOUR_NAME.format(name="alice"))
    session.typed("hello")
    session.typed("/me waves")
    assert screen.shown == [
        WELCOME,
        text.YOUR_NAME.format(name="alice"),
        text.ACTION.format(name="alice", text="waves"),
    ]
    assert (screen.own, screen.names, screen.notices) == (
        ["hello"],
        ["guest1", "alice"],
        [],
    )
    conversation = defer.ensureDeferred(session.converse())
    server.close()
    assert conversation.called and conversation.result is True
