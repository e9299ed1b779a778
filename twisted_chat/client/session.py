"""
The client's side of the conversation: one connection to the server, the
session that (re)connects it, and the name the server has confirmed.

Nothing here knows whether a terminal or a script is on the other side: the
session shows what the server says on a L{Screen}, and piped mode watches
each connection through a L{ConnectionObserver}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from twisted.internet import defer, task
from twisted.internet.endpoints import HostnameEndpoint, connectProtocol, wrapClientTLS
from twisted.internet.interfaces import (
    IDelayedCall,
    IHandshakeListener,
    IOpenSSLClientConnectionCreator,
    IReactorTime,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import connectionDone
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_chat import text
from twisted_chat.client.tls import describe_connect_error
from twisted_chat.syntax import split_command

CONNECT_TIMEOUT_SECONDS = 10
FIRST_RETRY_SECONDS = 1.0
LONGEST_RETRY_SECONDS = 30.0
#: A connection that was admitted and stayed up this long was neither a
#: refusal nor a kick: the back-off starts over.
STABLE_SECONDS = 10.0
#: How many /nick requests awaiting the server's answer are remembered.
ASKED_NAMES_KEPT = 8

T = TypeVar("T")


class Screen(Protocol):
    """What the session needs of the local side, terminal or plain."""

    def show(self, line: str) -> None: ...

    def show_own(self, line: str) -> None: ...

    def notice(self, line: str) -> None: ...

    def set_name(self, name: str) -> None: ...


class ConnectionObserver(Protocol):
    """Sees each connection's life (piped mode's accounting)."""

    def connection_made(self) -> None:
        """A connection is up; the observer sends its first lines itself."""

    def line_received(self, line: str) -> bool:
        """A server line; True if the observer consumed it (not shown)."""

    def connection_lost(self) -> None:
        """The connection is gone."""


@implementer(IHandshakeListener)
class ServerConnection(LineReceiver):
    """
    The network side: lines from the server go to C{on_line} (with whether
    it is the connection's first line); the end of the connection fires
    L{closed}; over TLS, L{secured} fires once the server's certificate has
    been accepted, or fails with the reason.
    """

    delimiter = b"\n"
    MAX_LENGTH = 1024 * 1024

    def __init__(self, on_line: Callable[[str, bool], None]) -> None:
        self.on_line = on_line
        self.closed: defer.Deferred[None] = defer.Deferred()
        self.secured: defer.Deferred[None] = defer.Deferred()
        self._first = True

    def handshakeCompleted(self) -> None:
        self.secured.callback(None)

    def lineReceived(self, line: bytes) -> None:
        first, self._first = self._first, False
        # Clean again: whatever server we talk to, it cannot drive our screen.
        self.on_line(text.clean_text(line.rstrip(b"\r")), first)

    def send_line(self, line: str) -> None:
        self.transport.write(line.encode("utf-8") + b"\n")  # type: ignore[union-attr]

    def hang_up(self) -> None:
        """Close once everything written has been sent."""
        self.transport.loseConnection()  # type: ignore[union-attr]

    def abort(self) -> None:
        """Close now, whatever is still on its way."""
        if self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if not self.secured.called:
            self.secured.errback(reason)
        self.closed.callback(None)


class Backoff:
    """
    How long to wait before each connection attempt: 1, 2, 4 ... then 30 s
    for good, until L{reset} (a connection that proved good) starts it over.
    """

    def __init__(
        self, first: float = FIRST_RETRY_SECONDS, longest: float = LONGEST_RETRY_SECONDS
    ) -> None:
        self.first, self.longest = first, longest
        self._next = first

    def next_delay(self) -> float:
        """The wait before this attempt; the next one will be twice as long."""
        delay = self._next
        self._next = min(delay * 2, self.longest)
        return delay

    def reset(self) -> None:
        self._next = self.first


class NameTracker:
    """
    Our name, learned only from the server's answers to our own requests.

    Guarantees: the name is set by a WELCOME line only when it is the first
    line of a connection, and changed by a YOUR_NAME line (a shape only the
    server sends: the server renames us on /login, /logout, or when someone
    logs in as the name we had); no other line changes it, whatever it
    looks like. L{wanted}, the name to ask for after a reconnection, is the
    C{--nick} name until the server confirms another one we asked for
    (with /nick or /login) on this connection.
    """

    def __init__(self, wanted: str | None) -> None:
        self.name = ""
        self.wanted = wanted
        self._asked: list[str] = []

    def connection_started(self) -> None:
        self._asked.clear()

    def asked(self, name: str) -> None:
        """We sent C{/nick name}."""
        self._asked.append(name)
        del self._asked[:-ASKED_NAMES_KEPT]

    def line_received(self, line: str, first: bool) -> bool:
        """Take one server line; True if our name changed."""
        if first:
            fields = text.WELCOME.parse(line)
            return fields is not None and self._set(fields["name"])
        fields = text.YOUR_NAME.parse(line)
        if fields is None:
            return False
        name = fields["name"]
        if name in self._asked:
            # Answers come in order: older requests were answered (refused) too.
            del self._asked[: self._asked.index(name) + 1]
            self.wanted = name
        return self._set(name)

    def _set(self, name: str) -> bool:
        changed = name != self.name
        self.name = name
        return changed


class ChatSession:
    """
    One person's session: (re)connecting, what the server says, what is typed.

    Guarantees: lines typed go to the server as typed; our name is only ever
    what the server confirmed (L{NameTracker}), and after a reconnection we
    ask for the last name it confirmed. With C{reconnect}, attempts are
    spaced by a L{Backoff} that starts over only once a connection was
    admitted (its first line was the welcome) and stayed up
    L{STABLE_SECONDS}: a server that refuses us, or drops us soon after,
    is asked less and less often. Once the person quits (end of input,
    /quit, Ctrl-C or Ctrl-D) no reconnection is attempted, and a wait or a
    connection attempt in progress is abandoned at once.
    """

    def __init__(
        self,
        reactor: IReactorTime,
        host: str,
        port: int,
        nick: str | None,
        reconnect: bool,
        tls: IOpenSSLClientConnectionCreator | None = None,
        endpoint: Callable[[], IStreamClientEndpoint] | None = None,
    ) -> None:
        self.reactor = reactor
        self._endpoint = endpoint or self._tcp_endpoint
        self.host, self.port = host, port
        self.tls = tls
        self.reconnect = reconnect
        self.names = NameTracker(nick)
        self.backoff = Backoff()
        self.screen: Screen | None = None
        self.observer: ConnectionObserver | None = None
        self.server: ServerConnection | None = None
        self.quitting = False
        self._attempt: defer.Deferred[Any] | None = None
        self._connecting: ServerConnection | None = None
        self._stable: IDelayedCall | None = None
        self._reconnecting = False

    @property
    def name(self) -> str:
        """Our name, as the server last confirmed it."""
        return self.names.name

    def _tcp_endpoint(self) -> IStreamClientEndpoint:
        endpoint: IStreamClientEndpoint = HostnameEndpoint(
            self.reactor, self.host, self.port, timeout=CONNECT_TIMEOUT_SECONDS
        )
        if self.tls is not None:
            endpoint = wrapClientTLS(self.tls, endpoint)
        return endpoint

    async def connect(self) -> None:
        """One connection attempt; raises on failure."""
        endpoint = self._endpoint()
        server = ServerConnection(self._server_line)
        self._connecting = server
        try:
            await self._cancellable(connectProtocol(endpoint, server))
            if self.tls is None and not server.secured.called:
                server.secured.callback(None)  # nothing to wait for
            await self._cancellable(server.secured)
        finally:
            self._connecting = None
        self.server = server
        self.names.connection_started()
        if self.observer is not None:
            self.observer.connection_made()
        elif self.names.wanted:
            self.send_line(f"/nick {self.names.wanted}")

    async def converse(self) -> bool:
        """
        Until the person quits, or the server goes and we may not reconnect.

        @return: whether the server ended it (rather than the person).
        """
        while True:
            assert self.server is not None
            await self.server.closed
            self._connection_ended()
            if self.quitting:
                return False
            if not self.reconnect:
                return True
            if not await self._reconnect():
                return False

    async def _reconnect(self) -> bool:
        """Connect again after the back-off; False if the person quit first."""
        self._reconnecting = True
        delay = self.backoff.next_delay()
        self._notice(
            text.CLIENT_NOTICE.format(
                text=f"connection lost; reconnecting in {delay:g} s"
            )
        )
        while True:
            try:
                await self._cancellable(
                    task.deferLater(self.reactor, delay, lambda: None)
                )
                await self.connect()
            except defer.CancelledError:
                return False
            except Exception:
                if self.quitting:
                    return False
                reason = describe_connect_error(Failure())
                delay = self.backoff.next_delay()
                self._notice(
                    text.CLIENT_NOTICE.format(
                        text=f"cannot reconnect ({reason}); retrying in {delay:g} s"
                    )
                )
                continue
            return True

    async def _cancellable(self, waiting: defer.Deferred[T]) -> T:
        """Await C{waiting}, which L{quit} may cancel."""
        if self.quitting:
            waiting.cancel()
        self._attempt = waiting
        try:
            return await waiting
        finally:
            self._attempt = None

    def typed(self, line: str) -> None:
        """A line the person typed."""
        command = split_command(line)
        if command is not None and command[0] == "quit":
            if self.server is None:
                self.quit()
                return
            self.quitting = True
        if self.server is None:
            self._notice(text.CLIENT_NOTICE.format(text="not connected; line not sent"))
            return
        self.send_line(line)
        if self.screen is not None:
            if command is None:
                self.screen.show_own(line[1:] if line.startswith("//") else line)
            elif command[0] == "me" and command[1]:
                self.screen.show(text.ACTION.format(name=self.name, text=command[1]))

    def send_line(self, line: str) -> None:
        """Send one line as it is; a /nick request is remembered."""
        assert self.server is not None
        command = split_command(line)
        if command is not None and command[0] in ("nick", "login") and command[1]:
            self.names.asked(command[1].split()[0])
        self.server.send_line(line)

    def quit(self) -> None:
        """The person is leaving: hang up once what they typed is sent."""
        self.quitting = True
        if self._attempt is not None:
            self._attempt.cancel()
        if self._connecting is not None:
            self._connecting.abort()
        if self.server is not None:
            self.server.hang_up()

    def _server_line(self, line: str, first: bool) -> None:
        if first and text.WELCOME.parse(line) is not None:
            self._admitted()
        if self.names.line_received(line, first) and self.screen is not None:
            self.screen.set_name(self.names.name)
        if self.observer is not None and self.observer.line_received(line):
            return
        if self.screen is not None:
            self.screen.show(line)

    def _admitted(self) -> None:
        """The server let us in: if it keeps us, the back-off starts over."""
        if self._stable is not None and self._stable.active():
            self._stable.cancel()
        self._stable = self.reactor.callLater(STABLE_SECONDS, self.backoff.reset)
        if self._reconnecting:
            self._notice(
                text.CLIENT_NOTICE.format(
                    text=f"reconnected to {self.host}:{self.port}"
                )
            )

    def _connection_ended(self) -> None:
        self.server = None
        if self._stable is not None and self._stable.active():
            self._stable.cancel()
        self._stable = None
        if self.observer is not None:
            self.observer.connection_lost()

    def _notice(self, line: str) -> None:
        if self.screen is not None:
            self.screen.notice(line)
