"""
The hub's rooms: which exist, who is in which, and how members move
between them (announced, with what a newcomer to a room is shown).

L{RoomsOfHub} is the part of L{twisted_chat.core.hub.Hub} that deals with
rooms, kept apart so that each module holds one idea; it is not used alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted_chat.core import events
from twisted_chat.core.keeper import HistoryKeeper
from twisted_chat.core.moderation import Moderation, describe
from twisted_chat.core.peers import Peers, is_remote
from twisted_chat.core.room import ROOM_HELP, Member, Room, room_key, room_name
from twisted_chat.core.turn import Turn
from twisted_chat.store import HistoryStore, Restriction


class RoomsOfHub:
    """
    Rooms by name, and every member's rooms.

    Guarantees: a room with nobody in it, no topic and not named in the
    configuration is gone; joins and leaves are announced in rooms not too
    big for it (L{is_quiet}); whoever comes into a room is told it, its
    topic and its history, in that order.
    """

    # Set up by the hub.
    announce_limit: int
    max_rooms: int
    default_room: Room
    turn: Turn
    keeper: HistoryKeeper
    moderation: Moderation
    peers: Peers | None
    _rooms: dict[str, Room]
    # A tuple, not a list: one per member, and a tuple of one room costs
    # half what a list does (10,000 idle members, 0.7 MB).
    _rooms_of: dict[Member, tuple[Room, ...]]
    _in_several: set[Member]

    @property
    def store(self) -> HistoryStore | None:
        """Where history and topics outlive the process (None: memory only)."""
        return self.keeper.store

    def now(self) -> float:
        """The time, by the hub's clock."""
        raise NotImplementedError

    def restriction_on(
        self, member: Member, what: str, scope: str
    ) -> Restriction | None:
        """The ban or mute in force on C{member} in C{scope} or server-wide."""
        return self.moderation.in_force(
            what, (scope, ""), member.account, member.name, member.address
        )

    def rooms_of(self, member: Member) -> tuple[Room, ...]:
        """The rooms C{member} is in, the one it came into last at the end."""
        return self._rooms_of.get(member, ())

    def room_of(self, member: Member) -> Room | None:
        """The room C{member} came into last (a line front end's only room)."""
        rooms = self._rooms_of.get(member)
        return rooms[-1] if rooms else None

    @property
    def rooms(self) -> list[Room]:
        """Every room, by name ignoring case."""
        return sorted(self._rooms.values(), key=lambda room: room.key)

    def room(
        self, name: str, create: bool = False, persistent: bool = False
    ) -> Room | None:
        """The room called C{name} (ignoring case); made if C{create}."""
        key = room_key(name)
        room = self._rooms.get(key)
        if room is None and create:
            room = self._rooms[key] = Room(name, self.keeper.cap, persistent)
            self.keeper.prepare(room, self._rooms.values())
        elif room is not None and persistent:
            room.persistent = True
        return room

    def configure(
        self,
        default_room: str,
        rooms: Sequence[str] = (),
        max_rooms: int = 1000,
        history: int = 0,
        history_total: int = 50_000,
    ) -> None:
        """
        The room settings, at start-up or on a reload: C{default_room} and
        C{rooms} always exist (a room no longer named goes once empty);
        history caps apply at once, dropping the oldest lines over them.
        """
        self.max_rooms = max_rooms
        named = [default_room, *rooms]
        keys = {room_key(name) for name in named}
        for room in list(self._rooms.values()):
            room.persistent = room.key in keys
            if room.empty:
                self._forget(room)
        for name in named:
            self.room(name, create=True, persistent=True)
        self.keeper.configure(history, history_total, list(self._rooms.values()))
        lobby = self.room(default_room)
        assert lobby is not None
        self.default_room = lobby

    def join(self, member: Member, name: str) -> str | None:
        """
        Put C{member} in the room called C{name} too (made if missing),
        announced there; the member is told who is there, the topic and
        what was said before.

        @return: L{None} on success, else a one-line reason for the refusal.
        """
        wanted = room_name(name)
        if wanted is None:
            return f"Invalid room name {name!r}: use {ROOM_HELP}."
        ban = self.restriction_on(member, "ban", room_key(wanted))
        if ban is not None:
            return f"You are banned from #{wanted}{describe(ban, self.now())}."
        room = self.room(wanted)
        if room is None:
            if self.max_rooms and len(self._rooms) >= self.max_rooms:
                return (
                    f"No room #{wanted}, and no more can be made "
                    f"(at most {self.max_rooms}); join one of /rooms."
                )
            room = self.room(wanted, create=True)
            assert room is not None
            if member.account is not None:
                # Whoever makes a room (logged in) is its first operator.
                self.moderation.grant(room.key, member.account, "")
        if member in room:
            return f"You are already in #{room.name}."
        self.turn.flush()
        self._enter(member, room)
        return None

    def move(self, member: Member, name: str) -> str | None:
        """
        L{join} the room called C{name}, leaving every other room first (a
        front end that keeps one current room).

        @return: L{None} on success, else a one-line reason for the refusal.
        """
        current = list(self.rooms_of(member))
        if len(current) == 1 and room_key(name.removeprefix("#")) == current[0].key:
            return f"You are already in #{current[0].name}."
        # Made (or refused) before leaving, so a refusal leaves it where it was.
        refusal = self.join(member, name)
        if refusal is None:
            for room in current:
                self.part(member, room)
        return refusal

    def part(self, member: Member, room: Room) -> None:
        """Take C{member} out of C{room} (announced); the room may go."""
        rooms = self._rooms_of.get(member)
        if rooms is None or room not in rooms:
            return
        self.turn.flush()
        rooms = self._rooms_of[member] = tuple(r for r in rooms if r is not room)
        if len(rooms) < 2:
            self._in_several.discard(member)
        self._exit(member, room)
        if self.peers is not None and not is_remote(member):
            self.peers.exited(member, room)

    def _enter(self, member: Member, room: Room) -> None:
        quiet_before = self.is_quiet(room)
        room.add(member)
        rooms = self._rooms_of[member] = (*self._rooms_of[member], room)
        if len(rooms) > 1:
            self._in_several.add(member)
        if self.peers is not None and not is_remote(member):
            self.peers.entered(member, room)
        if not (quiet_before or self.is_quiet(room)):
            self.turn.to_room(room, events.Joined(member.name), exclude=member)
        self.turn.to_member(member, events.NowIn(room.name, len(room)))
        if self.is_quiet(room):
            self.turn.to_member(member, events.Quiet(self.announce_limit))
        if room.topic:
            self.turn.to_member(member, events.TopicIs(room.name, room.topic))
        if room.history.lines:
            self.turn.to_member(member, self.keeper.backlog(room))

    def _exit(self, member: Member, room: Room) -> None:
        quiet = self.is_quiet(room)
        room.remove(member)
        if not quiet:
            self.turn.to_room(room, events.Left(member.name))
        if room.empty:
            self._forget(room)

    def _forget(self, room: Room) -> None:
        del self._rooms[room.key]
        self.keeper.forget(room)

    def set_topic(self, member: Member, topic: str) -> None:
        """Set (or, empty, clear) the topic of C{member}'s room; announced there."""
        room = self.room_of(member)
        if room is None:
            return
        room.topic = topic
        room.topic_by = member.name
        self.turn.to_room(room, events.TopicSet(member.name, room.topic))
        if self.peers is not None:
            self.peers.topic_set(member, room)
        if self.store is not None:
            self.store.save_topic(room.key, room.name, room.topic or None)
        if room.empty:
            self._forget(room)

    def room_list(self, most: int = 100) -> events.Rooms:
        """The /rooms answer: the first C{most} rooms by name, counts, topics."""
        rooms = self.rooms
        return events.Rooms(
            len(rooms),
            tuple(
                events.RoomInfo(room.name, len(room), room.topic)
                for room in rooms[:most]
            ),
        )

    def is_quiet(self, room: Room) -> bool:
        """Whether C{room} is too big to announce joins and leaves."""
        return bool(self.announce_limit) and len(room) > self.announce_limit

    def who(self, room: Room, most: int = 200, own: bool = True) -> events.Who:
        """The /who answer for C{room}: at most C{most} names, sorted."""
        operator = self.moderation.is_room_operator
        names = sorted(
            (
                ("@" if operator(m.account, room.key) else "") + m.name
                for m in room.members
            ),
            key=lambda shown: shown.lstrip("@").casefold(),
        )
        return events.Who(
            "" if own else room.name,
            len(names),
            tuple(names[:most]),
            self.announce_limit if self.is_quiet(room) else 0,
        )
