"""
Telling a chat client from a client that came to the wrong port.

A web browser, C{curl} or a TLS client (our own client with C{--tls}, or
C{openssl s_client}, against a plain port) speaks first, at once; a chat
client (telnet, nc) either says nothing or types text. L{classify} looks
at the first bytes of a connection and tells which; the daemon answers the
strangers in words they understand (L{HTTP_ANSWER}, L{TLS_ALERT}) and never
lets their bytes reach a room.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime

#: How long a new connection has to show what it is before it is taken
#: for a chat client that has not typed yet. Browsers and TLS clients send
#: their first bytes within a round trip of connecting.
PROBE_SECONDS = 0.1


class Kind(enum.Enum):
    """What the first bytes of a connection say it is."""

    CHAT = "chat"
    HTTP = "http"
    TLS = "tls"
    #: Too few bytes yet to tell.
    UNSURE = "unsure"


# A TLS record: content type 22 (handshake), then protocol version 3.x.
_TLS_RECORD = b"\x16\x03"
_HTTP_METHODS = (
    b"GET",
    b"HEAD",
    b"POST",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PRI",  # HTTP/2's connection preface
)
_HTTP_REQUEST = re.compile(rb"(?:%s) \S+ HTTP/\d" % b"|".join(_HTTP_METHODS))
#: Enough bytes to see "OPTIONS /x HTTP/1" or give up on it.
_HTTP_LOOK_AHEAD = 512


def classify(first: bytes) -> Kind:
    """
    What a connection whose first bytes are C{first} is.

    Guarantees: L{Kind.UNSURE} only while C{first} could still become an
    HTTP request line or a TLS record, and never for more than
    C{_HTTP_LOOK_AHEAD} bytes; text a person types (which does not start
    with an HTTP method in capitals followed by a path and C{HTTP/}) is
    L{Kind.CHAT}.
    """
    if first.startswith(_TLS_RECORD):
        return Kind.TLS
    if _TLS_RECORD.startswith(first):
        return Kind.UNSURE
    if _HTTP_REQUEST.match(first):
        return Kind.HTTP
    if len(first) >= _HTTP_LOOK_AHEAD or b"\n" in first:
        return Kind.CHAT
    method, *rest = first.split(b" ", 2)
    if not rest:
        could_be = any(known.startswith(method) for known in _HTTP_METHODS)
        return Kind.UNSURE if could_be else Kind.CHAT
    if method not in _HTTP_METHODS or (rest[0] == b"" and len(rest) > 1):
        return Kind.CHAT
    if len(rest) == 1:
        return Kind.UNSURE  # "GET /path" so far
    version = rest[1]
    could_be = version.startswith(b"HTTP/") or b"HTTP/".startswith(version)
    return Kind.UNSURE if could_be else Kind.CHAT


_HTTP_BODY = (
    b"This is a twisted_chat chat port, not a web server.\r\n"
    b"Join the chat with: telnet HOST PORT, or nc HOST PORT.\r\n"
)

#: What an HTTP client gets: a plain-text page saying where it is.
HTTP_ANSWER = (
    b"HTTP/1.0 400 Bad Request\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\n"
    b"Connection: close\r\n"
    b"\r\n" % len(_HTTP_BODY)
) + _HTTP_BODY

#: What a TLS client gets: a fatal "handshake failure" alert, the one TLS
#: answer every TLS library reports as a failed handshake.
TLS_ALERT = b"\x15\x03\x01\x00\x02\x02\x28"


class ProbeTimer:
    """
    Calls each callback given to L{start} L{PROBE_SECONDS} later, in the
    order given, with one timed call for all of them.

    A DelayedCall per connection would cost about 600 bytes each while it
    waits: 6 MB at the moment 10,000 clients connect. A callback cannot be
    cancelled: it is called anyway, and must do nothing when it is no
    longer wanted.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._waiting: deque[tuple[float, Callable[[], None]]] = deque()
        self._call: IDelayedCall | None = None

    def start(self, callback: Callable[[], None]) -> None:
        """Call C{callback} in L{PROBE_SECONDS}."""
        self._waiting.append((self._clock.seconds() + PROBE_SECONDS, callback))
        if self._call is None:
            self._call = self._clock.callLater(PROBE_SECONDS, self._fire)

    def _fire(self) -> None:
        self._call = None
        now = self._clock.seconds()
        waiting = self._waiting
        while waiting and waiting[0][0] <= now:
            waiting.popleft()[1]()
        if waiting:
            self._call = self._clock.callLater(
                max(waiting[0][0] - now, 0.0), self._fire
            )
