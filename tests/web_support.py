"""
Helpers for the browser page's tests: a WebSocket in memory (a real
twisted.web site and Twisted's WebSocket code on a StringTransport), a
blocking WebSocket client for the real daemon (wsproto over a socket, with
deadlines), the daemon with C{--web}, and the system's Chromium through
Playwright.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from tests.support import DEADLINE_SECONDS, ChatDaemon, wait_for
from twisted_chat.core.hub import Hub
from twisted_chat.core.limits import Limits
from twisted_chat.frontends.web.origin import OriginPolicy
from twisted_chat.frontends.web.protocol import WebChatFactory
from twisted_chat.frontends.web.resource import ChatSite, build_site
from twisted_chat.session.services import Services

Event = dict[str, Any]


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def json_events(messages: list[str]) -> list[Event]:
    """The events in WebSocket text messages: one JSON object per line."""
    return [json.loads(line) for message in messages for line in message.splitlines()]


# In memory


def web_site(
    hub: Hub | None = None,
    limits: Limits | None = None,
    clock: Clock | None = None,
    allowed: tuple[str, ...] = (),
) -> ChatSite:
    """The C{--web} site over a hub (a new one, flushing at once) on a L{Clock}."""
    clock = clock if clock is not None else Clock()
    services = Services(hub if hub is not None else Hub(), limits, clock)
    site = build_site(WebChatFactory(services), OriginPolicy(allowed))
    site.reactor = clock  # the HTTP channel's timeouts run on it too
    return site


class MemoryWebSocket:
    """
    One browser's WebSocket to C{site}, in memory: an HTTP channel of the
    site on a StringTransport, the handshake sent, and a wsproto client
    reading what comes back.
    """

    def __init__(
        self,
        site: ChatSite,
        origin: str | None = "http://chat.test",
        host: str = "chat.test",
        peer: str = "10.0.0.9",
    ) -> None:
        self.transport = StringTransport(
            hostAddress=IPv4Address("TCP", "10.0.0.1", 80),
            peerAddress=IPv4Address("TCP", peer, 4000),
        )
        self.channel = site.buildProtocol(self.transport.getPeer())
        assert self.channel is not None
        self.channel.makeConnection(self.transport)
        self.client = WSConnection(ConnectionType.CLIENT)
        headers = [(b"origin", origin.encode())] if origin is not None else []
        self.status: int | None = None
        self.body = b""
        self.messages: list[str] = []
        self.pings = 0
        self.close_code: int | None = None
        self._fragments = ""
        self.feed(
            self.client.send(Request(host=host, target="/ws", extra_headers=headers))
        )

    def feed(self, data: bytes) -> None:
        """Bytes from the browser to the daemon, then read what came back."""
        self.channel.dataReceived(data)
        self.read()

    def read(self) -> None:
        data = self.transport.value()
        self.transport.clear()
        if data:
            self.client.receive_data(data)
        for event in self.client.events():
            if isinstance(event, AcceptConnection):
                self.status = 101
            elif isinstance(event, RejectConnection):
                self.status = event.status_code
            elif isinstance(event, RejectData):
                self.body += event.data
            elif isinstance(event, TextMessage):
                self._fragments += event.data
                if event.message_finished:
                    self.messages.append(self._fragments)
                    self._fragments = ""
            elif isinstance(event, Ping):
                self.pings += 1
            elif isinstance(event, CloseConnection):
                self.close_code = event.code

    def send(self, line: str | bytes, finished: bool = True) -> None:
        """One message (text, or binary for bytes), or a part of one."""
        message: Message[Any] = (
            BytesMessage(line, message_finished=finished)
            if isinstance(line, bytes)
            else TextMessage(line, message_finished=finished)
        )
        self.feed(self.client.send(message))

    def pong(self) -> None:
        self.feed(self.client.send(Pong(b"")))

    def events(self) -> list[Event]:
        """Every event received so far, then forget them."""
        self.read()
        found = json_events(self.messages)
        self.messages.clear()
        return found

    @property
    def closed(self) -> bool:
        """Whether the daemon closed (or is closing) the connection."""
        return self.transport.disconnecting or self.transport.disconnected


# The real daemon


class WebDaemon(ChatDaemon):
    """The daemon with C{--web} on a loopback port (free, or the one given)."""

    def __init__(
        self,
        workdir: Path,
        *options: str,
        web_port: int | None = None,
        on_command_line: bool = True,
        certificates: dict[str, Path] | None = None,
    ) -> None:
        self.web_port = web_port if web_port is not None else free_port()
        if certificates is None:
            self.scheme, endpoint = "http", f"tcp:{self.web_port}"
        else:
            self.scheme = "https"
            endpoint = (
                f"ssl:{self.web_port}:privateKey={certificates['key']}"
                f":certKey={certificates['cert']}"
            )
        web = ("--web", f"{endpoint}:interface=127.0.0.1")
        super().__init__(workdir, *(web if on_command_line else ()), *options)

    def start(self) -> WebDaemon:
        super().start()
        served = f"chat page at {self.scheme}://127.0.0.1:{self.web_port}/"
        wait_for(lambda: served in self.log(), what="the page to be served")
        return self

    @property
    def url(self) -> str:
        # The test certificates are for localhost.
        host = "127.0.0.1" if self.scheme == "http" else "localhost"
        return f"{self.scheme}://{host}:{self.web_port}/"

    def websocket(self, **options: Any) -> WebSocketClient:
        """A WebSocket to the daemon, from its own page's origin by default."""
        options.setdefault("origin", self.url.rstrip("/"))
        return WebSocketClient(self.web_port, **options)


