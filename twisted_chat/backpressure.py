"""
Back-pressure for the whole room: stop reading from everyone while the
room's output is backed up, so the backlog waits in the senders' TCP buffers
(and slows the senders) instead of in the daemon as seconds of latency.
"""

from __future__ import annotations

import math
from collections.abc import Hashable

from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from twisted.logger import Logger

log = Logger()

#: A client whose output has been backed up this long counts as stuck, not
#: slow: it no longer holds the room back (its --max-queue cap deals with it).
STUCK_SECONDS = 1.0


class ReadThrottle:
    """
    Pauses and resumes reading on every connection, by how many are congested.

    A connection is congested while its transport has paused our output
    (its socket is not draining). Reading stops when at least a quarter of
    the connections (at least one) are congested and not stuck, and resumes
    when no more than half that many are. A connection congested for
    L{STUCK_SECONDS} stops counting until it drains again, so clients that
    never read can never stall the room, however many there are.
    """

    def __init__(self, clock: IReactorTime, stuck_after: float = STUCK_SECONDS) -> None:
        self._clock = clock
        self._stuck_after = stuck_after
        self._readers: dict[Hashable, IPushProducer] = {}
        self._congested_since: dict[Hashable, float] = {}
        self._stuck: set[Hashable] = set()
        self._paused = False
        self._check: IDelayedCall | None = None

    @property
    def paused(self) -> bool:
        """Whether reading is paused on every connection."""
        return self._paused

    def add(self, key: Hashable, reader: IPushProducer) -> None:
        """Track a connection; C{reader} is its transport."""
        self._readers[key] = reader
        if self._paused:
            reader.pauseProducing()

    def remove(self, key: Hashable) -> None:
        """Forget a connection that has gone."""
        self._readers.pop(key, None)
        self._congested_since.pop(key, None)
        self._stuck.discard(key)
        self._update()

    def congested(self, key: Hashable) -> None:
        """The output of C{key} stopped draining."""
        self._congested_since.setdefault(key, self._clock.seconds())
        self._update()

    def relieved(self, key: Hashable) -> None:
        """The output of C{key} drains again."""
        self._congested_since.pop(key, None)
        self._stuck.discard(key)
        self._update()

    def _threshold(self) -> int:
        return max(1, math.ceil(len(self._readers) / 4))

    def _update(self) -> None:
        active = len(self._congested_since) - len(self._stuck)
        threshold = self._threshold()
        if not self._paused and active >= threshold:
            self._set_paused(True)
        elif self._paused and active <= threshold // 2:
            self._set_paused(False)

    def _set_paused(self, paused: bool) -> None:
        self._paused = paused
        for reader in list(self._readers.values()):
            if paused:
                reader.pauseProducing()
            else:
                reader.resumeProducing()
        if paused and self._check is None:
            self._check = self._clock.callLater(self._stuck_after, self._find_stuck)
        elif not paused and self._check is not None:
            if self._check.active():
                self._check.cancel()
            self._check = None

    def _find_stuck(self) -> None:
        self._check = None
        limit = self._clock.seconds() - self._stuck_after
        newly_stuck = {
            key
            for key, since in self._congested_since.items()
            if since <= limit and key not in self._stuck
        }
        if newly_stuck:
            log.info(
                "{count} clients not draining; reading resumes without them",
                count=len(newly_stuck),
            )
            self._stuck |= newly_stuck
        self._update()
        if self._paused and self._check is None:
            self._check = self._clock.callLater(self._stuck_after, self._find_stuck)
