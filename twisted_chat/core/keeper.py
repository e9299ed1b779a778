"""
Keeping what was said: each room's history in memory, capped per room and
across rooms, read from and written to the store (if any) once per turn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from twisted_chat.core import events
from twisted_chat.core.history import HistoryBudget
from twisted_chat.core.room import Room
from twisted_chat.store import HistoryEntry, HistoryStore


class HistoryKeeper:
    """
    Guarantees: a room's lines are read from the store once, when the room
    comes into being (or history is turned on); what is said is recorded
    at once, in memory, and handed to the store once per turn
    (L{save_turn}), one batch per room; memory never holds more than
    C{cap} lines a room and C{budget.total} in all.
    """

    def __init__(
        self,
        now: Callable[[], float],
        store: HistoryStore | None = None,
        cap: int = 0,
        total: int = 50_000,
    ) -> None:
        self._now = now
        #: Where history and topics outlive the process (None: memory only).
        self.store = store
        #: Lines each room keeps (0: none).
        self.cap = cap
        self.budget = HistoryBudget(total)
        #: Seconds after which lines are dropped (0: kept however old).
        self.max_age = 0.0
        # Lines said this turn, for the store: room key to entries.
        self._unsaved: dict[str, list[HistoryEntry]] = {}

    def prepare(self, room: Room, rooms: Iterable[Room]) -> None:
        """Once per room, when there is a store and history is on: its lines."""
        history = room.history
        history.set_cap(self.cap)
        if self.store is None or not self.cap or room.history_loaded:
            return
        room.history_loaded = True
        cutoff = self._cutoff()
        for entry in self.store.load(room.key, self.cap):
            if entry.time >= cutoff:
                history.add(entry.time, entry.kind, entry.name, (entry.text,))
        self.budget.spend(history.lines, 0, (r.history for r in rooms))

    def configure(self, cap: int, total: int, rooms: list[Room]) -> None:
        """New caps (a reload), applied at once; history turned on is read."""
        self.cap = cap
        for room in rooms:
            self.budget.forget(room.history.set_cap(cap))
        self.budget.total = total
        self.budget.spend(0, 0, (room.history for room in rooms))
        for room in rooms:
            self.prepare(room, rooms)

    def record(
        self,
        room: Room,
        kind: str,
        name: str,
        texts: tuple[str, ...],
        rooms: Iterable[Room],
    ) -> None:
        """C{name} said (or, C{kind} "acted", did) C{texts} in C{room}."""
        history = room.history
        if not history.cap:
            return
        now = self._now()
        dropped = history.add(now, kind, name, texts)
        self.budget.spend(len(texts), dropped, (r.history for r in rooms))
        if self.store is not None:
            unsaved = self._unsaved.get(room.key)
            if unsaved is None:
                unsaved = self._unsaved[room.key] = []
            unsaved.extend(HistoryEntry(now, kind, name, text) for text in texts)

    def _cutoff(self) -> float:
        return self._now() - self.max_age if self.max_age else float("-inf")

    def age_out(self, rooms: Iterable[Room]) -> None:
        """Drop from memory the lines older than L{max_age}."""
        if self.max_age:
            cutoff = self._cutoff()
            for room in rooms:
                self.budget.forget(room.history.drop_before(cutoff))

    def save_turn(self) -> None:
        """After each turn: what its rooms said goes to the store, batched."""
        if self._unsaved:
            assert self.store is not None
            unsaved, self._unsaved = self._unsaved, {}
            for key, entries in unsaved.items():
                self.store.append(key, entries)

    def forget(self, room: Room) -> None:
        """C{room} is gone: its lines no longer count against the total."""
        self.budget.forget(room.history.lines)

    def backlog(self, room: Room, most: int | None = None) -> events.Event:
        """What C{room} keeps of what was said (its last C{most} lines)."""
        lines = room.history.last(most)
        if not lines:
            return events.NoHistory(room.name, bool(self.cap))
        return events.Backlog(room.name, lines, self._now())
