"""
The chat server: a factory that owns the room, the limits and the
accounting of live connections (in all, per IP address, descriptors left).
"""

from __future__ import annotations

import resource
from collections import Counter
from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger

from twisted_chat.backpressure import ReadThrottle
from twisted_chat.flood import FLOOD_DISCONNECT_SECONDS
from twisted_chat.limitlog import LimitLog
from twisted_chat.probe import ProbeTimer
from twisted_chat.protocol import ChatProtocol
from twisted_chat.room import Room

#: Descriptors kept free for the daemon's own use (logs, listening sockets,
#: Twisted's own emergency reserve); a client whose socket lands in this
#: headroom is refused politely instead of the process running out.
DESCRIPTOR_HEADROOM = 16

#: Addresses whose refused connections are remembered for the log's sake;
#: past it the memory starts again (a refusal is then logged once more).
REFUSALS_REMEMBERED = 4096


@dataclass(frozen=True)
class Limits:
    """What one client, or all of them, may cost the server. 0 means no limit."""

    #: Longest line accepted, in bytes as received.
    max_line_length: int = 2048
    #: Output queued for one client past the transport's buffer.
    max_queue: int = 1024 * 1024
    #: Lines per second per client (token bucket refill rate).
    rate: float = 5.0
    #: Lines a client may send at once before the rate applies.
    burst: int = 20
    #: Seconds of flooding without pause before a client is disconnected.
    flood_timeout: float = FLOOD_DISCONNECT_SECONDS
    #: Connections in all.
    max_clients: int = 10000
    #: Connections from one IP address.
    max_per_ip: int = 20
    #: Seconds a client may stay silent before it is disconnected.
    idle_timeout: float = 0.0
    #: Seconds of silence on a connection before TCP asks whether the peer
    #: is still there; one that does not answer is gone after three times
    #: as long. 0 leaves keepalive off.
    keepalive: float = 60.0


def descriptor_limit() -> int:
    """The process's current soft limit on open file descriptors."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class ChatFactory(ServerFactory):
    """
    Builds a L{ChatProtocol} for each connection, all in one L{Room}.

    Guarantees: L{refusal} names the reason a new connection may not join
    (too many clients, too many from its address, descriptors running out)
    before any resource is given to it; L{connections} and the per-address
    counts cover exactly the admitted connections that are still open.
    """

    # Factory types this as building any Protocol; ours builds ChatProtocol.
    protocol = ChatProtocol  # type: ignore[assignment]

    def __init__(
        self,
        room: Room,
        limits: Limits | None = None,
        clock: IReactorTime | None = None,
    ) -> None:
        self.room = room
        self.limits = limits if limits is not None else Limits()
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        self.clock: IReactorTime = clock
        self.connections: set[ChatProtocol] = set()
        self.per_address: Counter[str] = Counter()
        self.descriptor_limit = descriptor_limit()
        self.throttle = ReadThrottle(self.clock)
        # Plain counters, cheap to bump; twisted_chat.metrics exports them.
        self.lines_received = 0
        self.limit_hits: Counter[str] = Counter()
        self.disconnects: Counter[str] = Counter()
        self.limit_log = LimitLog(self.clock, Logger(namespace="twisted_chat.protocol"))
        #: When each new connection's time to show what it is runs out.
        self.probe_timer = ProbeTimer(self.clock)
        self._refusals_logged: dict[str | None, dict[str, list[float]]] = {}
        self._empty_waiters: list[Deferred[None]] = []

    def refusals_logged(self, address: str | None) -> dict[str, list[float]]:
        """The L{LimitLog} record of connections refused from C{address}."""
        if len(self._refusals_logged) >= REFUSALS_REMEMBERED:
            self._refusals_logged.clear()
        return self._refusals_logged.setdefault(address, {})

    def refusal(
        self, address: str | None, descriptor: int | None
    ) -> tuple[str, str] | None:
        """
        Why a new connection from C{address} (an IP, or None for a unix
        socket) on socket C{descriptor} must be refused, as (the limit's
        name, the line to tell the client), or None to admit it.
        """
        limits = self.limits
        if limits.max_clients and len(self.connections) >= limits.max_clients:
            return (
                "max_clients",
                f"Server full ({limits.max_clients} clients); try again later.",
            )
        if (
            address is not None
            and limits.max_per_ip
            and self.per_address[address] >= limits.max_per_ip
        ):
            return (
                "max_per_ip",
                f"Too many connections from {address} "
                f"(at most {limits.max_per_ip}); try again later.",
            )
        if (
            descriptor is not None
            and descriptor >= self.descriptor_limit - DESCRIPTOR_HEADROOM
        ):
            return "descriptors", "Server out of file descriptors; try again later."
        return None

    def apply_limits(self, limits: Limits) -> None:
        """New limits for new connections and, at once, for every open one."""
        self.limits = limits
        for protocol in list(self.connections):
            protocol.apply_limits(limits)

    def connection_opened(self, protocol: ChatProtocol) -> None:
        """Count C{protocol} as live until L{connection_closed}."""
        self.connections.add(protocol)
        if protocol.address is not None:
            self.per_address[protocol.address] += 1

    def connection_closed(self, protocol: ChatProtocol) -> None:
        """Forget C{protocol}; fire the waiters once no connection is left."""
        if protocol not in self.connections:
            return
        self.connections.discard(protocol)
        if protocol.address is not None:
            self.per_address[protocol.address] -= 1
            if not self.per_address[protocol.address]:
                del self.per_address[protocol.address]
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
