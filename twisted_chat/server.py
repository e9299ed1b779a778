"""
The chat server: a factory that owns the room, the limits and the count of
live connections.
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.internet.protocol import ServerFactory

from twisted_chat.protocol import ChatProtocol
from twisted_chat.room import Room


@dataclass(frozen=True)
class Limits:
    """What one client may cost the server."""

    #: Longest line accepted, in bytes as received.
    max_line_length: int = 2048
    #: Output queued for one client past the transport's buffer; 0: no cap.
    max_queue: int = 1024 * 1024


class ChatFactory(ServerFactory):
    """
    Builds a L{ChatProtocol} for each connection, all in one L{Room}.
    """

    # Factory types this as building any Protocol; ours builds ChatProtocol.
    protocol = ChatProtocol  # type: ignore[assignment]

    def __init__(self, room: Room, limits: Limits | None = None) -> None:
        self.room = room
        self.limits = limits if limits is not None else Limits()
        self.connections: set[ChatProtocol] = set()
        self._empty_waiters: list[Deferred[None]] = []

    def connection_opened(self, protocol: ChatProtocol) -> None:
        """Count C{protocol} as live until L{connection_closed}."""
        self.connections.add(protocol)

    def connection_closed(self, protocol: ChatProtocol) -> None:
        """Forget C{protocol}; fire the waiters once no connection is left."""
        self.connections.discard(protocol)
        if not self.connections:
            waiters, self._empty_waiters = self._empty_waiters, []
            for waiter in waiters:
                waiter.callback(None)

    def wait_until_empty(self) -> Deferred[None]:
        """A L{Deferred} that fires once no connection is left."""
        waiter: Deferred[None] = Deferred()
        if self.connections:
            self._empty_waiters.append(waiter)
        else:
            waiter.callback(None)
        return waiter
