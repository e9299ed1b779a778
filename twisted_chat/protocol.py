"""
One chat connection: bytes in from the socket, clean lines into the room;
the room's bytes out to the socket through a flow-controlled queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.interfaces import ITCPTransport
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from twisted_chat import text
from twisted_chat.commands import run_command, split_command, unescape_text
from twisted_chat.outbound import OutboundQueue
from twisted_chat.telnet import TelnetFilter

if TYPE_CHECKING:
    from twisted_chat.server import ChatFactory

log = Logger()


def describe_peer(transport: object) -> str:
    """C{host:port} for an IP peer, else whatever the address says of itself."""
    get_peer = getattr(transport, "getPeer", None)
    if get_peer is None:
        return "?"
    address = get_peer()
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if host is not None and port is not None:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return getattr(address, "name", None) or type(address).__name__


class ChatProtocol(LineReceiver):
    """
    A person connected over a byte stream (telnet, nc, the terminal client).

    Input: telnet commands are removed, lines end at LF (a CR before it is
    dropped), each line is cleaned (L{text.clean_text}), blank lines are
    ignored. Consecutive text lines of one read reach the room as one batch,
    so each recipient gets one write per read, not one per line; a command
    in between keeps its place in the order.

    L{LineReceiver}'s own framing is replaced (C{dataReceived}) because it
    copies the rest of the buffer once per line and drops whatever follows
    an overlong line; C{MAX_LENGTH}, C{lineReceived} and
    C{lineLengthExceeded} keep their meaning.
    """

    delimiter = text.CRLF
    factory: ChatFactory

    def __init__(self) -> None:
        self.name = ""
        self.peer = "?"
        self._telnet = TelnetFilter()
        self._partial = b""
        self._discarding = False
        self._batch: list[str] = []
        self._outbound: OutboundQueue | None = None
        self._closing = False

    # Twisted's hooks

    def connectionMade(self) -> None:
        transport = self.transport
        assert transport is not None
        self.peer = describe_peer(transport)
        self.MAX_LENGTH = self.factory.limits.max_line_length
        if ITCPTransport.providedBy(transport):
            # Chat lines are small and latency matters more than packet count.
            transport.setTcpNoDelay(True)
            transport.setTcpKeepAlive(True)
        self._outbound = OutboundQueue(
            transport, self.factory.limits.max_queue, self._output_overflowed
        )
        self.factory.connection_opened(self)
        self.factory.room.join(self)
        log.info("{peer} connected as {name}", peer=self.peer, name=self.name)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._closing = True
        self.factory.room.leave(self)
        self.factory.connection_closed(self)
        log.info(
            "{peer} ({name}) disconnected: {reason}",
            peer=self.peer,
            name=self.name,
            reason=reason.getErrorMessage(),
        )

    def dataReceived(self, data: bytes) -> None:
        data = self._telnet.feed(data)
        if not data or self._closing:
            return
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            if self._closing:
                return
            if self._discarding:
                # The end of a line already reported as too long.
                self._discarding = False
                continue
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if len(raw) > self.MAX_LENGTH:
                self.lineLengthExceeded(raw)
            else:
                self.lineReceived(raw)
        if len(self._partial) > self.MAX_LENGTH and not self._discarding:
            # Never hold more than MAX_LENGTH bytes of an unfinished line.
            self._partial = b""
            self._discarding = True
            self.lineLengthExceeded(b"")
        elif self._discarding:
            self._partial = b""
        self._flush_batch()

    def lineReceived(self, line: bytes) -> None:
        cleaned = text.clean_text(line)
        if not cleaned.strip():
            return
        command = split_command(cleaned)
        if command is None:
            self._batch.append(unescape_text(cleaned))
            return
        self._flush_batch()
        run_command(self, self.factory.room, *command)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._flush_batch()
        self.send(
            text.ERROR.encode(
                text=f"Line too long (over {self.MAX_LENGTH} bytes); not sent."
            )
        )

    # The room's Member interface

    def send(self, data: bytes) -> None:
        """Queue C{data} for this connection; see L{OutboundQueue}."""
        if self._outbound is not None:
            self._outbound.write(data)

    def close(self) -> None:
        """Close once everything queued has been written."""
        self._closing = True
        if self._outbound is not None:
            self._outbound.close()

    # Internals

    def _flush_batch(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self.factory.room.say(self, batch)

    def _output_overflowed(self) -> None:
        log.warn(
            "{peer} ({name}) dropped: output queue over {limit} bytes",
            peer=self.peer,
            name=self.name,
            limit=self.factory.limits.max_queue,
        )
        self._closing = True
        # Drop at once: what is buffered will never be read anyway.
        abort = getattr(self.transport, "abortConnection", None)
        if abort is not None:
            abort()
