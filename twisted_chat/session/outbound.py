"""
One member's outgoing bytes, with flow control and a hard cap.

L{OutboundQueue} sits between the room and a transport. It registers itself
with the transport as a streaming producer, so Twisted tells it when the
socket stops draining (C{pauseProducing}) and when it drains again
(C{resumeProducing}). While paused it keeps what the room sends in its own
queue, and past C{max_queue} bytes it gives up on that member instead of
letting the server's memory grow for one client that never reads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from twisted.internet.interfaces import IPushProducer, ITransport
from zope.interface import implementer

#: The most bytes handed to the transport at once when it drains.
HANDOFF = 256 * 1024


@implementer(IPushProducer)
class OutboundQueue:
    """
    Bytes waiting for one transport.

    C{write} is the entry point, and is rebound as the flow changes: while
    the socket drains it I{is} the transport's own C{write}, so the fan-out
    costs no Python call of ours per recipient; while paused it queues.
    C{on_write_change()} is called after each change, so a holder of
    C{write} can pick up the new one; C{on_queue_change(nbytes, moved)}
    whenever the bytes held for this client change: those queued here plus
    those handed to a transport that has not yet written them all. C{moved}
    is True when the change is progress: the transport drained.

    Guarantees: bytes reach the transport in the order they were written;
    at most C{max_queue} bytes wait here; when that would be exceeded
    C{on_overflow} is called once and everything queued is dropped. Twisted
    pauses us once the transport's own buffer holds more than its
    C{bufferSize} and resumes us once it has written all of it; we then hand
    it at most C{handoff} bytes of the queue (or one write, if larger), so
    all the daemon holds for a client beyond C{bufferSize} and one write is
    counted in C{nbytes}.
    """

    # Slots: one of these per connection, and thousands of connections.
    __slots__ = (
        "_closed",
        "_handed",
        "_handoff",
        "_on_overflow",
        "_on_queue_change",
        "_on_write_change",
        "_paused",
        "_pending",
        "_pending_bytes",
        "_transport",
        "max_queue",
        "write",
    )

    write: Callable[[bytes], None]

    def __init__(
        self,
        transport: ITransport,
        max_queue: int,
        on_overflow: Callable[[], None],
        on_write_change: Callable[[], None] = lambda: None,
        on_queue_change: Callable[[int, bool], None] = lambda nbytes, moved: None,
        handoff: int = HANDOFF,
    ) -> None:
        self._transport = transport
        self.max_queue = max_queue
        self._on_overflow = on_overflow
        self._on_write_change = on_write_change
        self._on_queue_change = on_queue_change
        self._handoff = handoff
        # Made on first use: most clients never need one, and an empty deque
        # costs about 600 bytes per connection.
        self._pending: deque[bytes] | None = None
        self._pending_bytes = 0
        # Bytes handed to the transport at the last resume that it still
        # holds (it paused us again at once), until the next resume.
        self._handed = 0
        self._paused = False
        self._closed = False
        self.write = transport.write
        transport.registerProducer(self, True)  # type: ignore[attr-defined]

    def close(self) -> None:
        """
        Flush what is queued, then close the transport once it has been sent.
        """
        if self._closed:
            return
        self._set_closed()
        if self._pending or self._handed:
            self._on_queue_change(0, False)
        if self._pending:
            self._transport.write(b"".join(self._pending))
        self._drop()
        # The transport will not close while a producer is registered.
        self._transport.unregisterProducer()  # type: ignore[attr-defined]
        self._transport.loseConnection()

    def pauseProducing(self) -> None:
        if self._paused or self._closed:
            return
        self._paused = True
        self.write = self._enqueue
        self._on_write_change()

    def resumeProducing(self) -> None:
        if not self._paused or self._closed:
            return
        # The transport has written everything it held, including what we
        # handed it last time: progress. Hand it the queue in parts of at
        # most C{handoff} bytes (so that a slow reader shows progress often)
        # until it pauses us again; the last part is then still held by the
        # daemon, and counted, until the next resume. Writes go straight to
        # the transport only once the queue is empty, so order is kept.
        self._paused = False
        self.write = self._transport.write
        self._on_write_change()
        if not (self._pending or self._handed):
            return
        self._handed = 0
        while self._pending and not self._paused:
            data = self._take(self._handoff)
            self._transport.write(data)
            if self._paused:
                self._handed = len(data)
        self._on_queue_change(self._pending_bytes + self._handed, True)

    def stopProducing(self) -> None:
        self._set_closed()
        if self._pending or self._handed:
            self._on_queue_change(0, False)
        self._drop()

    def _enqueue(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = deque()
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self.max_queue and self._pending_bytes > self.max_queue:
            self._set_closed()
            self._drop()
            self._on_queue_change(0, False)
            self._on_overflow()
        else:
            self._on_queue_change(self._pending_bytes + self._handed, False)

    def _take(self, most: int) -> bytes:
        """Whole writes from the front of the queue: one, or up to C{most} bytes."""
        pending = self._pending
        assert pending
        parts = [pending.popleft()]
        size = len(parts[0])
        while pending and size + len(pending[0]) <= most:
            part = pending.popleft()
            parts.append(part)
            size += len(part)
        self._pending_bytes -= size
        if not pending:
            self._pending = None
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _set_closed(self) -> None:
        self._closed = True
        self._paused = False
        self.write = _discard
        self._on_write_change()

    def _drop(self) -> None:
        self._pending = None
        self._pending_bytes = 0
        self._handed = 0


def _discard(data: bytes) -> None:
    """Where writes go once the queue is closed."""
