"""
One browser connected over a WebSocket: its messages, as typed lines, into
its L{Session}; the session's JSON out, one text message per send.

The page sends what the person typed, one line per message (text, or
binary holding UTF-8), exactly as a telnet user types it: C{/join dev},
C{/nick alice}, C{hello}. Each goes through L{Session.receive_line}, so a
browser user meets the same limits, commands, refusals, accounts and
moderation as a telnet user.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from twisted.internet import error
from twisted.internet.interfaces import IDelayedCall, ITCPTransport
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.websocket import WebSocketTransport

from twisted_chat import text
from twisted_chat.core.commands import may_hold_commands
from twisted_chat.frontends.line.protocol import describe_peer, set_keepalive
from twisted_chat.frontends.web.render import WEB_RENDERER
from twisted_chat.frontends.web.sink import WebSocketSink
from twisted_chat.session.services import Services
from twisted_chat.session.session import Session

if TYPE_CHECKING:
    from twisted.web.server import Request

log = Logger()

#: A peer that has answered no ping, and sent nothing, for this many
#: keepalive periods is taken for gone (as TCP keepalive gives up after
#: about three).
PINGS_UNANSWERED = 3

Text = TypeVar("Text", str, bytes)


class BoundedMessage(Generic[Text]):
    """
    Where the parts of one incoming WebSocket message gather until its last
    part: in place of Twisted's own buffer, which holds a message of any
    size (a peer could send gigabytes in fragments).

    Guarantees: at most C{limit()} characters (for text) or bytes are held;
    a message that grows past that is discarded as it arrives, and
    C{too_long} says so until the protocol takes note.
    """

    __slots__ = ("_empty", "_limit", "data", "too_long")

    def __init__(self, empty: Text, limit: Callable[[], int]) -> None:
        self._empty: Text = empty
        self._limit = limit
        self.data: Text = empty
        self.too_long = False

    def add(self, new: Text) -> None:
        if self.too_long:
            return
        # A character is at least one byte: more characters than the limit
        # is more bytes than it. (The exact count is taken once whole.)
        if len(self.data) + len(new) > self._limit():
            self.too_long = True
            self.data = self._empty
            return
        self.data += new

    def done(self) -> Text:
        data: Text = self.data
        self.data = self._empty
        return data


def install_bounded_buffers(socket_: object, limit: Callable[[], int]) -> bool:
    """
    Put L{BoundedMessage}s in place of the message buffers of Twisted's
    WebSocket transport C{socket_}; False if it has none by those names
    (a Twisted that changed: the tests say so).
    """
    if not (hasattr(socket_, "_textBuffer") and hasattr(socket_, "_bytesBuffer")):
        return False
    socket_._textBuffer = BoundedMessage("", limit)
    socket_._bytesBuffer = BoundedMessage(b"", limit)
    return True


def _reason_name(reason: Failure) -> str:
    """A metrics label for how a connection ended that we did not end."""
    return "closed" if reason.check(error.ConnectionDone) else "lost"


class WebChatProtocol:
    """
    A person in a browser (L{twisted.web.websocket.WebSocketProtocol}).

    Guarantees: the session is admitted (or refused, with a C{refused}
    event, and closed) as soon as the WebSocket is open; each message is
    one line, or several separated by LF (CR LF), handed to the session as
    telnet lines are; a message over C{--max-line-length} bytes is refused
    whole, with a C{line_too_long} event, and never held in full; only
    messages count as activity for the idle timeout, not pongs; with
    C{--keepalive} the peer is pinged that often and dropped when it has
    answered nothing for L{PINGS_UNANSWERED} periods.
    """

    def __init__(self, factory: WebChatFactory, request: Request) -> None:
        self.factory = factory
        self._request = request
        self._socket: WebSocketTransport | None = None
        self._sink: WebSocketSink | None = None
        self.session: Session | None = None
        self._ping_call: IDelayedCall | None = None
        self._heard = 0.0

    # Twisted's hooks

    def negotiationStarted(self, transport: WebSocketTransport) -> None:
        self._socket = transport
        # No writing yet: the handshake's answer is not sent until this returns.
        if not install_bounded_buffers(transport, self._limit):
            log.warn("WebSocket messages are not bounded: unknown Twisted transport")

    def negotiationFinished(self) -> None:
        assert self._socket is not None
        services = self.factory.services
        sink = self._sink = WebSocketSink(
            self._socket, self._request, self.factory.going_away
        )
        connection = sink.connection
        peer, address = describe_peer(connection)
        session = self.session = Session(services, sink, WEB_RENDERER, peer, address)
        if not session.admit(sink.fileno()):
            return
        self.factory.protocols.add(self)
        if ITCPTransport.providedBy(connection):
            # (TLS over TCP provides it too.) Latency matters more than
            # packet count; keepalive finds peers that vanished.
            connection.setTcpNoDelay(True)
            set_keepalive(connection, services.limits.keepalive)
        self._heard = services.clock.seconds()
        self._schedule_ping()
        session.join()

    def textMessageReceived(self, message: str) -> None:
        buffer = getattr(self._socket, "_textBuffer", None)
        self._received(message.encode("utf-8"), buffer)

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        buffer = getattr(self._socket, "_bytesBuffer", None)
        self._received(bytes(data), buffer)

    def pongReceived(self, payload: bytes) -> None:
        self._heard = self.factory.services.clock.seconds()

    def connectionLost(self, reason: Failure) -> None:
        self._cancel_ping()
        self.factory.protocols.discard(self)
        if self.session is not None:
            self.session.connection_lost(reason.getErrorMessage(), _reason_name(reason))

    # Input

    def _limit(self) -> int:
        return self.factory.services.limits.max_line_length

    def _received(self, data: bytes, buffer: object) -> None:
        session = self.session
        if session is None or session.closing or not session.joined:
            return
        self._heard = self.factory.services.clock.seconds()
        session.activity()
        limit = self._limit()
        if isinstance(buffer, BoundedMessage) and buffer.too_long:
            buffer.too_long = False
            session.line_too_long(limit)
            return
        if len(data) > limit:
            session.line_too_long(limit)
            return
        # Plain text all through (what a busy room is made of): in one go,
        # as the line front end takes a read of such lines.
        if b"\r" not in data and not may_hold_commands(data):
            lines = text.plain_lines(data)
            if lines is not None and session.receive_plain(lines):
                session.end_of_read()
                return
        for line in data.split(b"\n"):
            if session.closing:
                break
            session.receive_line(line.removesuffix(b"\r"))
        session.end_of_read()

    # Keepalive

    def _schedule_ping(self) -> None:
        every = self.factory.services.limits.keepalive
        if every:
            self._ping_call = self.factory.services.clock.callLater(every, self._ping)

    def _ping(self) -> None:
        self._ping_call = None
        session, socket_ = self.session, self._socket
        if session is None or session.closing or socket_ is None:
            return
        every = self.factory.services.limits.keepalive
        silent = self.factory.services.clock.seconds() - self._heard
        if every and silent >= PINGS_UNANSWERED * every:
            session.hit_limit(
                "no_pong",
                "{peer} ({name}) dropped: no answer to pings for {seconds:g} s",
                seconds=silent,
            )
            session.close_as("no_pong", "no answer to WebSocket pings")
            assert self._sink is not None
            self._sink.abortConnection()
            return
        try:
            socket_.ping(b"")
        except Exception:
            # The WebSocket is closing: nothing more to ping.
            return
        self._schedule_ping()

    def _cancel_ping(self) -> None:
        if self._ping_call is not None and self._ping_call.active():
            self._ping_call.cancel()
        self._ping_call = None


class WebChatFactory:
    """
    Builds a L{WebChatProtocol} for each WebSocket, each with a session over
    the daemon's shared L{Services}
    (L{twisted.web.websocket.WebSocketServerFactory}).

    Guarantees: L{protocols} holds exactly the admitted WebSockets still
    open; once L{going_away} is true (the daemon is stopping) every
    WebSocket closes with code 1001, so the page knows to come back.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self.protocols: set[WebChatProtocol] = set()
        self.stopping = False

    def going_away(self) -> bool:
        """Whether the daemon is shutting down."""
        return self.stopping

    def buildProtocol(self, request: Request) -> WebChatProtocol:
        return WebChatProtocol(self, request)
