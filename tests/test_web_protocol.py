"""
The WebSocket front end in memory: the real site and Twisted's WebSocket
code on a StringTransport, a session per socket, held to the same limits
as a telnet line.
"""

from __future__ import annotations

import json

from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from wsproto.events import CloseConnection

from tests.web_support import MemoryWebSocket, web_site
from twisted_chat.core.hub import Hub
from twisted_chat.core.limits import Limits
from twisted_chat.frontends.web.protocol import (
    PINGS_UNANSWERED,
    BoundedMessage,
    WebChatProtocol,
)
from twisted_chat.frontends.web.resource import ChatSite
from twisted_chat.testing import FakeMember


def joined(site: ChatSite, **options: object) -> MemoryWebSocket:
    socket = MemoryWebSocket(site, **options)  # type: ignore[arg-type]
    assert socket.status == 101
    socket.events()
    return socket


def test_a_browser_joins_the_hub_and_talks_with_a_telnet_member() -> None:
    hub = Hub()
    telnet = FakeMember()
    hub.connect(telnet)
    telnet.take_lines()
    socket = MemoryWebSocket(web_site(hub))
    greeting = socket.events()
    assert [e["type"] for e in greeting] == ["welcome", "now_in"]
    assert greeting[0]["name"] == "guest2"
    assert telnet.take_lines() == ["*** guest2 has joined"]
    socket.send("/nick web")
    socket.send("hello from the page")
    assert telnet.take_lines() == [
        "*** guest2 is now known as web",
        "<web> hello from the page",
    ]
    hub.say(telnet, ["hello back"])
    assert socket.events()[-1] == {
        "type": "said",
        "name": "guest1",
        "texts": ["hello back"],
    }


def test_each_send_is_one_text_message_of_json_lines() -> None:
    hub = Hub()
    socket = MemoryWebSocket(web_site(hub))
    # The greeting arrived as messages, each of whole lines of JSON.
    assert socket.messages
    for message in socket.messages:
        assert message.endswith("\n")
        for line in message[:-1].split("\n"):
            json.loads(line)


def test_a_message_over_the_line_limit_is_refused_like_a_long_line() -> None:
    hub = Hub()
    telnet = FakeMember()
    hub.connect(telnet)
    socket = joined(web_site(hub, Limits(max_line_length=100)))
    telnet.take_lines()
    socket.send("x" * 100)
    socket.send("y" * 101)
    # Bytes count, not characters: 34 three-byte characters are 102 bytes.
    socket.send("\u20ac" * 34)
    socket.send("after")
    assert telnet.take_lines() == ["<guest2> " + "x" * 100, "<guest2> after"]
    refused = [e for e in socket.events() if e["type"] == "line_too_long"]
    assert (
        refused
        == [
            {
                "type": "line_too_long",
                "length": 100,
                "text": "Line too long (over 100 bytes); not sent.",
                "error": True,
            }
        ]
        * 2
    )


def test_a_fragmented_message_is_never_held_past_the_limit() -> None:
    """Parts of one message beyond the limit are dropped as they arrive."""
    socket = joined(web_site(Hub(), Limits(max_line_length=100)))
    protocol = next(iter(socket.channel.site.chat.protocols))  # type: ignore[attr-defined]
    for _ in range(1000):
        socket.send("z" * 1000, finished=False)
        held = protocol._socket._textBuffer  # the wire protocol's buffer
        assert isinstance(held, BoundedMessage)
        assert len(held.data) <= 100
    socket.send("", finished=True)
    assert [e["type"] for e in socket.events()] == ["line_too_long"]


def test_twisted_message_buffers_are_replaced_by_bounded_ones() -> None:
    """If Twisted renames them, this fails, not the memory bound silently."""
    socket = joined(web_site(Hub()))
    (protocol,) = socket.channel.site.chat.protocols  # type: ignore[attr-defined]
    assert isinstance(protocol, WebChatProtocol)
    assert isinstance(protocol._socket._textBuffer, BoundedMessage)  # type: ignore[union-attr]
    assert isinstance(protocol._socket._bytesBuffer, BoundedMessage)  # type: ignore[union-attr]


def test_lines_in_one_message_and_binary_messages_are_telnet_lines() -> None:
    hub = Hub()
    telnet = FakeMember()
    hub.connect(telnet)
    socket = joined(web_site(hub))
    telnet.take_lines()
    socket.send("one\r\ntwo\nthree")
    socket.send("caf\u00e9".encode())
    socket.send(b"\xff\xfe not utf-8")
    assert telnet.take_lines() == [
        "<guest2> one",
        "<guest2> two",
        "<guest2> three",
        "<guest2> caf\u00e9",
    ]
    assert socket.events()[-1]["text"].startswith("Not sent: that line is not UTF-8")


def test_commands_and_refusals_are_the_telnet_ones() -> None:
    socket = joined(web_site(Hub()))
    socket.send("/frob")
    socket.send("/join")
    socket.send("//slash")
    found = socket.events()
    assert found[0] == {
        "type": "unknown_command",
        "word": "frob",
        "text": "Unknown command /frob; type /help",
        "error": True,
    }
    assert found[1] == {
        "type": "refused",
        "text": "Usage: /join ROOM",
        "error": True,
    }


