"""
L{Outbox}: a daemon's messages on their way to the bus, in order.

At most L{MAX_INFLIGHT} are out at once; the rest wait. While the bus is
down they all wait, for at most C{replay_seconds} (and L{MAX_WAITING}
bytes): past either, every waiting message is dropped at once, counted,
and the daemon told (C{on_dropped}), and messages are dropped as they come
until the bus is back. After a reconnection every message not answered is
sent again; the bus keeps each (instance, seq) once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat.backplane.bus import Bus, HistoryAppend
from twisted_chat.backplane.connection import LinkDown

log = Logger()

#: Messages sent and not yet answered, at most: enough to keep a loopback
#: Redis busy, few enough that a slow one holds back the senders (their
#: reading pauses, through C{on_backlog}) rather than the daemon's memory.
MAX_INFLIGHT = 64
#: Bytes waiting, at most (past it, all that waits is dropped).
MAX_WAITING = 64 * 1024 * 1024


@dataclass(slots=True)
class _Waiting:
    """A message not yet answered by the bus."""

    time: float
    seq: int
    payload: bytes
    history: Sequence[HistoryAppend]
    lines: int


class Outbox:
    """
    Guarantees: messages reach the bus in the order they were added, each
    at most once as the bus sees it; memory for them stays under
    L{MAX_WAITING} bytes (plus one message) and, while the bus is down,
    under C{replay_seconds} of chat.
    """

    def __init__(
        self,
        bus: Bus,
        clock: IReactorTime,
        instance: str,
        history_cap: Callable[[], int],
        replay_seconds: float = 10.0,
    ) -> None:
        self.bus = bus
        self.clock = clock
        self.instance = instance
        self.history_cap = history_cap
        self.replay_seconds = replay_seconds
        #: Whether messages may go now (the bus is up and the node is ours).
        self.open = False
        #: Called with (bytes waiting, whether some were just answered).
        self.on_backlog: Callable[[int, bool], None] = lambda n, moved: None
        #: Called with the lines dropped when the waiting ones are dropped.
        self.on_dropped: Callable[[int], None] = lambda lines: None
        self._waiting: deque[_Waiting] = deque()
        self._bytes = 0
        self._sent = 0  # how many of the first waiting messages are out
        self._generation = 0
        self._overflowed = False
        # Counters, for the metrics.
        self.published = 0
        self.lines_published = 0
        self.lines_dropped = 0

    def __len__(self) -> int:
        return len(self._waiting)

    def add(
        self, seq: int, payload: bytes, history: Sequence[HistoryAppend], lines: int
    ) -> bool:
        """Send (or keep) a message; False if it was dropped at once."""
        if not self.open and self._overflowed:
            self.lines_dropped += lines
            return False
        self._waiting.append(
            _Waiting(self.clock.seconds(), seq, payload, history, lines)
        )
        self._bytes += len(payload)
        if self._bytes > MAX_WAITING:
            # Down too long, or up but not answering (its health check
            # will close it): either way, never unbounded memory.
            self.drop()
            return False
        self.pump()
        self._backlog(False)
        return True

    def opened(self) -> None:
        """The bus is up (again): send everything not answered, in order."""
        self._generation += 1
        self._sent = 0
        self._overflowed = False
        self.open = True
        self.pump()
        self._backlog(True)

    def closed(self) -> None:
        """The bus went down: what was out may not have arrived."""
        self._generation += 1
        self._sent = 0
        self.open = False
        self._backlog(True)

    def _backlog(self, moved: bool) -> None:
        # Only while open does what waits hold the senders back: while the
        # bus is down chat here goes on, and the replay window and
        # MAX_WAITING bound what waits.
        self.on_backlog(self._bytes if self.open else 0, moved)

    def expire(self) -> None:
        """While closed: drop everything once the oldest is too old."""
        if (
            not self.open
            and self._waiting
            and not self._overflowed
            and self.clock.seconds() - self._waiting[0].time > self.replay_seconds
        ):
            self.drop()

    def pump(self) -> None:
        while (
            self.open and self._sent < len(self._waiting) and self._sent < MAX_INFLIGHT
        ):
            message = self._waiting[self._sent]
            self._sent += 1
            generation = self._generation
            sent = self.bus.send(
                self.instance,
                message.seq,
                message.payload,
                message.history,
                self.history_cap(),
            )
            sent.addCallbacks(
                lambda _, g=generation: self._answered(g),
                lambda failure, g=generation: self._refused(g, failure),
            )

    def _answered(self, generation: int) -> None:
        if generation != self._generation or not self._waiting:
            return
        message = self._waiting.popleft()
        self._sent -= 1
        self._bytes -= len(message.payload)
        self.published += 1
        self.lines_published += message.lines
        self.pump()
        self._backlog(True)

    def _refused(self, generation: int, failure: Failure) -> None:
        if generation != self._generation or failure.check(LinkDown):
            return  # sent again when the bus is back
        # The bus answered, with an error: this one will never go.
        log.error(
            "a message to the other servers was refused: {problem}",
            problem=failure.getErrorMessage(),
        )
        if self._waiting:
            message = self._waiting.popleft()
            self._sent -= 1
            self._bytes -= len(message.payload)
            self.lines_dropped += message.lines
        self.pump()
        self._backlog(True)

    def drop(self) -> None:
        """Drop every waiting message, and whatever comes until reopened."""
        lines = sum(message.lines for message in self._waiting)
        self._waiting.clear()
        self._bytes = 0
        self._sent = 0
        self._overflowed = True
        self.lines_dropped += lines
        log.warn(
            "the link has been down over {seconds:g} s: {lines} dropped",
            seconds=self.replay_seconds,
            lines=f"{lines} line" if lines == 1 else f"{lines} lines",
        )
        self.on_dropped(lines)
        self._backlog(True)