class WebSocketClient:
    """
    A blocking WebSocket client (wsproto over a socket) that reads events
    with deadlines; it answers pings unless told not to.
    """

    def __init__(
        self,
        port: int,
        origin: str | None = None,
        answer_pings: bool = True,
        receive_buffer: int | None = None,
    ) -> None:
        self.sock = socket.socket()
        if receive_buffer is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(DEADLINE_SECONDS)
        self.sock.connect(("127.0.0.1", port))
        self.answer_pings = answer_pings
        self.connection = WSConnection(ConnectionType.CLIENT)
        self.status: int | None = None
        self.body = b""
        self.events: list[Event] = []
        self._seen = 0
        self._fragments = ""
        self.pings = 0
        self.close_code: int | None = None
        self.ended = False
        headers = [(b"origin", origin.encode())] if origin is not None else []
        self.sock.sendall(
            self.connection.send(
                Request(host=f"127.0.0.1:{port}", target="/ws", extra_headers=headers)
            )
        )
        deadline = time.monotonic() + DEADLINE_SECONDS
        while self.status is None or (self.status != 101 and not self.ended):
            if not self._read_some(deadline):
                raise AssertionError("no answer to the WebSocket handshake")

    def _read_some(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.ended:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            self.ended = True
        self.connection.receive_data(data or None)
        for event in self.connection.events():
            self._take(event)
        return True

    def _take(self, event: object) -> None:
        if isinstance(event, AcceptConnection):
            self.status = 101
        elif isinstance(event, RejectConnection):
            self.status = event.status_code
            if not event.has_body:
                self.ended = True
        elif isinstance(event, RejectData):
            self.body += event.data
            if event.body_finished:
                self.ended = True
        elif isinstance(event, TextMessage):
            self._fragments += event.data
            if event.message_finished:
                self.events += json_events([self._fragments])
                self._fragments = ""
        elif isinstance(event, Ping):
            self.pings += 1
            if self.answer_pings:
                self.sock.sendall(self.connection.send(event.response()))
        elif isinstance(event, CloseConnection):
            # The first is the daemon's; wsproto adds 1006 when the socket ends.
            if self.close_code is None:
                self.close_code = event.code
            if self.connection.state.name not in ("CLOSED", "LOCAL_CLOSING"):
                self.sock.sendall(self.connection.send(event.response()))

    def poll(self) -> None:
        """Take in what has arrived (answering pings), hardly waiting."""
        self._read_some(time.monotonic() + 0.01)

    def send(self, line: str | bytes) -> None:
        """One message: text, or binary for bytes."""
        message = BytesMessage(line) if isinstance(line, bytes) else TextMessage(line)
        self.sock.sendall(self.connection.send(message))

    def expect(
        self,
        type_: str,
        where: Callable[[Event], bool] = lambda event: True,
        timeout: float = DEADLINE_SECONDS,
    ) -> Event:
        """Read until an event not yet consumed has C{type_} and satisfies C{where}."""
        deadline = time.monotonic() + timeout
        while True:
            while self._seen < len(self.events):
                event = self.events[self._seen]
                self._seen += 1
                if event["type"] == type_ and where(event):
                    return event
            if not self._read_some(deadline):
                raise AssertionError(
                    f"no {type_} event within {timeout}s; "
                    f"last events: {self.events[-5:]!r}"
                )

    def expect_closed(self, timeout: float = DEADLINE_SECONDS) -> int | None:
        """Read until the daemon closes; the close code it sent, if any."""
        deadline = time.monotonic() + timeout
        while not self.ended:
            if not self._read_some(deadline) and not self.ended:
                raise AssertionError(f"WebSocket still open after {timeout}s")
        return self.close_code

    def greeted(self) -> WebSocketClient:
        """Read the greeting, up to the room it starts in."""
        self.expect("now_in")
        return self

    def nick(self, name: str) -> None:
        self.send(f"/nick {name}")
        self.expect("your_name", lambda event: event["name"] == name)

    def close(self) -> None:
        self.sock.close()


# Chromium through Playwright


def chromium_path() -> str:
    """The system's Chromium (the Debian package), never a downloaded one."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("no chromium on PATH: install the chromium package (.ci/run does)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for a module's tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True
        )
        yield launched
        launched.close()


def log_texts(page: Any) -> list[str]:
    """The conversation as shown, one entry per line, without the times."""
    texts: list[str] = page.eval_on_selector_all(
        "#log li",
        "items => items.map(item => [...item.childNodes]"
        ".filter(node => node.nodeName !== 'TIME')"
        ".map(node => node.textContent).join(''))",
    )
    return [re.sub(r"\s+", " ", text).strip() for text in texts]
