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


@implementer(IPushProducer)
class OutboundQueue:
    """
    Bytes waiting for one transport.

    C{write} is the entry point, and is rebound as the flow changes: while
    the socket drains it I{is} the transport's own C{write}, so the fan-out
    costs no Python call of ours per recipient; while paused it queues.
    C{on_flow_change(paused)} is called after each change, so a holder of
    C{write} can pick up the new one.

    Guarantees: bytes reach the transport in the order they were written;
    at most C{max_queue} bytes wait here (beyond the transport's own buffer,
    which Twisted keeps to about 64 KiB while a producer is registered); when
    that would be exceeded C{on_overflow} is called once and everything
    queued is dropped.
    """

    write: Callable[[bytes], None]

    def __init__(
        self,
        transport: ITransport,
        max_queue: int,
        on_overflow: Callable[[], None],
        on_flow_change: Callable[[bool], None] = lambda paused: None,
    ) -> None:
        self._transport = transport
        self.max_queue = max_queue
        self._on_overflow = on_overflow
        self._on_flow_change = on_flow_change
        # Made on first use: most clients never need one, and an empty deque
        # costs about 600 bytes per connection.
        self._pending: deque[bytes] | None = None
        self._pending_bytes = 0
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
        self._on_flow_change(True)

    def resumeProducing(self) -> None:
        if not self._paused or self._closed:
            return
        self._paused = False
        # Writing may pause us again at once: keep the rest for next time.
        pending = self._pending
        while pending and not self._paused:
            data = pending.popleft()
            self._pending_bytes -= len(data)
            self._transport.write(data)
        if not self._paused:
            self.write = self._transport.write
            self._on_flow_change(False)

    def stopProducing(self) -> None:
        self._set_closed()
        self._drop()

    def _enqueue(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = deque()
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self.max_queue and self._pending_bytes > self.max_queue:
            self._set_closed()
            self._drop()
            self._on_overflow()

    def _set_closed(self) -> None:
        self._closed = True
        self.write = _discard
        if self._paused:
            self._paused = False
            self._on_flow_change(False)

    def _drop(self) -> None:
        self._pending = None
        self._pending_bytes = 0


def _discard(data: bytes) -> None:
    """Where writes go once the queue is closed."""
