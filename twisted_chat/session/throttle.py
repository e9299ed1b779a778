"""
Back-pressure for the whole room: stop reading from everyone while the
room's output queues hold too many bytes, so a backlog waits in the senders'
TCP buffers (and slows the senders) instead of growing in the daemon.
"""

from __future__ import annotations

from collections.abc import Hashable

from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from twisted.logger import Logger

log = Logger()

#: A client with output waiting whose socket has not drained for this long
#: counts as stuck, not slow: it no longer holds the room back (its
#: --max-queue cap deals with it).
STUCK_SECONDS = 1.0

#: Bytes the room's output queues may hold before reading stops, and the
#: level they must fall back to before it resumes.
HIGH_WATER = 4 * 1024 * 1024
LOW_WATER = 1024 * 1024


class ReadThrottle:
    """
    Pauses and resumes reading on every connection, by the bytes queued for
    output across the room.

    Each connection reports, through L{queued}, how many bytes the daemon
    holds for it because its socket is not draining, and when it drains.
    Reading stops on every connection when the total over connections that
    are not stuck goes above C{high_water}, and resumes when it is back at
    or below C{low_water}.

    Guarantees: while reading is paused the queues can only shrink, so the
    daemon's memory for output stays near C{high_water} (plus each
    transport's own small buffer); a connection with output waiting that
    has not drained for C{stuck_after} seconds stops counting until it
    drains again, so clients that never read can never stall the room,
    however many there are, while slow readers still hold it back.
    """

    def __init__(
        self,
        clock: IReactorTime,
        high_water: int = HIGH_WATER,
        low_water: int = LOW_WATER,
        stuck_after: float = STUCK_SECONDS,
    ) -> None:
        self._clock = clock
        self.high_water = high_water
        self.low_water = low_water
        self._stuck_after = stuck_after
        self._readers: dict[Hashable, IPushProducer] = {}
        # Only connections with something queued appear in these.
        self._bytes: dict[Hashable, int] = {}
        self._waiting_since: dict[Hashable, float] = {}
        self._stuck: set[Hashable] = set()
        #: Keys that hold the room back however long they wait (the link to
        #: Redis: what waits there is the daemon's own memory, not a
        #: client's that the output cap deals with).
        self.never_stuck: set[Hashable] = set()
        #: Bytes queued by connections that are not stuck.
        self._total = 0
        self._paused = False
        self._check: IDelayedCall | None = None

    @property
    def paused(self) -> bool:
        """Whether reading is paused on every connection."""
        return self._paused

    @property
    def queued_bytes(self) -> int:
        """Bytes queued by connections that are not stuck."""
        return self._total

    def add(self, key: Hashable, reader: IPushProducer) -> None:
        """Track a connection; C{reader} is its transport."""
        self._readers[key] = reader
        if self._paused:
            reader.pauseProducing()

    def remove(self, key: Hashable) -> None:
        """Forget a connection that has gone."""
        self._readers.pop(key, None)
        self.queued(key, 0)

    def queued(self, key: Hashable, nbytes: int, moved: bool = False) -> None:
        """
        C{key} now has C{nbytes} waiting for output; C{moved} says its
        output has made progress (its socket drained) since the last call.
        """
        before = self._bytes.get(key, 0)
        if nbytes:
            if moved or not before:
                self._waiting_since[key] = self._clock.seconds()
            self._bytes[key] = nbytes
        elif before:
            del self._bytes[key]
            del self._waiting_since[key]
        if key in self._stuck:
            if moved or not nbytes:
                # Moving again (or empty): it counts again.
                self._stuck.discard(key)
                self._total += nbytes
                self._update()
            return
        self._total += nbytes - before
        self._update()

    def _update(self) -> None:
        if not self._paused and self._total > self.high_water:
            self._find_stuck()
            if self._total > self.high_water:
                self._set_paused(True)
        elif self._paused and self._total <= self.low_water:
            self._set_paused(False)

    def _set_paused(self, paused: bool) -> None:
        self._paused = paused
        for reader in list(self._readers.values()):
            if paused:
                reader.pauseProducing()
            else:
                reader.resumeProducing()
        if paused and self._check is None:
            self._check = self._clock.callLater(self._stuck_after, self._recheck)
        elif not paused and self._check is not None:
            if self._check.active():
                self._check.cancel()
            self._check = None

    def _recheck(self) -> None:
        self._check = None
        self._find_stuck()
        self._update()
        if self._paused and self._check is None:
            self._check = self._clock.callLater(self._stuck_after, self._recheck)

    def _find_stuck(self) -> None:
        limit = self._clock.seconds() - self._stuck_after
        newly_stuck = [
            key
            for key, since in self._waiting_since.items()
            if since <= limit and key not in self._stuck and key not in self.never_stuck
        ]
        if newly_stuck:
            log.info(
                "{count} clients not draining; reading resumes without them",
                count=len(newly_stuck),
            )
            for key in newly_stuck:
                self._stuck.add(key)
                self._total -= self._bytes[key]
