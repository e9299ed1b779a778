"""
The hub: every room by name, every member by name, and what they do.

A L{Hub} knows nothing of sockets or reactors. A member (L{Member}) is
anything with a name, a renderer and a way to take bytes, so the line
protocol, a browser page or a link to another daemon all meet in the same
rooms, and the whole chat runs in memory in tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from itertools import count

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import text
from twisted_chat.core import events
from twisted_chat.core.history import HistoryBudget
from twisted_chat.core.room import ROOM_HELP, Member, Room, room_key, room_name
from twisted_chat.core.turn import Turn
from twisted_chat.names import NAME_HELP, NAME_RULE, is_reserved, name_key

log = Logger()

DEFAULT_ROOM = "lobby"


class Hub:
    """
    Rooms, names, and the one delivery path between members.

    Guarantees: names are unique server-wide ignoring case and look-alikes
    (L{name_key}); the server name and the MOTD are cleaned like what
    people say; a line from one member reaches every other member of its
    room exactly once, and each member sees events in the order the hub
    was given them (L{Turn}); a member whose C{send} fails is removed and
    never stops delivery to the others; a room with nobody in it, no topic
    and not named in the configuration is gone.
    """

    def __init__(
        self,
        server_name: str = "twisted_chat",
        announce_limit: int = 100,
        schedule: Callable[[Callable[[], None]], object] | None = None,
        clock: IReactorTime | None = None,
        default_room: str = DEFAULT_ROOM,
    ) -> None:
        self.server_name = server_name
        #: Above this many members in a room, its joins and leaves are not
        #: announced: in a room of N people that would be N lines each.
        self.announce_limit = announce_limit
        self.motd = []
        self._clock = clock
        self._members: dict[str, Member] = {}
        self._rooms_of: dict[Member, list[Room]] = {}
        self._in_several: set[Member] = set()
        self._rooms: dict[str, Room] = {}
        self._guest_numbers = count(1)
        self.turn = Turn(schedule, self._remove_broken, self._in_several)
        self.history_cap = 0
        self.history_budget = HistoryBudget(0)
        # Plain counters for metrics: lines relayed from people and
        # deliveries (one line reaching one member).
        self.lines_relayed = 0
        self.deliveries = 0
        lobby = self.room(default_room, create=True, persistent=True)
        assert lobby is not None
        self.default_room = lobby

    # Settings, kept clean

    @property
    def server_name(self) -> str:
        """The name in the greeting, kept as one clean line (or C{twisted_chat})."""
        return self._server_name

    @server_name.setter
    def server_name(self, name: str) -> None:
        self._server_name = text.one_line(name) or "twisted_chat"

    @property
    def motd(self) -> list[str]:
        """The lines every newcomer sees after the greeting, kept cleaned."""
        return list(self._motd)

    @motd.setter
    def motd(self, lines: Iterable[str]) -> None:
        self._motd = [
            text.clean_string(part)
            for line in lines
            for part in line.splitlines() or [""]
        ]

    @property
    def bytes_out(self) -> int:
        """Bytes handed to members."""
        return self.turn.bytes_out

    def now(self) -> float:
        """The time, by the hub's clock."""
        return self._clock.seconds() if self._clock is not None else time.time()

    # Who is here

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, member: object) -> bool:
        return member in self._rooms_of

    @property
    def members(self) -> tuple[Member, ...]:
        """Everyone connected."""
        return tuple(self._rooms_of)

    @property
    def names(self) -> list[str]:
        """Everyone's name, sorted ignoring case."""
        return sorted((m.name for m in self._rooms_of), key=str.casefold)

    def find(self, name: str) -> Member | None:
        """The member called C{name} (ignoring case and look-alikes), if any."""
        return self._members.get(name_key(name))

    def rooms_of(self, member: Member) -> list[Room]:
        """The rooms C{member} is in, the one it came into last at the end."""
        return self._rooms_of.get(member, [])

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
            room = self._rooms[key] = Room(name, self.history_cap, persistent)
        elif room is not None and persistent:
            room.persistent = True
        return room

    # Coming and going

    def connect(self, member: Member) -> None:
        """
        Give C{member} a fresh guest name, greet it, and put it in the
        default room (announced to the room).
        """
        self.turn.flush()
        name = self._fresh_guest_name()
        member.name = name
        self._members[name_key(name)] = member
        self._rooms_of[member] = []
        self.turn.to_member(
            member, events.Welcome(self.server_name, name, len(self._members))
        )
        for line in self._motd:
            self.turn.to_member(member, events.Notice(line))
        self._enter(member, self.default_room, greeting=True)

    def disconnect(self, member: Member) -> None:
        """Take C{member} out of every room (announced) and free its name."""
        rooms = self._rooms_of.pop(member, None)
        if rooms is None:
            return
        self.turn.flush()
        for room in rooms:
            self._exit(member, room)
        self._in_several.discard(member)
        if self._members.get(name_key(member.name)) is member:
            del self._members[name_key(member.name)]

    def _enter(self, member: Member, room: Room, greeting: bool = False) -> None:
        quiet_before = self.is_quiet(room)
        room.add(member)
        rooms = self._rooms_of[member]
        rooms.append(room)
        if len(rooms) > 1:
            self._in_several.add(member)
        if not (quiet_before or self.is_quiet(room)):
            self.turn.to_room(room, events.Joined(member.name), exclude=member)
        if self.is_quiet(room):
            self.turn.to_member(member, events.Quiet(self.announce_limit))

    def _exit(self, member: Member, room: Room) -> None:
        quiet = self.is_quiet(room)
        room.remove(member)
        if not quiet:
            self.turn.to_room(room, events.Left(member.name))
        if room.empty:
            self._forget(room)

    def _forget(self, room: Room) -> None:
        del self._rooms[room.key]
        self.history_budget.forget(room.history.lines)

    def is_quiet(self, room: Room) -> bool:
        """Whether C{room} is too big to announce joins and leaves."""
        return bool(self.announce_limit) and len(room) > self.announce_limit

    # What people do

    def say(self, member: Member, lines: Sequence[str]) -> None:
        """Relay C{lines} from C{member} to everyone else in its room."""
        room = self.room_of(member)
        if room is None or not lines:
            return
        texts = tuple(lines)
        self.lines_relayed += len(texts)
        self.deliveries += len(texts) * (len(room) - 1)
        self.turn.to_room(room, events.Said(member.name, texts), exclude=member)
        self._remember(room, "said", member.name, texts)

    def act(self, member: Member, action: str) -> None:
        """Relay an action (C{/me waves}) to everyone else in its room."""
        room = self.room_of(member)
        if room is None:
            return
        self.turn.to_room(room, events.Acted(member.name, action), exclude=member)
        self._remember(room, "acted", member.name, (action,))

    def _remember(
        self, room: Room, kind: str, name: str, texts: tuple[str, ...]
    ) -> None:
        history = room.history
        if history.cap:
            dropped = history.add(self.now(), kind, name, texts)
            self.history_budget.spend(
                len(texts), dropped, (r.history for r in self._rooms.values())
            )

    def whisper(self, member: Member, name: str, message: str) -> Member | None:
        """
        Deliver C{message} to the member called C{name}, in whatever room,
        and tell C{member} it went.

        @return: that member, or L{None} if there is no such name.
        """
        target = self.find(name)
        if target is not None:
            self.turn.to_member(target, events.Whispered(member.name, message))
            self.turn.to_member(member, events.WhisperSent(target.name, message))
        return target

    def rename(self, member: Member, new_name: str) -> str | None:
        """
        Rename C{member} and announce it in each of its rooms.

        @return: L{None} on success, else a one-line reason for the refusal.
        """
        if not NAME_RULE.fullmatch(new_name):
            return f"Invalid name {new_name!r}: use {NAME_HELP}."
        if is_reserved(new_name):
            return f"The name {new_name} is reserved."
        holder = self.find(new_name)
        if holder is not None and holder is not member:
            if holder.name.casefold() == new_name.casefold():
                return f"The name {new_name} is taken."
            return f"{new_name} looks too much like {holder.name}, who is here."
        old_name = member.name
        if old_name == new_name:
            return f"You are already known as {new_name}."
        # Lines waiting go out under the name they were said with.
        self.turn.flush()
        del self._members[name_key(old_name)]
        member.name = new_name
        self._members[name_key(new_name)] = member
        self.turn.to_member(member, events.YourName(new_name))
        for room in self.rooms_of(member):
            self.turn.to_room(room, events.Renamed(old_name, new_name), exclude=member)
        return None

    def tell(self, member: Member, event: events.Event) -> None:
        """Send C{event} to C{member} alone, in order with everything else."""
        self.turn.to_member(member, event)

    def notice_everyone(self, notice: str) -> None:
        """A server notice for everyone connected."""
        for member in self._rooms_of:
            self.turn.to_member(member, events.Notice(notice))

    def who(self, room: Room, most: int = 200, own: bool = True) -> events.Who:
        """The /who answer for C{room}: at most C{most} names, sorted."""
        names = room.names
        return events.Who(
            "" if own else room.name,
            len(names),
            tuple(names[:most]),
            self.announce_limit if self.is_quiet(room) else 0,
        )

    def _remove_broken(self, member: Member, failure: Failure) -> None:
        # One broken member must never stop delivery to the others.
        log.failure("sending to {name} failed; removing it", failure, name=member.name)
        self.disconnect(member)
        member.close()

    def _fresh_guest_name(self) -> str:
        while True:
            name = f"guest{next(self._guest_numbers)}"
            if name_key(name) not in self._members:
                return name


__all__ = ["DEFAULT_ROOM", "ROOM_HELP", "Hub", "room_name"]
