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

    Guarantees: bytes reach the transport in the order they were written;
    at most C{max_queue} bytes wait here (beyond the transport's own buffer,
    which Twisted keeps to about 64 KiB while a producer is registered); when
    that would be exceeded C{on_overflow} is called once and everything
    queued is dropped.
    """

    def __init__(
        self,
        transport: ITransport,
        max_queue: int,
        on_overflow: Callable[[], None],
    ) -> None:
        self._transport = transport
        self._max_queue = max_queue
        self._on_overflow = on_overflow
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._paused = False
        self._closed = False
        transport.registerProducer(self, True)  # type: ignore[attr-defined]

    @property
    def queued_bytes(self) -> int:
        """Bytes held here, not yet handed to the transport."""
        return self._pending_bytes

    @property
    def paused(self) -> bool:
        """Whether the transport has asked us to stop writing."""
        return self._paused

    def write(self, data: bytes) -> None:
        """Hand C{data} to the transport now, or queue it while paused."""
        if self._closed:
            return
        if not self._paused:
            self._transport.write(data)
            return
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._max_queue and self._pending_bytes > self._max_queue:
            self._drop()
            self._on_overflow()

    def close(self) -> None:
        """
        Flush what is queued, then close the transport once it has been sent.
        """
        if self._closed:
            return
        self._closed = True
        if self._pending:
            self._transport.write(b"".join(self._pending))
            self._drop()
        # The transport will not close while a producer is registered.
        self._transport.unregisterProducer()  # type: ignore[attr-defined]
        self._transport.loseConnection()

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        # Writing may pause us again at once: keep the rest for next time.
        while self._pending and not self._paused:
            data = self._pending.popleft()
            self._pending_bytes -= len(data)
            self._transport.write(data)

    def stopProducing(self) -> None:
        self._closed = True
        self._drop()

    def _drop(self) -> None:
        self._pending.clear()
        self._pending_bytes = 0