def test_the_rate_limit_applies() -> None:
    hub = Hub()
    telnet = FakeMember()
    hub.connect(telnet)
    socket = joined(web_site(hub, Limits(rate=1, burst=3)))
    telnet.take_lines()
    for n in range(5):
        socket.send(f"line {n}")
    assert [line for line in telnet.take_lines() if line.startswith("<")] == [
        "<guest2> line 0",
        "<guest2> line 1",
        "<guest2> line 2",
    ]
    assert any(e["type"] == "slow_down" for e in socket.events())


def test_a_foreign_origin_is_refused_before_any_session() -> None:
    hub = Hub()
    site = web_site(hub)
    socket = MemoryWebSocket(site, origin="http://evil.example")
    assert socket.status == 403
    assert b"not one from 'http://evil.example'" in socket.body
    assert len(hub) == 0
    assert site.chat.services.limit_hits["origin"] == 1


def test_an_allowed_origin_and_no_origin_are_let_in() -> None:
    site = web_site(Hub(), allowed=("https://chat.example.org",))
    assert MemoryWebSocket(site, origin="https://chat.example.org").status == 101
    assert MemoryWebSocket(site, origin=None).status == 101


def test_the_idle_timeout_applies_and_pongs_do_not_count() -> None:
    clock = Clock()
    socket = joined(web_site(Hub(), Limits(idle_timeout=10, keepalive=3), clock))
    for _ in range(3):
        clock.advance(3)
        socket.read()
        socket.pong()
    clock.advance(1.5)
    socket.read()
    assert socket.pings == 3
    assert socket.events()[-1] == {
        "type": "refused",
        "text": "Disconnected: idle for 10 s.",
        "error": True,
    }
    assert socket.close_code == 1000
    assert socket.closed


def test_a_message_keeps_an_idle_session_alive() -> None:
    clock = Clock()
    socket = joined(web_site(Hub(), Limits(idle_timeout=10, keepalive=0), clock))
    clock.advance(8)
    socket.send("/who")
    clock.advance(8)
    socket.read()
    assert not socket.closed
    assert socket.pings == 0


def test_a_peer_that_answers_no_ping_is_dropped() -> None:
    clock = Clock()
    site = web_site(Hub(), Limits(keepalive=2), clock)
    socket = joined(site)
    for _ in range(PINGS_UNANSWERED - 1):
        clock.advance(2)
    socket.read()
    assert socket.pings == PINGS_UNANSWERED - 1
    assert not socket.closed
    clock.advance(2)
    assert socket.transport.disconnecting
    assert site.chat.services.limit_hits["no_pong"] == 1


def test_admission_refusals_are_json() -> None:
    site = web_site(Hub(), Limits(max_per_ip=1))
    joined(site)
    second = MemoryWebSocket(site)
    assert second.events() == [
        {
            "type": "refused",
            "text": "Too many connections from 10.0.0.9 (at most 1); try again later.",
            "error": True,
        }
    ]
    assert second.close_code == 1000


def test_a_socket_that_stops_reading_is_dropped_at_the_output_cap() -> None:
    hub = Hub()
    speaker = FakeMember()
    hub.connect(speaker)
    site = web_site(hub, Limits(max_queue=10_000, rate=0))
    socket = joined(site)
    # The connection's buffer is full: it pauses its producer (the HTTP
    # channel), as the reactor would, and that pauses the session's queue.
    socket.transport.producer.pauseProducing()
    for n in range(200):
        hub.say(speaker, [f"{n} " + "p" * 100])
    assert socket.transport.disconnecting
    assert site.chat.services.limit_hits["max_queue"] == 1
    # The reactor then reports the connection gone.
    socket.channel.connectionLost(Failure(ConnectionLost()))
    assert speaker.take_lines()[-1] == "*** guest2 has left"
    assert site.chat.services.disconnects["not_reading"] == 1


def test_shutdown_closes_sockets_as_going_away() -> None:
    hub = Hub()
    site = web_site(hub)
    socket = joined(site)
    site.stopFactory()
    for member in hub.members:
        member.close()
    socket.read()
    assert socket.close_code == 1001


def test_a_plain_request_for_the_socket_gets_a_line_not_an_error() -> None:
    site = web_site(Hub())
    channel = site.buildProtocol(None)
    assert channel is not None
    transport = StringTransport()
    channel.makeConnection(transport)
    channel.dataReceived(b"GET /ws HTTP/1.1\r\nHost: chat.test\r\n\r\n")
    answer = transport.value()
    assert answer.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert answer.endswith(b"This is the chat's WebSocket; the page is at /\n")


def test_what_the_hub_sends_after_the_browser_closed_goes_nowhere() -> None:
    """A close from the page, then lines before the connection is gone: no error."""
    hub = Hub()
    speaker = FakeMember()
    hub.connect(speaker)
    socket = joined(web_site(hub))
    socket.feed(socket.client.send(CloseConnection(1000)))
    assert socket.closed
    hub.say(speaker, ["still talking"])
    assert hub.find("guest2") is not None  # not removed as broken
    socket.channel.connectionLost(Failure(ConnectionDone()))
    assert hub.find("guest2") is None
    assert speaker.take_lines()[-1] == "*** guest2 has left"
