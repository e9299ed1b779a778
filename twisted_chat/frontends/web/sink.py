"""
A WebSocket as a session's transport: what L{Session} and its
L{OutboundQueue} need (C{write}, a producer, closing, pausing reads), over
Twisted's WebSocket transport and the connection under it.

Twisted's WebSocket transport offers C{attachProducer}, but on the server
side the connection still has the HTTP channel registered as its producer
(the WebSocket replaced the channel's reading, not its place as producer),
so attaching another fails. The channel passes the connection's pause and
resume on to the producer of its request, so that is where the output
queue registers: C{request.registerProducer}. For the same reason, closing
first unregisters the channel: a connection (TLS especially) does not close
while a producer is registered.

Messages are framed here, not by wsproto: a server's text frame is a
header and the payload as it is (no mask, no extension negotiated), so the
frame of a turn's bytes is built once and written to every member, where
wsproto would encode and copy it once per member. Pings and the closing
handshake stay wsproto's.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from twisted.internet.interfaces import (
    IAddress,
    IConsumer,
    IProducer,
    IPushProducer,
    ITransport,
)
from twisted.web.websocket import WebSocketTransport
from wsproto.utilities import LocalProtocolError
from zope.interface import implementer

if TYPE_CHECKING:
    from twisted.web.server import Request

#: The close code of a session the server ended (quit, idle, kicked, a
#: refusal): the page does not reconnect by itself.
CLOSE_ENDED = 1000
#: The close code when the daemon shuts down: the page reconnects.
CLOSE_GOING_AWAY = 1001


def text_frame(payload: bytes) -> bytes:
    """
    One whole, unmasked text message as a server sends it (RFC 6455, 5.2):
    C{payload} must be UTF-8, as every rendering is.
    """
    size = len(payload)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 65536:
        head = struct.pack("!BBH", 0x81, 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 127, size)
    return head + payload


@implementer(ITransport, IConsumer, IPushProducer)
class WebSocketSink:
    """
    Bytes in, WebSocket text messages out: each C{write} is one message.

    Guarantees: C{write} never raises, before or after the WebSocket has
    closed (what comes after is dropped); C{loseConnection} sends a close
    frame (C{going_away()} decides its code) and closes the connection once
    what was written is sent; C{abortConnection} drops it at once;
    C{pauseProducing} and C{resumeProducing} stop and start reading.
    """

    __slots__ = ("_closed", "_going_away", "_request", "_socket", "connection")

    #: The last bytes written and their frame. The fan-out hands the same
    #: bytes object to every member of a renderer in a turn, so the frame
    #: is built once per turn for all of them, as the JSON is.
    _last: ClassVar[tuple[bytes, bytes]] = (b"", b"")

    def __init__(
        self,
        socket: WebSocketTransport,
        request: Request,
        going_away: Callable[[], bool] | None = None,
    ) -> None:
        self._socket = socket
        self._request = request
        #: The connection under the WebSocket (TCP, or TLS over TCP).
        connection = request.channel.transport
        assert connection is not None
        self.connection: ITransport = connection
        self._going_away = going_away
        self._closed = False

    # ITransport

    def write(self, data: bytes) -> None:
        if self._closed or self.connection.disconnecting:  # type: ignore[attr-defined]
            # Closing (by us or by the peer, whose close was answered):
            # what the hub still had for it goes nowhere.
            return
        shared = WebSocketSink._last
        if data is not shared[0]:
            shared = WebSocketSink._last = (data, text_frame(data))
        self.connection.write(shared[1])

    def writeSequence(self, data: list[bytes]) -> None:  # type: ignore[override]
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        if self._closed:
            self.connection.loseConnection()
            return
        self._closed = True
        code = CLOSE_ENDED
        if self._going_away is not None and self._going_away():
            code = CLOSE_GOING_AWAY
        # The HTTP channel is still the connection's producer: see above.
        self.connection.unregisterProducer()  # type: ignore[attr-defined]
        try:
            self._socket.loseConnection(code)
        except LocalProtocolError:
            self.connection.loseConnection()

    def abortConnection(self) -> None:
        """Drop the connection now, whatever it still holds."""
        self._closed = True
        abort = getattr(self.connection, "abortConnection", None)
        (abort or self.connection.loseConnection)()

    def getPeer(self) -> IAddress:
        return self.connection.getPeer()

    def getHost(self) -> IAddress:
        return self.connection.getHost()

    def fileno(self) -> int | None:
        """The connection's descriptor, for admission; None over TLS."""
        fileno = getattr(self.connection, "fileno", None)
        return fileno() if fileno is not None else None

    # IConsumer: the output queue registers here

    def registerProducer(self, producer: IProducer, streaming: bool) -> None:
        self._request.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        if self._request.producer is not None:
            self._request.unregisterProducer()

    # IPushProducer: the read throttle pauses and resumes reading here

    def pauseProducing(self) -> None:
        self.connection.pauseProducing()  # type: ignore[attr-defined]

    def resumeProducing(self) -> None:
        self.connection.resumeProducing()  # type: ignore[attr-defined]

    def stopProducing(self) -> None:
        self.abortConnection()
