"""
What every session of one daemon shares: the hub, the limits in force, the
clock, admission, the read throttle, the limit log and the counters.
"""

from __future__ import annotations

from collections import Counter

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from twisted_chat.core.hub import Hub
from twisted_chat.core.limits import Limits
from twisted_chat.session.admission import Admission
from twisted_chat.session.limitlog import LimitLog
from twisted_chat.session.throttle import ReadThrottle


class Services:
    """
    Handed to each session (and to each front end's factory), so that a
    session needs nothing else from the daemon and is testable alone.

    C{limits} is replaced as a whole on reload (L{apply_limits}); every
    session reads it through here.
    """

    def __init__(
        self,
        hub: Hub,
        limits: Limits | None = None,
        clock: IReactorTime | None = None,
    ) -> None:
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        assert clock is not None
        self.hub = hub
        self.limits = limits if limits is not None else Limits()
        self.clock: IReactorTime = clock
        self.admission = Admission()
        self.throttle = ReadThrottle(clock)
        self.limit_log = LimitLog(clock, Logger(namespace="twisted_chat.session"))
        # Plain counters, cheap to bump; twisted_chat.metrics exports them.
        self.lines_received = 0
        self.limit_hits: Counter[str] = Counter()
        self.disconnects: Counter[str] = Counter()

    def apply_limits(self, limits: Limits) -> None:
        """New limits for new sessions and, at once, for every open one."""
        self.limits = limits
        for session in list(self.admission.connections):
            apply = getattr(session, "apply_limits", None)
            if apply is not None:
                apply(limits)
