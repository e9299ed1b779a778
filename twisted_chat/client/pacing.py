"""
What a server allows a client, and how the client keeps within it: the
server's line formats for its limits and its refusals, and a token bucket
(L{LineBudget}) that paces lines safely inside the server's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from twisted.internet.interfaces import IReactorTime

from twisted_chat import text

LIMITS = text.LIMITS
SLOW_DOWN = text.SLOW_DOWN
LINE_TOO_LONG = text.LINE_TOO_LONG
#: What a server without /limits answers to it.
UNKNOWN_LIMITS = text.LineFormat(text.UNKNOWN_COMMAND.format(word="limits"))
#: A slow-down notice without its count (servers before /limits existed).
ANY_SLOW_DOWN = text.LineFormat(SLOW_DOWN.template.partition("; ")[0] + "; {text}")

#: Our pace, as a share of the server's rate; our bursts are half its own.
PACE_SHARE = 0.8


@dataclass(frozen=True)
class ServerLimits:
    """
    A server's limits: C{rate} lines a second after bursts of C{burst},
    C{length} bytes a line; 0 for the rate or the length means none.
    """

    rate: float
    burst: int
    length: int

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> ServerLimits | None:
        """The limits a parsed LIMITS line states, or None if they make no sense."""
        try:
            limits = cls(
                float(fields["rate"]), int(fields["burst"]), int(fields["length"])
            )
        except ValueError:
            return None
        if (
            not math.isfinite(limits.rate)
            or min(limits.rate, limits.burst, limits.length) < 0
        ):
            return None
        return limits


#: The server's documented defaults, for a server that does not answer
#: /limits; its line length is then unknown (0), so the server judges it.
DOCUMENTED_DEFAULTS = ServerLimits(rate=5.0, burst=20, length=0)


class LineBudget:
    """
    A token bucket that keeps our lines safely inside a server's own.

    Guarantees: over any T seconds at most C{max(1, burst // 2) + 0.8 * rate
    * T} lines are allowed (all of them when the rate is 0), so lines that
    travel unevenly (up to C{burst / (2 * rate)} seconds apart from how they
    were sent) still arrive within the server's limit.
    """

    def __init__(
        self, clock: IReactorTime, limits: ServerLimits, spent: int = 0
    ) -> None:
        self._clock = clock
        self.limits = limits
        self._tokens = float(self._capacity() - spent)
        self._updated = clock.seconds()

    def _capacity(self) -> int:
        return max(1, self.limits.burst // 2)

    def _refill(self) -> None:
        now = self._clock.seconds()
        if self.limits.rate:
            self._tokens = min(
                float(self._capacity()),
                self._tokens + (now - self._updated) * self.limits.rate * PACE_SHARE,
            )
        self._updated = now

    def adopt(self, limits: ServerLimits) -> None:
        """Limits learned from the server; what was spent stays spent."""
        self._refill()
        before = self._capacity()
        self.limits = limits
        capacity = self._capacity()
        self._tokens = min(self._tokens + capacity - before, float(capacity))

    def drained(self, rate: float, burst: int) -> None:
        """The server refused a line: its bucket is empty, and its rate is this."""
        self._refill()
        self.limits = replace(self.limits, rate=rate, burst=burst)
        self._tokens = min(self._tokens, 0.0)

    def delay(self) -> float:
        """Seconds until one more line may go (0: now)."""
        if not self.limits.rate:
            return 0.0
        self._refill()
        # With a margin for rounding: a wait too short to move the clock
        # would come back here for ever.
        if self._tokens >= 1.0 - 1e-9:
            return 0.0
        return max(0.001, (1.0 - self._tokens) / (self.limits.rate * PACE_SHARE))

    def spend(self) -> None:
        self._refill()
        self._tokens -= 1.0


def limits_answer(line: str) -> ServerLimits | None:
    """The limits stated by an answer to /limits (the defaults: /limits unknown)."""
    fields = LIMITS.parse(line)
    if fields is not None:
        return ServerLimits.from_fields(fields) or DOCUMENTED_DEFAULTS
    if UNKNOWN_LIMITS.parse(line) is not None:
        return DOCUMENTED_DEFAULTS
    return None
