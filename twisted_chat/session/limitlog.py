"""
Logging limit hits so that an attack cannot flood the log.

Every limit hit is counted (the metrics have them all); what reaches the
log is thinned twice: each connection logs each limit at most once per
L{PER_CONNECTION_SECONDS}, and all connections together at most
L{LINES_PER_SECOND} lines a second (after a burst). A line that is logged
says how many like it were left out, so nothing is hidden, only summed.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger, LogLevel

#: How often one connection may log the same limit.
PER_CONNECTION_SECONDS = 5.0
#: How many limit lines the whole daemon may log a second, and at once.
LINES_PER_SECOND = 2.0
BURST = 20


class LimitLog:
    """
    The daemon's log of limit hits.

    Guarantees: over any T seconds at most C{BURST + LINES_PER_SECOND * T}
    lines are logged through it; one connection (one C{state} dict) logs
    a given limit at most once per L{PER_CONNECTION_SECONDS}; each line
    logged ends with how many hits of that limit on that connection went
    unlogged before it (C{suppressed}), and how many hits of any limit
    anywhere went unlogged since the last line logged (C{unlogged}).
    """

    #: Appended to every line logged.
    SUFFIX = " (not logged before this: {suppressed} here, {unlogged} in all)"

    def __init__(self, clock: IReactorTime, log: Logger) -> None:
        self._clock = clock
        self._log = log
        self._tokens = float(BURST)
        self._updated = clock.seconds()
        self._unlogged = 0

    def hit(
        self,
        state: dict[str, list[float]],
        which: str,
        format: str,
        level: LogLevel = LogLevel.info,
        **fields: Any,
    ) -> None:
        """
        Log C{format} (with C{fields}) for a hit of the limit C{which} on the
        connection whose own record is C{state}, unless that would log too
        much. C{state} starts empty and belongs to the connection.
        """
        now = self._clock.seconds()
        record = state.get(which)
        if record is not None and now - record[0] < PER_CONNECTION_SECONDS:
            record[1] += 1
            self._unlogged += 1
            return
        self._tokens = min(
            float(BURST), self._tokens + (now - self._updated) * LINES_PER_SECOND
        )
        self._updated = now
        if self._tokens < 1.0:
            if record is None:
                state[which] = [float("-inf"), 1.0]
            else:
                record[1] += 1
            self._unlogged += 1
            return
        self._tokens -= 1.0
        suppressed = int(record[1]) if record is not None else 0
        state[which] = [now, 0.0]
        unlogged, self._unlogged = self._unlogged, 0
        self._log.emit(
            level,
            format + self.SUFFIX,
            suppressed=suppressed,
            unlogged=unlogged,
            **fields,
        )
