"""
One chat connection: bytes in from the socket, clean lines into the room;
the room's bytes out to the socket through a flow-controlled queue.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from twisted.internet import error
from twisted.internet.interfaces import ITCPTransport
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger, LogLevel
from twisted.protocols.basic import LineReceiver
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure

from twisted_chat import text
from twisted_chat.commands import (
    may_hold_commands,
    run_command,
    split_command,
    unescape_text,
)
from twisted_chat.flood import FloodControl, Verdict
from twisted_chat.outbound import OutboundQueue
from twisted_chat.probe import HTTP_ANSWER, TLS_ALERT, Kind, classify
from twisted_chat.telnet import TelnetServerSide, apply_edits

if TYPE_CHECKING:
    from twisted_chat.server import ChatFactory, Limits

log = Logger()


def describe_peer(transport: object) -> tuple[str, str | None]:
    """
    C{("host:port", "host")} for an IP peer (an IPv4-mapped IPv6 address as
    its IPv4 address); for a unix socket, a description and None (no
    address to count connections by).
    """
    get_peer = getattr(transport, "getPeer", None)
    address = get_peer() if get_peer is not None else None
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if isinstance(host, str) and host[:7].lower() == "::ffff:" and "." in host:
        # An IPv4 peer on a tcp6: port is the same peer as on a tcp: port.
        host = host[7:]
    if isinstance(host, str) and port is not None:
        return (f"[{host}]:{port}" if ":" in host else f"{host}:{port}"), host
    return "unix socket" if address is not None else "?", None


#: Unanswered keepalive probes after which the peer is taken for gone.
KEEPALIVE_PROBES = 8


def _socket_of(transport: object) -> socket.socket | None:
    """The socket under C{transport}, through any TLS layers over it."""
    while transport is not None:
        handle = getattr(transport, "getHandle", lambda: None)()
        if isinstance(handle, socket.socket):
            return handle
        # TLS: the handle is the TLS connection; its socket is one level down.
        transport = getattr(transport, "transport", None)
    return None


def set_keepalive(transport: ITCPTransport, idle: float) -> None:
    """
    Keepalive on C{transport} after C{idle} seconds of silence, a probe
    every C{idle / 4} s after that, the peer given up after
    L{KEEPALIVE_PROBES} unanswered: gone after about C{3 * idle} seconds
    (the kernel's default is over two hours). C{idle} 0 turns it off.
    """
    transport.setTcpKeepAlive(bool(idle))
    handle = _socket_of(transport)
    if not idle or not hasattr(socket, "TCP_KEEPIDLE") or handle is None:
        return
    with contextlib.suppress(OSError):
        handle.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(int(idle), 1))
        handle.setsockopt(
            socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(int(idle / 4), 1)
        )
        handle.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_PROBES)


def _not_connected(data: bytes) -> None:
    """Where output goes before a connection is admitted: nowhere."""


#: Bytes to read at once from a client, per member of the room (kept
#: within 4-64 KiB): see L{read_size}.
READ_PER_MEMBER = 16


def read_size(members: int) -> int:
    """
    How many bytes to read from a client at once in a room of C{members}.

    The room relays once per reactor turn and shares one copy of the
    turn's lines among everyone who did not speak, so a turn's memory
    hardly grows with the room, but its work does: a write and a send per
    member. Big rooms read more at once, so that work is spread over more
    lines; small rooms read little, so that a turn stays short: 4 KiB up
    to 256 members, 16 KiB at 1000, 64 KiB from 4096.
    """
    return max(4096, min(65536, READ_PER_MEMBER * members))


#: How many times a connection's first bytes may leave L{classify} unsure
#: (each time for L{PROBE_SECONDS}) before it is taken for a chat client.
MOST_PROBES = 10

#: What a telnet client's "Are You There" gets.
ARE_YOU_THERE = text.NOTICE.encode(text="Yes, still here.")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _reason_name(reason: Failure) -> str:
    """A metrics label for how a connection ended that we did not end."""
    if reason.check(error.ConnectionDone):
        return "closed"
    return "lost"


class ChatProtocol(LineReceiver, TimeoutMixin):
    """
    A person connected over a byte stream (telnet, nc, the terminal client).

    Admission: a connection joins the room once its first bytes show a chat
    client (L{classify}), or after L{PROBE_SECONDS} of silence; an HTTP
    request or a TLS handshake is answered in its own terms and closed,
    and nothing of it reaches the room.

    Input: a connection that sends a telnet command gets a telnet server
    (L{TelnetServerSide}: answers, BINARY, echo in character mode, line
    editing); lines end at LF (a CR before it is dropped; for telnet, any
    of CR LF, CR NUL and CR), a line that is not UTF-8 is refused with a
    notice, each line is cleaned (L{text.clean_text}), blank lines are
    ignored, every other line passes flood control. Consecutive text lines
    of one read reach the room as one batch (which the daemon's room relays
    with everything else said in the same reactor turn: one write per
    recipient per turn); a command in between keeps its place.
    A read whose lines are all plain text within the limits (what a busy
    room is made of) is taken in one go, with the outcome C{lineReceived}
    would have on each line but without Python work per line.

    L{LineReceiver}'s own framing is replaced (C{dataReceived}) because it
    copies the rest of the buffer once per line and drops whatever follows
    an overlong line; C{MAX_LENGTH}, C{lineReceived} and
    C{lineLengthExceeded} keep their meaning, and at most C{MAX_LENGTH}
    bytes of an unfinished line are ever held.
    """

    delimiter = text.CRLF
    factory: ChatFactory

    def __init__(self) -> None:
        self.name = ""
        self.peer = "?"
        self.address: str | None = None
        # Made when the first telnet command (byte 255) arrives.
        self._telnet: TelnetServerSide | None = None
        # Until the connection has shown it is a chat client: its first bytes.
        self._probing = False
        self._probed = b""
        self._probes = 0
        self._joined = False
        # This connection's record of the limit hits it logged (LimitLog).
        self._logged: dict[str, list[float]] | None = None
        # Lines the rate refused that the client has not been told about.
        self._unreported_refusals = 0
        self._partial = b""
        self._discarding = False
        self._batch: list[str] = []
        self._outbound: OutboundQueue | None = None
        self.send = _not_connected
        self._flood: FloodControl | None = None
        self._admitted = False
        self._tcp = False
        self._closing = False
        #: Why we closed (a metrics label) and how to say it in the log.
        self._close_reason = ""
        self._close_description = ""

    # Twisted's hooks

    def connectionMade(self) -> None:
        transport = self.transport
        assert transport is not None
        factory = self.factory
        limits = factory.limits
        self.peer, self.address = describe_peer(transport)
        fileno = getattr(transport, "fileno", None)
        refused = factory.refusal(self.address, fileno() if fileno else None)
        if refused is not None:
            limit, refusal = refused
            factory.limit_hits[limit] += 1
            factory.limit_log.hit(
                factory.refusals_logged(self.address),
                limit,
                "{peer} refused: {reason}",
                LogLevel.warn,
                peer=self.peer,
                reason=refusal,
            )
            self._closing = True
            transport.write(text.ERROR.encode(text=refusal))
            transport.loseConnection()
            return
        self._admitted = True
        self.MAX_LENGTH = limits.max_line_length
        if ITCPTransport.providedBy(transport):
            self._tcp = True
            # Chat lines are small and latency matters more than packet count;
            # keepalive finds peers that vanished without a FIN or RST.
            transport.setTcpNoDelay(True)
            set_keepalive(transport, limits.keepalive)
        self._outbound = OutboundQueue(
            transport,
            limits.max_queue,
            self._overflowed,
            self._write_changed,
            self._queue_changed,
        )
        self.send = self._outbound.write
        self.callLater = factory.clock.callLater  # type: ignore[assignment]
        factory.connection_opened(self)
        factory.throttle.add(self, transport)  # type: ignore[arg-type]
        self._probing = True
        factory.probe_timer.start(self._probe_ended)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._closing = True
        if not self._admitted:
            return
        self._probing = False
        self.setTimeout(None)
        self.factory.disconnects[self._close_reason or _reason_name(reason)] += 1
        self.factory.throttle.remove(self)
        if self._joined:
            self.factory.room.leave(self)
        self.factory.connection_closed(self)
        if self._joined:
            log.info(
                "{peer} ({name}) disconnected: {reason}",
                peer=self.peer,
                name=self.name,
                reason=self._close_description or reason.getErrorMessage(),
            )
        elif not self._close_reason:
            log.info("{peer} disconnected before joining", peer=self.peer)

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        if self._probing:
            self._probed += data
            kind = classify(self._probed)
            if kind is Kind.UNSURE:
                return
            self._admit(kind)
            return
        self._receive(data)

    def _probe_ended(self) -> None:
        """The first bytes took their time: a chat client, or still unsure."""
        if not self._probing or self._closing:
            return  # it spoke, or left, in the meantime
        self._probes += 1
        unsure = self._probed and classify(self._probed) is Kind.UNSURE
        if unsure and self._probes < MOST_PROBES:
            self.factory.probe_timer.start(self._probe_ended)
            return
        self._admit(Kind.CHAT)

    def _admit(self, kind: Kind) -> None:
        """Join the room (a chat client) or answer a stranger and close."""
        self._probing = False
        first, self._probed = self._probed, b""
        if kind is not Kind.CHAT:
            self._limit_hit(
                "not_chat",
                "{peer} is not a chat client ({kind}): answered and closed",
                LogLevel.warn,
                counted=False,
                kind=kind.value,
            )
            self._set_close_reason("not_chat", f"not a chat client ({kind.value})")
            self.send(HTTP_ANSWER if kind is Kind.HTTP else TLS_ALERT)
            self.close()
            return
        self._joined = True
        self.setTimeout(self.factory.limits.idle_timeout or None)
        self.factory.room.join(self)
        log.info("{peer} connected as {name}", peer=self.peer, name=self.name)
        if first:
            self._receive(first)

    def _receive(self, data: bytes) -> None:
        """Bytes from a chat client: through telnet if it speaks it, then lines."""
        self.resetTimeout()
        if self._telnet is None and b"\xff" in data:
            self._telnet = TelnetServerSide(
                self._frame, self._send_now, ARE_YOU_THERE, self._write_changed
            )
            self._telnet.start()
        if self._telnet is not None:
            self._telnet.feed(data)
        else:
            self._frame(data)
        self._flush_batch()
        if self._tcp:
            # The next read's size, by the size of the room (see read_size).
            self.transport.bufferSize = read_size(len(self.factory.room))  # type: ignore[union-attr]

    def _send_now(self, data: bytes) -> None:
        """Telnet's answers and echo, in order with everything else sent."""
        assert self._outbound is not None
        self._outbound.write(data)

    def _frame(self, data: bytes) -> None:
        """Split data bytes into lines; keep the unfinished one."""
        if self._closing:
            return
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        if lines and not self._discarding and self._take_plain(lines):
            lines = []
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
        partial = self._partial
        if self._discarding:
            self._partial = b""
        elif len(partial) - partial.endswith(b"\r") > self.MAX_LENGTH:
            # A CR waiting for its LF is the line's end, not part of it.
            self._partial = b""
            self._discarding = True
            self.lineLengthExceeded(b"")

    def lineReceived(self, line: bytes) -> None:
        self.factory.lines_received += 1
        if self._telnet is not None:
            line = apply_edits(line)
        if not line.isascii() and not _is_utf8(line):
            self._refuse_not_utf8()
            return
        cleaned = text.clean_text(line)
        if not cleaned.strip() or not self._within_rate():
            return
        command = split_command(cleaned)
        if command is None:
            self._batch.append(unescape_text(cleaned))
            return
        self._flush_batch()
        # The reply follows whatever this connection has been sent so far,
        # refusals included: a script that ends with a command knows, once
        # it is answered, how many of its lines were not sent.
        self.factory.room.relay()
        if self._unreported_refusals:
            self._report_refusals()
        run_command(self, self.factory.room, *command)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._flush_batch()
        self._limit_hit(
            "line_length",
            "{peer} ({name}) sent a line over {limit} bytes",
            limit=self.MAX_LENGTH,
        )
        self.send(text.LINE_TOO_LONG.encode(length=self.MAX_LENGTH))

    def timeoutConnection(self) -> None:
        self._flush_batch()
        self.send(
            text.ERROR.encode(
                text=f"Disconnected: idle for {self.factory.limits.idle_timeout:g} s."
            )
        )
        self._set_close_reason("idle", "idle timeout")
        self.close()

    def apply_limits(self, limits: Limits) -> None:
        """Take new limits (a reload) without interrupting the connection."""
        self.MAX_LENGTH = limits.max_line_length
        if self._outbound is not None:
            self._outbound.max_queue = limits.max_queue
        if self._flood is not None:
            self._flood.rate = limits.rate
            self._flood.burst = max(limits.burst, 1)
            self._flood.disconnect_after = limits.flood_timeout
        idle_timeout = limits.idle_timeout or None
        if self._joined and not self._closing and idle_timeout != self.timeOut:
            # Only a new value restarts the timer: reloads must not keep an
            # idle client alive.
            self.setTimeout(idle_timeout)

    # The room's Member interface

    #: Queue bytes for this connection: L{OutboundQueue.write}, rebound as
    #: the flow changes so the fan-out calls the transport directly.
    send: Callable[[bytes], None]

    def close(self) -> None:
        """Close once everything queued has been written."""
        self._closing = True
        if self._outbound is not None:
            self._outbound.close()

    # Internals

    def _take_plain(self, raws: list[bytes]) -> bool:
        """
        Relay all of C{raws}, complete lines of one read, if none needs a
        closer look: no line too long, none a command, none with anything
        to clean, none blank, and the rate allows them all. Otherwise do
        nothing and return False; L{lineReceived} then takes them one by one.
        """
        block = b"\n".join(raws)
        if b"\r" in block:
            # CRLF line ends are fine (telnet sends them); any other CR is
            # a control character, which plain_lines refuses.
            block = block.replace(b"\r\n", b"\n").removesuffix(b"\r")
        if max(map(len, raws)) > self.MAX_LENGTH or may_hold_commands(block):
            return False
        lines = text.plain_lines(block)
        if lines is None or not self._flood_control().accept_all(len(lines)):
            return False
        self.factory.lines_received += len(lines)
        self._batch.extend(lines)
        return True

    def _refuse_not_utf8(self) -> None:
        self._flush_batch()
        self._limit_hit("not_utf8", "{peer} ({name}) sent a line that is not UTF-8")
        self.send(
            text.ERROR.encode(
                text="Not sent: that line is not UTF-8 text "
                "(is your terminal set to UTF-8?)."
            )
        )

    def _flood_control(self) -> FloodControl:
        if self._flood is None:
            # Made on the first line: idle connections (thousands) never pay.
            limits = self.factory.limits
            self._flood = FloodControl(
                limits.rate, limits.burst, self.factory.clock, limits.flood_timeout
            )
        return self._flood

    def _within_rate(self) -> bool:
        verdict = self._flood_control().check()
        if verdict is Verdict.ACCEPT:
            return True
        self._flush_batch()
        limits = self.factory.limits
        self._limit_hit("rate", "{peer} ({name}) over the line rate")
        self._unreported_refusals += 1
        if verdict is Verdict.REFUSE_WITH_NOTICE:
            self._report_refusals()
        elif verdict is Verdict.DISCONNECT:
            self.send(
                text.ERROR.encode(
                    text=f"Disconnected: flooding for {limits.flood_timeout:g} s."
                )
            )
            self._limit_hit(
                "flooding",
                "{peer} ({name}) disconnected for flooding",
                LogLevel.warn,
                counted=False,
            )
            self._set_close_reason("flooding", "flooding")
            self.close()
        return False

    def _report_refusals(self) -> None:
        """Tell the client how many of its lines the rate refused, unsaid."""
        limits = self.factory.limits
        self.send(
            text.SLOW_DOWN.encode(
                rate=text.plain_number(limits.rate),
                burst=limits.burst,
                count=self._unreported_refusals,
            )
        )
        self._unreported_refusals = 0

    @property
    def limits(self) -> Limits:
        """The limits this connection is held to (what /limits reports)."""
        return self.factory.limits

    def _write_changed(self) -> None:
        outbound = self._outbound
        assert outbound is not None
        write = outbound.write
        telnet = self._telnet
        if telnet is not None and telnet.echoing:
            # Lines from the room go above what the person is typing.
            self.send = lambda data: write(telnet.around_typed(data))
        else:
            self.send = write

    def _queue_changed(self, nbytes: int, moved: bool) -> None:
        self.factory.throttle.queued(self, nbytes, moved)

    def _limit_hit(
        self,
        which: str,
        format: str,
        level: LogLevel = LogLevel.info,
        counted: bool = True,
        **fields: object,
    ) -> None:
        """
        Count a hit of the limit C{which} (unless not C{counted}: a
        disconnect reason counts it instead); log it unless that logs too
        much (L{LimitLog}).
        """
        if counted:
            self.factory.limit_hits[which] += 1
        if self._logged is None:
            self._logged = {}
        self.factory.limit_log.hit(
            self._logged, which, format, level, peer=self.peer, name=self.name, **fields
        )

    def _set_close_reason(self, reason: str, description: str) -> None:
        self._close_reason, self._close_description = reason, description

    def _flush_batch(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self.factory.room.say(self, batch)

    def _overflowed(self) -> None:
        self._limit_hit(
            "max_queue",
            "{peer} ({name}) dropped: not reading, output queue over {limit} bytes",
            LogLevel.warn,
            limit=self.factory.limits.max_queue,
        )
        self._closing = True
        self._set_close_reason("not_reading", "output queue full (not reading)")
        # Drop at once: what is buffered will never be read anyway.
        transport = self.transport
        assert transport is not None
        getattr(transport, "abortConnection", transport.loseConnection)()
