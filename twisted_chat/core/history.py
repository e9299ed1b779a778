"""
What each room remembers of what was said: its last lines, capped per room
and across all rooms, so memory stays bounded however many rooms there are.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from itertools import count
from typing import NamedTuple

from twisted_chat.core.events import HistoryLine


class Chunk(NamedTuple):
    """Lines one person said at one time (one relayed batch), in order."""

    seq: int
    time: float
    kind: str
    name: str
    texts: tuple[str, ...]


_sequence = count()


class RoomHistory:
    """
    The last lines said in one room, oldest first.

    Guarantees: at most C{cap} lines are kept (0: none); lines come back in
    the order they were added; adding a batch of lines costs one record, not
    one per line, so a busy room pays almost nothing for its history.
    """

    __slots__ = ("_chunks", "cap", "lines")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        #: How many lines are kept.
        self.lines = 0
        self._chunks: deque[Chunk] = deque()

    def add(self, time: float, kind: str, name: str, texts: tuple[str, ...]) -> int:
        """Keep C{texts}; return how many lines that dropped (over the cap)."""
        if not self.cap or not texts:
            return 0
        self._chunks.append(Chunk(next(_sequence), time, kind, name, texts))
        self.lines += len(texts)
        return self.trim(self.cap)

    def trim(self, most: int) -> int:
        """Drop the oldest lines until at most C{most} are left; return how many."""
        dropped = 0
        chunks = self._chunks
        while self.lines > most:
            oldest = chunks[0]
            excess = self.lines - most
            if len(oldest.texts) <= excess:
                chunks.popleft()
                gone = len(oldest.texts)
            else:
                chunks[0] = oldest._replace(texts=oldest.texts[excess:])
                gone = excess
            self.lines -= gone
            dropped += gone
        return dropped

    def drop_before(self, cutoff: float) -> int:
        """Drop the lines said before C{cutoff}; return how many."""
        dropped = 0
        chunks = self._chunks
        while chunks and chunks[0].time < cutoff:
            dropped += len(chunks.popleft().texts)
        self.lines -= dropped
        return dropped

    @property
    def oldest_seq(self) -> int | None:
        """The sequence number of the oldest lines kept, if any."""
        return self._chunks[0].seq if self._chunks else None

    def last(self, most: int | None = None) -> tuple[HistoryLine, ...]:
        """The last C{most} lines (all, without it), oldest first."""
        lines = [
            HistoryLine(chunk.time, chunk.kind, chunk.name, text)
            for chunk in self._chunks
            for text in chunk.texts
        ]
        if most is not None:
            lines = lines[-most:] if most > 0 else []
        return tuple(lines)

    def set_cap(self, cap: int) -> int:
        """A new cap (a reload); return how many lines that dropped."""
        self.cap = cap
        return self.trim(cap)


class HistoryBudget:
    """
    The cap on lines kept across all rooms: past C{total}, the oldest lines
    of all go first, whichever room they are in.

    Guarantees: after L{spend}, the rooms together hold at most C{total}
    lines (0: no cap across rooms, only each room's own).
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.lines = 0

    def spend(self, added: int, dropped: int, rooms: Iterable[RoomHistory]) -> None:
        """
        C{added} lines were kept and C{dropped} dropped by a room's own cap;
        past the total, drop the oldest across C{rooms}.
        """
        self.lines += added - dropped
        if self.total and self.lines > self.total:
            self._evict(rooms)

    def forget(self, lines: int) -> None:
        """A room holding C{lines} is gone."""
        self.lines -= lines

    def _evict(self, rooms: Iterable[RoomHistory]) -> None:
        # Rare (only past the total), so a heap over the rooms, built now.
        heap = [
            (seq, index, history)
            for index, history in enumerate(rooms)
            if (seq := history.oldest_seq) is not None
        ]
        heapq.heapify(heap)
        while self.lines > self.total and heap:
            _, index, history = heapq.heappop(heap)
            oldest = history._chunks[0]
            excess = self.lines - self.total
            self.lines -= history.trim(history.lines - min(excess, len(oldest.texts)))
            seq = history.oldest_seq
            if seq is not None:
                heapq.heappush(heap, (seq, index, history))
