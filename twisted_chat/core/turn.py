"""
The one delivery path: everything the hub says in a reactor turn, to rooms
or to one member, delivered together in one flush.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from twisted.python.failure import Failure

from twisted_chat.core.events import Event
from twisted_chat.core.room import Member, Renderer, Room

# (room, None, excluded member or None, event): to everyone in the room
# but the excluded one; (None, member, None, event): to that member only.
Entry = tuple["Room | None", "Member | None", "Member | None", Event]


class Turn:
    """
    Events waiting for the end of the reactor turn, and their delivery.

    Guarantees: each member gets what was addressed to it in the order it
    was addressed, whatever mix of rooms and private events that was, in
    one C{send} per flush; each event is rendered once per renderer per
    flush, and members of a room who are not singled out (excluded from an
    event, sent one of their own, or in several rooms with events) share
    the same bytes. A member whose C{send} raises is handed to
    C{on_broken} after everyone else has been served. Without C{schedule}
    every event is delivered at once; with it (the daemon: C{callLater(0,
    ...)}) once per turn.
    """

    def __init__(
        self,
        schedule: Callable[[Callable[[], None]], object] | None,
        on_broken: Callable[[Member, Failure], None],
        in_several_rooms: Collection[Member],
    ) -> None:
        self._schedule = schedule
        self._on_broken = on_broken
        self._in_several_rooms = in_several_rooms
        self._entries: list[Entry] = []
        self._flushing = False
        # A flush is scheduled for the end of this turn (it stays scheduled
        # when something flushes early: it takes what comes after).
        self._scheduled = False
        #: Bytes handed to members, for the metrics.
        self.bytes_out = 0
        #: Called after each flush with nothing: the hub saves history then.
        self.after_flush: Callable[[], None] = lambda: None

    @property
    def pending(self) -> bool:
        """Whether something waits for the next flush."""
        return bool(self._entries)

    def to_room(self, room: Room, event: Event, exclude: Member | None = None) -> None:
        """Address C{event} to everyone in C{room} but C{exclude}."""
        self._add((room, None, exclude, event))

    def to_member(self, member: Member, event: Event) -> None:
        """Address C{event} to C{member} only."""
        self._add((None, member, None, event))

    def _add(self, entry: Entry) -> None:
        if self._schedule is None:
            self._entries.append(entry)
            self.flush()
            return
        if not self._scheduled:
            self._scheduled = True
            self._schedule(self._end_of_turn)
        self._entries.append(entry)

    def _end_of_turn(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Deliver everything addressed so far (also what delivery causes)."""
        if self._flushing:
            return
        self._flushing = True
        try:
            while self._entries:
                entries, self._entries = self._entries, []
                self._deliver(entries)
        finally:
            self._flushing = False
        self.after_flush()

    def _deliver(self, entries: list[Entry]) -> None:
        by_room: dict[Room, list[int]] = {}
        singled_out: set[Member] = set()
        for index, (room, target, exclude, _) in enumerate(entries):
            if room is None:
                assert target is not None
                singled_out.add(target)
            else:
                by_room.setdefault(room, []).append(index)
                if exclude is not None:
                    singled_out.add(exclude)
        for member in self._in_several_rooms:
            # Rare (the line front end keeps one room): its rooms' events
            # must reach it merged, in order, as one write.
            if any(member in room for room in by_room):
                singled_out.add(member)
        broken: list[tuple[Member, Failure]] = []
        rendered: dict[tuple[int, Renderer], bytes] = {}
        sent = 0
        for room, indexes in by_room.items():
            for renderer, members in room.groups():
                chunks = [renderer.render(entries[i][3]) for i in indexes]
                if singled_out:
                    rendered.update(
                        zip([(i, renderer) for i in indexes], chunks, strict=True)
                    )
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                if not data:
                    continue
                skipped = 0
                for member in members:
                    if member in singled_out:
                        skipped += 1
                        continue
                    try:
                        member.send(data)
                    except Exception:
                        broken.append((member, Failure()))
                sent += len(data) * (len(members) - skipped)
        for member in singled_out:
            data = self._own_share(member, entries, rendered)
            if data:
                sent += len(data)
                try:
                    member.send(data)
                except Exception:
                    broken.append((member, Failure()))
        self.bytes_out += sent
        # After the fan-out, so a broken member's "has left" follows the lines.
        for member, failure in broken:
            self._on_broken(member, failure)

    @staticmethod
    def _own_share(
        member: Member,
        entries: list[Entry],
        rendered: dict[tuple[int, Renderer], bytes],
    ) -> bytes:
        renderer = member.renderer
        parts = []
        for index, (room, target, exclude, event) in enumerate(entries):
            if room is None:
                if target is not member:
                    continue
            elif exclude is member or member not in room:
                continue
            data = rendered.get((index, renderer))
            if data is None:
                data = rendered[index, renderer] = renderer.render(event)
            parts.append(data)
        return b"".join(parts)
