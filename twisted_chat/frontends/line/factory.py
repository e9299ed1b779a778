"""The line front end's factory: one L{LineProtocol} per connection."""

from __future__ import annotations

from twisted.internet.protocol import ServerFactory

from twisted_chat.core.limits import Limits
from twisted_chat.frontends.line.probe import ProbeTimer
from twisted_chat.frontends.line.protocol import LineProtocol
from twisted_chat.session.services import Services


class LineFactory(ServerFactory):
    """
    Builds a L{LineProtocol} for each connection, each with a session over
    the daemon's shared L{Services}.

    Guarantees: L{protocols} holds exactly the admitted connections still
    open; L{apply_limits} reaches every one of them at once.
    """

    # Factory types this as building any Protocol; ours builds LineProtocol.
    protocol = LineProtocol  # type: ignore[assignment]

    def __init__(self, services: Services) -> None:
        self.services = services
        self.protocols: set[LineProtocol] = set()
        #: When each new connection's time to show what it is runs out.
        self.probe_timer = ProbeTimer(services.clock)

    def apply_limits(self, limits: Limits) -> None:
        """New limits for new connections and, at once, for every open one."""
        self.services.apply_limits(limits)
        for protocol in list(self.protocols):
            protocol.apply_limits(limits.max_line_length)
