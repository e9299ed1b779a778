"""
Keeping what was said: each room's history in memory, capped per room and
across rooms, read from and written to the store (if any) once per turn.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from twisted_chat.core import events
from twisted_chat.core.history import HistoryBudget, RoomHistory
from twisted_chat.core.room import Room
from twisted_chat.store import HistoryBatch, HistoryEntry, HistoryStore

#: At most this long after a line is said, it is handed to the store.
SAVE_SECONDS = 0.1
#: Rooms gone lately whose history is kept in memory (each within its cap).
ROOMS_GONE_KEPT = 64


class HistoryKeeper:
    """
    Guarantees: a room's lines are read from the store once, when the room
    comes into being (or history is turned on); what is said is recorded
    at once, in memory, and handed to the store at most L{SAVE_SECONDS}
    later (with a clock; without one, at the end of each turn), all of it
    in one hand-over, a batch of lines said together as one record; memory
    never holds more than C{cap} lines a room and C{budget.total} in all.
    """

    def __init__(
        self,
        now: Callable[[], float],
        store: HistoryStore | None = None,
        cap: int = 0,
        total: int = 50_000,
        clock: IReactorTime | None = None,
    ) -> None:
        self._now = now
        self._clock = clock
        self._saving: IDelayedCall | None = None
        #: Where history and topics outlive the process (None: memory only).
        self.store = store
        #: Lines each room keeps (0: none).
        self.cap = cap
        self.budget = HistoryBudget(total)
        #: Seconds after which lines are dropped (0: kept however old).
        self.max_age = 0.0
        # The history of rooms that went lately: a room made again soon
        # gets it back at once, whether or not the store has it yet.
        self._gone: OrderedDict[str, RoomHistory] = OrderedDict()
        # Lines said since the last hand-over to the store.
        self._unsaved: list[HistoryBatch] = []

    def prepare(self, room: Room, rooms: Iterable[Room]) -> None:
        """Once per room, when there is a store and history is on: its lines."""
        gone = self._gone.pop(room.key, None)
        if gone is not None:
            gone.set_cap(self.cap)
            room.history = gone
            room.history_loaded = True
            self.budget.spend(gone.lines, 0, (r.history for r in rooms))
            return
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
        budget = self.budget
        budget.lines += len(texts) - history.add(now, kind, name, texts)
        if budget.total and budget.lines > budget.total:
            budget.spend(0, 0, (r.history for r in rooms))
        if self.store is not None:
            self._unsaved.append((room.key, now, kind, name, texts))
            if self._clock is not None and self._saving is None:
                # Handed over in a bunch: the writer thread, woken less,
                # takes less of the reactor's time (the GIL), and a line
                # is still on disk well within a second of being said.
                self._saving = self._clock.callLater(SAVE_SECONDS, self.save)

    def _cutoff(self) -> float:
        return self._now() - self.max_age if self.max_age else float("-inf")

    def age_out(self, rooms: Iterable[Room]) -> None:
        """Drop from memory the lines older than L{max_age}."""
        if self.max_age:
            cutoff = self._cutoff()
            for room in rooms:
                self.budget.forget(room.history.drop_before(cutoff))

    def save_turn(self) -> None:
        """After each turn: without a clock, what was said goes to the store."""
        if self._clock is None:
            self.save()

    def save(self) -> None:
        """Hand what was said since the last time to the store, now."""
        if self._saving is not None and self._saving.active():
            self._saving.cancel()
        self._saving = None
        if self._unsaved:
            assert self.store is not None
            unsaved, self._unsaved = self._unsaved, []
            self.store.append_batches(unsaved)

    def reload(
        self, room: Room, entries: Iterable[HistoryEntry], rooms: Iterable[Room]
    ) -> None:
        """
        C{room}'s history is C{entries} now, whatever it held (linked
        daemons: the shared history, in the order every daemon has it).
        """
        history = room.history
        self.budget.forget(history.trim(0))
        self._gone.pop(room.key, None)
        room.history_loaded = True
        cutoff = self._cutoff()
        for entry in entries:
            if entry.time >= cutoff:
                history.add(entry.time, entry.kind, entry.name, (entry.text,))
        self.budget.spend(history.lines, 0, (r.history for r in rooms))

    def forget(self, room: Room) -> None:
        """C{room} is gone: its lines no longer count against the total."""
        self.budget.forget(room.history.lines)
        if room.history.lines:
            self._gone[room.key] = room.history
            while len(self._gone) > ROOMS_GONE_KEPT:
                self._gone.popitem(last=False)

    def backlog(self, room: Room, most: int | None = None) -> events.Event:
        """What C{room} keeps of what was said (its last C{most} lines)."""
        lines = room.history.last(most)
        if not lines:
            return events.NoHistory(room.name, bool(self.cap))
        return events.Backlog(room.name, lines, self._now())
