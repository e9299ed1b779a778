"""
One room: who is in it, grouped by how they want events rendered, its
topic and its history. Delivery is the hub's (L{twisted_chat.core.turn}).
"""

from __future__ import annotations

import re
from typing import Protocol

from twisted_chat import text
from twisted_chat.core.events import Event
from twisted_chat.core.history import RoomHistory

#: A room's name: 1 to 32 letters, digits, "_", "-" or "."; a "#" before it
#: is accepted and ignored.
ROOM_RULE = re.compile(text.ROOM_PATTERN)
ROOM_HELP = "1 to 32 letters, digits, '_', '-' or '.'"


def room_name(given: str) -> str | None:
    """The room name C{given} means (without its "#"), or None if invalid."""
    name = given.removeprefix("#")
    return name if ROOM_RULE.fullmatch(name) else None


def room_key(name: str) -> str:
    """What room names are compared by: case is ignored."""
    return name.casefold()


class Renderer(Protocol):
    """
    Turns events into one front end's bytes. Members that share a renderer
    share the bytes: it is called once per event per turn, not per member.
    """

    def render(self, event: Event) -> bytes: ...


class Member(Protocol):
    """
    Someone connected, as the core sees them, whatever the front end.

    C{send} must queue the bytes for delivery and return at once: it never
    blocks and never raises for a connection that has gone away. C{close}
    ends the member's session once what was sent has been delivered.
    """

    name: str
    renderer: Renderer
    #: The key of the account it is logged in as, None for a guest.
    account: str | None
    #: Its IP address, None where there is none (a unix socket, a test).
    address: str | None

    def send(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class Room:
    """
    The members of one room, in joining order, and what it keeps.

    Guarantees: L{groups} lists every member exactly once, under its
    renderer, in joining order within each group; the topic is kept cleaned
    (one line).
    """

    def __init__(
        self, name: str, history_cap: int = 0, persistent: bool = False
    ) -> None:
        self.name = name
        self.key = room_key(name)
        #: Rooms named in the configuration exist even when empty.
        self.persistent = persistent
        self.history = RoomHistory(history_cap)
        #: Whether the store's lines for this room have been read into it.
        self.history_loaded = False
        self._topic = ""
        #: Only the room's operators may set a locked topic.
        self.topic_locked = False
        #: Who set the topic, for the log and later for moderation.
        self.topic_by = ""
        self._members: dict[Member, None] = {}
        self._groups: tuple[tuple[Renderer, tuple[Member, ...]], ...] | None = ()

    @property
    def topic(self) -> str:
        """The topic, empty for none; set to anything, it is kept as one clean line."""
        return self._topic

    @topic.setter
    def topic(self, value: str) -> None:
        self._topic = text.one_line(value)

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, member: object) -> bool:
        return member in self._members

    @property
    def members(self) -> tuple[Member, ...]:
        """Everyone here, in the order they came in."""
        return tuple(self._members)

    @property
    def names(self) -> list[str]:
        """Everyone's name, sorted ignoring case."""
        return sorted((m.name for m in self._members), key=str.casefold)

    @property
    def empty(self) -> bool:
        """Whether the room may go: nobody in it, no topic, not configured."""
        return not self._members and not self._topic and not self.persistent

    def add(self, member: Member) -> None:
        """Put C{member} in the room (last in order)."""
        self._members[member] = None
        self._groups = None

    def remove(self, member: Member) -> None:
        """Take C{member} out; one not here is ignored."""
        if self._members.pop(member, 0) is None:
            self._groups = None

    def groups(self) -> tuple[tuple[Renderer, tuple[Member, ...]], ...]:
        """The members by renderer, as the fan-out walks them."""
        if self._groups is None:
            by_renderer: dict[Renderer, list[Member]] = {}
            for member in self._members:
                by_renderer.setdefault(member.renderer, []).append(member)
            self._groups = tuple(
                (renderer, tuple(members)) for renderer, members in by_renderer.items()
            )
        return self._groups
