"""
What one client, or all of them, may cost: the L{Limits}, and flood
control for one client (a token bucket, a throttle on the notices it
causes, and the rule that ends a flood that never pauses).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

#: By default, a client refused at least once a second for this long is
#: disconnected.
FLOOD_DISCONNECT_SECONDS = 30.0
#: At most one "slow down" notice per this many seconds.
NOTICE_INTERVAL_SECONDS = 1.0


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


class Verdict(enum.Enum):
    """What to do with one line."""

    ACCEPT = "accept"
    #: Refuse the line and tell the client why.
    REFUSE_WITH_NOTICE = "refuse with notice"
    #: Refuse the line; a notice went out less than a second ago.
    REFUSE = "refuse"
    #: The client has flooded without pause for too long: disconnect it.
    DISCONNECT = "disconnect"


class FloodControl:
    """
    Decides, line by line, whether a client is within its rate.

    Guarantees: over any interval of T seconds at most C{burst + rate * T}
    lines are accepted; every refused line is either announced by a notice
    or follows one sent less than L{NOTICE_INTERVAL_SECONDS} ago; a client
    refused at least once per second for C{disconnect_after} seconds gets
    L{Verdict.DISCONNECT}. A rate of 0 accepts everything.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: IReactorTime,
        disconnect_after: float = FLOOD_DISCONNECT_SECONDS,
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self.disconnect_after = disconnect_after
        self._clock = clock
        self._tokens = float(self.burst)
        self._updated = clock.seconds()
        self._last_notice: float | None = None
        self._flood_started: float | None = None
        self._last_refusal: float | None = None

    def check(self) -> Verdict:
        """The verdict on one more line, arriving now."""
        if not self.rate:
            return Verdict.ACCEPT
        now = self._clock.seconds()
        self._tokens = min(
            float(self.burst), self._tokens + (now - self._updated) * self.rate
        )
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return Verdict.ACCEPT
        return self._refuse(now)

    def accept_all(self, count: int) -> bool:
        """
        Accept C{count} lines arriving now if the rate allows every one of
        them, as C{count} calls of L{check} would; otherwise accept none and
        return False, so that L{check} can judge them one by one.
        """
        if not self.rate:
            return True
        now = self._clock.seconds()
        tokens = min(
            float(self.burst), self._tokens + (now - self._updated) * self.rate
        )
        if tokens < count:
            return False
        self._tokens, self._updated = tokens - count, now
        return True

    def _refuse(self, now: float) -> Verdict:
        if self._last_refusal is None or now - self._last_refusal > 1.0:
            self._flood_started = now  # a new flood, after a pause
        self._last_refusal = now
        assert self._flood_started is not None
        if now - self._flood_started >= self.disconnect_after:
            return Verdict.DISCONNECT
        if (
            self._last_notice is None
            or now - self._last_notice >= NOTICE_INTERVAL_SECONDS
        ):
            self._last_notice = now
            return Verdict.REFUSE_WITH_NOTICE
        return Verdict.REFUSE
