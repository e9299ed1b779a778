"""
A line connection's first bytes, telnet clients and junk, in memory: who
joins, what strangers are told, and what never reaches the room.
"""

from __future__ import annotations

from twisted.internet.task import Clock

from twisted_chat import text
from twisted_chat.core.hub import Hub
from twisted_chat.core.limits import Limits
from twisted_chat.frontends.line.factory import LineFactory
from twisted_chat.frontends.line.probe import HTTP_ANSWER, PROBE_SECONDS, TLS_ALERT
from twisted_chat.testing import LineConnection, line_factory

IAC, DO, WILL, IP, TM, BINARY = 255, 253, 251, 244, 6, 0


def make_factory(**limits: float) -> tuple[LineFactory, Clock]:
    limits.setdefault("rate", 0)
    clock = Clock()
    return line_factory(Hub("memory"), Limits(**limits), clock=clock), clock  # type: ignore[arg-type]


def test_a_silent_connection_joins_after_the_probe_time() -> None:
    factory, clock = make_factory()
    connection = LineConnection(factory, join=False)
    clock.advance(PROBE_SECONDS * 0.99)
    assert connection.lines() == []
    assert len(factory.services.hub) == 0
    clock.advance(PROBE_SECONDS * 0.02)
    assert connection.lines()[0].endswith("Type /help for commands.")
    assert len(factory.services.hub) == 1


def test_a_connection_that_speaks_joins_at_once_and_its_line_is_relayed() -> None:
    factory, _clock = make_factory()
    listener = LineConnection(factory)
    listener.lines()
    sender = LineConnection(factory, join=False)
    sender.protocol.dataReceived(b"hello\n")
    assert listener.lines() == [text.JOINED.format(name="guest2"), "<guest2> hello"]


def test_an_http_request_is_answered_and_nothing_reaches_the_room() -> None:
    factory, clock = make_factory()
    listener = LineConnection(factory)
    listener.lines()
    browser = LineConnection(factory, join=False)
    browser.protocol.dataReceived(b"GET / HT")
    browser.protocol.dataReceived(b"TP/1.1\r\nHost: chat\r\n\r\n")
    assert browser.transport.value() == HTTP_ANSWER
    assert browser.transport.disconnecting
    clock.advance(1)
    assert listener.lines() == []
    assert len(factory.services.hub) == 1
    assert factory.services.disconnects == {}  # counted once the connection is lost
    browser.protocol.connectionLost()
    assert factory.services.disconnects["not_chat"] == 1
    assert len(factory.services.admission.connections) == 1


def test_a_tls_handshake_gets_a_tls_alert() -> None:
    factory, clock = make_factory()
    listener = LineConnection(factory)
    listener.lines()
    tls = LineConnection(factory, join=False)
    tls.protocol.dataReceived(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n")
    assert tls.transport.value() == TLS_ALERT
    assert tls.transport.disconnecting
    clock.advance(1)
    assert listener.lines() == []


def test_a_slow_http_client_is_given_more_time_before_being_taken_for_chat() -> None:
    factory, clock = make_factory()
    browser = LineConnection(factory, join=False)
    browser.protocol.dataReceived(b"GET /")
    clock.advance(PROBE_SECONDS * 5)
    assert browser.transport.value() == b""
    browser.protocol.dataReceived(b" HTTP/1.1\r\n")
    assert browser.transport.value() == HTTP_ANSWER


def test_lines_that_are_not_utf8_are_refused_not_relayed() -> None:
    factory, _clock = make_factory()
    listener, sender = LineConnection(factory), LineConnection(factory)
    listener.lines()
    sender.lines()
    sender.protocol.dataReceived(b"caf\xe9\nok\n\x00\x01\x9c\xfe junk\n")
    assert listener.lines() == ["<guest2> ok"]
    refusal = (
        "! Not sent: that line is not UTF-8 text (is your terminal set to UTF-8?)."
    )
    assert sender.lines() == [refusal, refusal]
    assert factory.services.limit_hits["not_utf8"] == 2


def test_an_nc_client_never_receives_a_telnet_command() -> None:
    factory, _clock = make_factory()
    nc = LineConnection(factory)
    nc.protocol.dataReceived("plain text, ünïcode 中文\n/who\n".encode())
    assert b"\xff" not in nc.transport.value()


def test_a_telnet_client_is_asked_for_binary_and_answered() -> None:
    factory, _clock = make_factory()
    listener, telnet = LineConnection(factory), LineConnection(factory)
    listener.lines()
    telnet.lines()
    # What stock telnet sends for "ă" typed in its default mode, then Enter.
    telnet.protocol.dataReceived(bytes([0xC4, IAC, IP, IAC, DO, TM]))
    telnet.protocol.dataReceived(b"\r\n")
    assert telnet.transport.value() == bytes([IAC, DO, BINARY, IAC, WILL, TM])
    assert listener.lines() == ["<guest2> ă"]


def test_ctrl_c_discards_the_half_typed_line() -> None:
    factory, _clock = make_factory()
    listener, telnet = LineConnection(factory), LineConnection(factory)
    listener.lines()
    telnet.protocol.dataReceived(b"\xff\xfd\x03\xff\xfd\x01")  # character mode
    for key in b"oops":
        telnet.protocol.dataReceived(bytes([key]))
    telnet.protocol.dataReceived(bytes([IAC, IP, IAC, DO, TM]))
    telnet.protocol.dataReceived(b"fine\r\0")
    assert listener.lines() == ["<guest2> fine"]


def test_a_line_of_the_limit_fits_wherever_its_crlf_is_split() -> None:
    factory, _clock = make_factory(max_line_length=10)
    listener, sender = LineConnection(factory), LineConnection(factory)
    listener.lines()
    sender.lines()
    sender.protocol.dataReceived(b"0123456789\r")
    sender.protocol.dataReceived(b"\n")
    sender.protocol.dataReceived(b"abcdefghij")
    sender.protocol.dataReceived(b"\r\n")
    sender.protocol.dataReceived(b"0123456789\r\n")
    fits = ["<guest2> 0123456789", "<guest2> abcdefghij", "<guest2> 0123456789"]
    assert listener.lines() == fits
    assert sender.lines() == []
    sender.protocol.dataReceived(b"0123456789x\r")
    sender.protocol.dataReceived(b"\n")
    assert sender.lines() == ["! Line too long (over 10 bytes); not sent."]


def test_in_character_mode_room_lines_go_above_the_half_typed_line() -> None:
    factory, _clock = make_factory()
    speaker, telnet = LineConnection(factory), LineConnection(factory)
    telnet.protocol.dataReceived(b"\xff\xfd\x01")  # DO ECHO: we echo now
    telnet.transport.clear()
    telnet.protocol.dataReceived(b"hal")
    speaker.protocol.dataReceived(b"hi\n")
    factory.services.hub.turn.flush()
    assert telnet.transport.value() == b"hal\r\x1b[K<guest1> hi\r\nhal"
    telnet.protocol.dataReceived(b"f\r\0")
    assert telnet.transport.value().endswith(b"half\r\n")


def test_a_connection_that_leaves_before_the_probe_time_never_joins() -> None:
    factory, clock = make_factory()
    silent = LineConnection(factory, join=False)
    silent.protocol.connectionLost()
    clock.advance(PROBE_SECONDS)
    assert len(factory.services.hub) == 0
    assert not factory.services.admission.connections
    assert silent.transport.value() == b""
