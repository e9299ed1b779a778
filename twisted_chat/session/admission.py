"""
Who may come in: the limits on connections (in all, per IP address,
descriptors left), and the accounting of those that are open.
"""

from __future__ import annotations

import resource
from collections import Counter
from collections.abc import Hashable

from twisted.internet.defer import Deferred

#: Descriptors kept free for the daemon's own use (logs, listening sockets,
#: Twisted's own emergency reserve); a client whose socket lands in this
#: headroom is refused politely instead of the process running out.
DESCRIPTOR_HEADROOM = 16

#: Addresses whose refused connections are remembered for the log's sake;
#: past it the memory starts again (a refusal is then logged once more).
REFUSALS_REMEMBERED = 4096


def descriptor_limit() -> int:
    """The process's current soft limit on open file descriptors."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Admission:
    """
    The connections a daemon has let in, whatever their front end.

    Guarantees: L{refusal} names the reason a new connection may not come
    in (too many clients, too many from its address, descriptors running
    out) before any resource is given to it; L{connections} and the
    per-address counts cover exactly the admitted connections still open.
    """

    def __init__(self) -> None:
        self.connections: dict[Hashable, str | None] = {}
        self.per_address: Counter[str] = Counter()
        self.descriptor_limit = descriptor_limit()
        self._refusals_logged: dict[str | None, dict[str, list[float]]] = {}
        self._empty_waiters: list[Deferred[None]] = []

    def __len__(self) -> int:
        return len(self.connections)

    def refusals_logged(self, address: str | None) -> dict[str, list[float]]:
        """The L{LimitLog} record of connections refused from C{address}."""
        if len(self._refusals_logged) >= REFUSALS_REMEMBERED:
            self._refusals_logged.clear()
        return self._refusals_logged.setdefault(address, {})

    def in_headroom(self, descriptor: int) -> bool:
        """Whether socket C{descriptor} is in the daemon's own headroom."""
        return descriptor >= self.descriptor_limit - DESCRIPTOR_HEADROOM

    def refusal(
        self,
        address: str | None,
        descriptor: int | None,
        max_clients: int,
        max_per_ip: int,
    ) -> tuple[str, str] | None:
        """
        Why a new connection from C{address} (an IP, or None for a unix
        socket) on socket C{descriptor} must be refused, as (the limit's
        name, the line to tell the client), or None to admit it.
        """
        if max_clients and len(self.connections) >= max_clients:
            return (
                "max_clients",
                f"Server full ({max_clients} clients); try again later.",
            )
        if (
            address is not None
            and max_per_ip
            and self.per_address[address] >= max_per_ip
        ):
            return (
                "max_per_ip",
                f"Too many connections from {address} "
                f"(at most {max_per_ip}); try again later.",
            )
        if descriptor is not None and self.in_headroom(descriptor):
            return "descriptors", "Server out of file descriptors; try again later."
        return None

    def opened(self, connection: Hashable, address: str | None) -> None:
        """Count C{connection} (from C{address}) as open until L{closed}."""
        self.connections[connection] = address
        if address is not None:
            self.per_address[address] += 1

    def closed(self, connection: Hashable) -> None:
        """Forget C{connection}; fire the waiters once none is left."""
        if connection not in self.connections:
            return
        address = self.connections.pop(connection)
        if address is not None:
            self.per_address[address] -= 1
            if not self.per_address[address]:
                del self.per_address[address]
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
