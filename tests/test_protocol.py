"""One connection in memory: framing, cleaning, batching, flow control."""

from __future__ import annotations

from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.test.iosim import connectedServerAndClient

from twisted_chat.core.hub import Hub
from twisted_chat.core.limits import Limits
from twisted_chat.frontends.line.factory import LineFactory
from twisted_chat.frontends.line.probe import PROBE_SECONDS
from twisted_chat.frontends.line.protocol import read_size
from twisted_chat.testing import LineConnection, line_factory

Connection = LineConnection


def make_factory(clock: Clock | None = None, **limits: float) -> LineFactory:
    """A factory on a fake clock; flood control off unless a rate is given."""
    limits.setdefault("rate", 0)
    return line_factory(
        Hub("memory"),
        Limits(**limits),
        clock=clock or Clock(),  # type: ignore[arg-type]
    )


def test_lines_end_at_lf_or_crlf_and_blank_lines_vanish() -> None:
    factory = make_factory()
    sender, listener = Connection(factory), Connection(factory)
    listener.lines()
    sender.protocol.dataReceived(b"a\r\nb\n\r\n  \n\tc\r")
    assert listener.lines() == ["<guest1> a", "<guest1> b"]
    sender.protocol.dataReceived(b"\n")
    assert listener.lines() == ["<guest1>  c"]


def test_one_read_is_one_write_per_recipient() -> None:
    factory = make_factory()
    sender, listener = Connection(factory), Connection(factory)
    listener.lines()
    before = listener.transport.writes
    sender.protocol.dataReceived(b"".join(b"line %d\n" % n for n in range(100)))
    assert listener.transport.writes == before + 1
    assert len(listener.lines()) == 100


def test_a_command_between_lines_keeps_its_place() -> None:
    factory = make_factory()
    sender, listener = Connection(factory), Connection(factory)
    listener.lines()
    sender.protocol.dataReceived(b"before\n/nick alice\nafter\n")
    assert listener.lines() == [
        "<guest1> before",
        "*** guest1 is now known as alice",
        "<alice> after",
    ]


def test_overlong_line_is_refused_and_the_next_line_works() -> None:
    factory = make_factory(max_line_length=10)
    sender, listener = Connection(factory), Connection(factory)
    sender.lines()
    listener.lines()
    sender.protocol.dataReceived(b"0123456789ABC\nshort\n")
    assert sender.lines() == ["! Line too long (over 10 bytes); not sent."]
    assert listener.lines() == ["<guest1> short"]


def test_endless_line_holds_at_most_the_limit() -> None:
    factory = make_factory(max_line_length=100)
    sender, listener = Connection(factory), Connection(factory)
    sender.lines()
    listener.lines()
    for _ in range(50):
        sender.protocol.dataReceived(b"x" * 64)
        assert len(sender.protocol._partial) <= 100
    assert sender.lines() == ["! Line too long (over 100 bytes); not sent."]
    sender.protocol.dataReceived(b"tail of it\nfine\n")
    assert listener.lines() == ["<guest1> fine"]


def test_paused_output_is_queued_and_overflow_drops_the_client() -> None:
    factory = make_factory(max_queue=1000)
    sender, slow = Connection(factory), Connection(factory)
    slow.lines()
    producer = slow.transport.producer
    assert producer is not None and slow.transport.streaming
    producer.pauseProducing()
    sender.protocol.dataReceived(b"x" * 100 + b"\n")
    assert slow.transport.value() == b""
    producer.resumeProducing()
    assert slow.lines() == ["<guest1> " + "x" * 100]
    producer.pauseProducing()
    for _ in range(20):
        sender.protocol.dataReceived(b"y" * 100 + b"\n")
    assert slow.transport.disconnecting or slow.transport.disconnected


def test_queued_output_counts_for_the_room_and_resumes_as_one_write() -> None:
    factory = make_factory()
    sender, slow = Connection(factory), Connection(factory)
    slow.lines()
    producer = slow.transport.producer
    assert producer is not None
    producer.pauseProducing()
    for word in (b"one", b"two", b"three"):
        sender.protocol.dataReceived(word + b"\n")
    queued = len(b"<guest1> one\r\n<guest1> two\r\n<guest1> three\r\n")
    assert factory.services.throttle.queued_bytes == queued
    writes = slow.transport.writes
    producer.resumeProducing()
    assert slow.transport.writes == writes + 1
    assert slow.lines() == ["<guest1> one", "<guest1> two", "<guest1> three"]
    assert factory.services.throttle.queued_bytes == 0
    sender.protocol.dataReceived(b"four\n")
    assert slow.lines() == ["<guest1> four"]


def test_connection_over_iosim_pump() -> None:
    """A real protocol pair, bytes pumped through iosim's fake transports."""
    factory = make_factory()
    received: list[bytes] = []

    class Client(Protocol):
        def dataReceived(self, data: bytes) -> None:
            received.append(data)

    client, _server, pump = connectedServerAndClient(
        lambda: factory.buildProtocol(None), Client
    )
    pump.flush()
    assert received == []  # nothing before the connection has shown what it is
    factory.services.clock.advance(PROBE_SECONDS)  # type: ignore[attr-defined]
    pump.flush()
    assert b"Welcome to memory, guest1!" in b"".join(received)
    client.transport.write(b"/who\n")
    pump.flush()
    assert b"*** 1 here: guest1\r\n" in b"".join(received)
    client.transport.write(b"/quit\n")
    pump.flush()
    assert len(factory.services.hub) == 0
    assert not factory.services.admission.connections


def test_read_size_grows_with_the_room_within_bounds() -> None:
    """Small rooms read little at a time; big rooms more, up to 64 KiB."""
    assert read_size(1) == read_size(100) == 4096
    assert read_size(1000) == 16000
    assert read_size(4096) == read_size(100_000) == 65536
    assert [read_size(n) for n in range(1, 5000, 7)] == sorted(
        read_size(n) for n in range(1, 5000, 7)
    )
