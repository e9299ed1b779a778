"""
One line connection (telnet, nc, the terminal client): bytes in from the
socket, framed into lines for its L{Session}; the session's bytes out.
"""

from __future__ import annotations

import contextlib
import socket
from typing import TYPE_CHECKING

from twisted.internet import error
from twisted.internet.interfaces import ITCPTransport
from twisted.internet.protocol import connectionDone
from twisted.logger import LogLevel
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from twisted_chat import text
from twisted_chat.core.commands import may_hold_commands
from twisted_chat.frontends.line.probe import HTTP_ANSWER, TLS_ALERT, Kind, classify
from twisted_chat.frontends.line.render import LINE_RENDERER
from twisted_chat.frontends.line.telnet import TelnetServerSide, apply_edits
from twisted_chat.session.session import Session

if TYPE_CHECKING:
    from twisted_chat.frontends.line.factory import LineFactory


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


#: Bytes to read at once from a client, per member of the room (kept
#: within 4-64 KiB): see L{read_size}.
READ_PER_MEMBER = 16


def read_size(members: int) -> int:
    """
    How many bytes to read from a client at once in a room of C{members}.

    The hub relays once per reactor turn and shares one copy of the
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


def _reason_name(reason: Failure) -> str:
    """A metrics label for how a connection ended that we did not end."""
    if reason.check(error.ConnectionDone):
        return "closed"
    return "lost"


class LineProtocol(LineReceiver):
    """
    A person connected over a byte stream (telnet, nc, the terminal client).

    Admission: a connection joins the hub once its first bytes show a chat
    client (L{classify}), or after L{PROBE_SECONDS} of silence; an HTTP
    request or a TLS handshake is answered in its own terms and closed,
    and nothing of it reaches the hub.

    Input: a connection that sends a telnet command gets a telnet server
    (L{TelnetServerSide}: answers, BINARY, echo in character mode, line
    editing); lines end at LF (a CR before it is dropped; for telnet, any
    of CR LF, CR NUL and CR), and each goes to the session
    (L{Session.receive_line}). A read whose lines are all plain text
    within the limits (what a busy room is made of) is taken in one go,
    with the outcome each line would have but without Python work per line.

    L{LineReceiver}'s own framing is replaced (C{dataReceived}) because it
    copies the rest of the buffer once per line and drops whatever follows
    an overlong line; C{MAX_LENGTH}, C{lineReceived} and
    C{lineLengthExceeded} keep their meaning, and at most C{MAX_LENGTH}
    bytes of an unfinished line are ever held.
    """

    delimiter = text.CRLF
    factory: LineFactory

    def __init__(self) -> None:
        self.session: Session | None = None
        # Made when the first telnet command (byte 255) arrives.
        self._telnet: TelnetServerSide | None = None
        # Until the connection has shown it is a chat client: its first bytes.
        self._probing = False
        self._probed = b""
        self._probes = 0
        self._partial = b""
        self._discarding = False
        self._tcp = False

    @property
    def name(self) -> str:
        """The name of this connection's person (empty before joining)."""
        return self.session.name if self.session is not None else ""

    # Twisted's hooks

    def connectionMade(self) -> None:
        transport = self.transport
        assert transport is not None
        services = self.factory.services
        peer, address = describe_peer(transport)
        session = self.session = Session(
            services, transport, LINE_RENDERER, peer, address
        )
        fileno = getattr(transport, "fileno", None)
        if not session.admit(fileno() if fileno else None):
            return
        limits = services.limits
        self.MAX_LENGTH = limits.max_line_length
        if ITCPTransport.providedBy(transport):
            self._tcp = True
            # Chat lines are small and latency matters more than packet count;
            # keepalive finds peers that vanished without a FIN or RST.
            transport.setTcpNoDelay(True)
            set_keepalive(transport, limits.keepalive)
        self.factory.protocols.add(self)
        self._probing = True
        self.factory.probe_timer.start(self._probe_ended)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._probing = False
        self.factory.protocols.discard(self)
        if self.session is not None:
            self.session.connection_lost(reason.getErrorMessage(), _reason_name(reason))

    def dataReceived(self, data: bytes) -> None:
        session = self.session
        if session is None or session.closing:
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
        session = self.session
        if not self._probing or session is None or session.closing:
            return  # it spoke, or left, in the meantime
        self._probes += 1
        unsure = self._probed and classify(self._probed) is Kind.UNSURE
        if unsure and self._probes < MOST_PROBES:
            self.factory.probe_timer.start(self._probe_ended)
            return
        self._admit(Kind.CHAT)

    def _admit(self, kind: Kind) -> None:
        """Join the hub (a chat client) or answer a stranger and close."""
        session = self.session
        assert session is not None
        self._probing = False
        first, self._probed = self._probed, b""
        if kind is not Kind.CHAT:
            session.hit_limit(
                "not_chat",
                "{peer} is not a chat client ({kind}): answered and closed",
                LogLevel.warn,
                counted=False,
                kind=kind.value,
            )
            session.write_direct(HTTP_ANSWER if kind is Kind.HTTP else TLS_ALERT)
            session.close_as("not_chat", f"not a chat client ({kind.value})")
            return
        session.join()
        if first:
            self._receive(first)

    def _receive(self, data: bytes) -> None:
        """Bytes from a chat client: through telnet if it speaks it, then lines."""
        session = self.session
        assert session is not None
        session.activity()
        if self._telnet is None and b"\xff" in data:
            self._telnet = TelnetServerSide(
                self._frame, session.write_direct, ARE_YOU_THERE, self._echo_changed
            )
            self._telnet.start()
        if self._telnet is not None:
            self._telnet.feed(data)
        else:
            self._frame(data)
        session.end_of_read()
        if self._tcp:
            # The next read's size, by the size of the room (see read_size).
            room = self.factory.services.hub.room_of(session)
            self.transport.bufferSize = read_size(len(room) if room else 1)  # type: ignore[union-attr]

    def _frame(self, data: bytes) -> None:
        """Split data bytes into lines; keep the unfinished one."""
        session = self.session
        assert session is not None
        if session.closing:
            return
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        if lines and not self._discarding and self._take_plain(lines):
            lines = []
        for raw in lines:
            if session.closing:
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
        assert self.session is not None
        if self._telnet is not None:
            line = apply_edits(line)
        self.session.receive_line(line)

    def lineLengthExceeded(self, line: bytes) -> None:
        assert self.session is not None
        self.session.line_too_long(self.MAX_LENGTH)

    def apply_limits(self, max_line_length: int) -> None:
        """A new line length limit (a reload), at once."""
        self.MAX_LENGTH = max_line_length

    # Internals

    def _take_plain(self, raws: list[bytes]) -> bool:
        """
        Hand all of C{raws}, complete lines of one read, to the session in
        one go if none needs a closer look: no line too long, none a
        command, none with anything to clean, none blank, and the rate
        allows them all. Otherwise do nothing and return False;
        L{lineReceived} then takes them one by one.
        """
        block = b"\n".join(raws)
        if b"\r" in block:
            # CRLF line ends are fine (telnet sends them); any other CR is
            # a control character, which plain_lines refuses.
            block = block.replace(b"\r\n", b"\n").removesuffix(b"\r")
        if max(map(len, raws)) > self.MAX_LENGTH or may_hold_commands(block):
            return False
        lines = text.plain_lines(block)
        if lines is None:
            return False
        assert self.session is not None
        return self.session.receive_plain(lines)

    def _echo_changed(self) -> None:
        telnet = self._telnet
        assert self.session is not None and telnet is not None
        # Lines from the room go above what the person is typing.
        self.session.set_output_filter(telnet.around_typed if telnet.echoing else None)
