"""
The in-memory store: history and topics for the life of the process.

It remembers what it is given, up to C{per_room} entries a room, so a room
that empties, disappears and is made again in the same process gets its
history back, as it would from a file; nothing survives a restart.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from twisted.internet.defer import Deferred, succeed

from twisted_chat.store import HistoryEntry

#: How many entries a room keeps when no other limit is given.
PER_ROOM = 1000


class MemoryStore:
    """
    A L{twisted_chat.store.HistoryStore} in memory.

    Guarantees: C{load} gives the last entries appended (at most
    C{per_room}, and at most its C{limit}), oldest first; every method
    returns at once and none fails, so L{failures} stays 0 until the store
    is closed, after which writes are lost and counted, as in the file
    store.
    """

    def __init__(self, per_room: int = PER_ROOM) -> None:
        self.failures = 0
        self._per_room = per_room
        self._history: dict[str, deque[HistoryEntry]] = {}
        # room key -> (room name, topic)
        self._topics: dict[str, tuple[str, str]] = {}
        self._closed = False

    def load(self, room_key: str, limit: int) -> list[HistoryEntry]:
        kept = self._history.get(room_key)
        if kept is None or limit <= 0:
            return []
        return list(kept)[-limit:]

    def append(self, room_key: str, entries: Sequence[HistoryEntry]) -> None:
        if self._closed:
            self.failures += 1
            return
        kept = self._history.get(room_key)
        if kept is None:
            kept = self._history[room_key] = deque(maxlen=self._per_room)
        kept.extend(entries)

    def save_topic(self, room_key: str, room_name: str, topic: str | None) -> None:
        if self._closed:
            self.failures += 1
        elif topic:
            self._topics[room_key] = (room_name, topic)
        else:
            self._topics.pop(room_key, None)

    def topics(self) -> dict[str, str]:
        return dict(self._topics.values())

    def prune(self, older_than: float) -> None:
        if self._closed:
            self.failures += 1
            return
        for room_key, kept in list(self._history.items()):
            fresh = [entry for entry in kept if entry.time >= older_than]
            if fresh:
                self._history[room_key] = deque(fresh, maxlen=self._per_room)
            else:
                del self._history[room_key]

    def close(self) -> Deferred[None]:
        self._closed = True
        return succeed(None)
