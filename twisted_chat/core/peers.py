"""
The other daemons a hub is linked with, as the core sees them.

A linked hub tells its L{Peers} (the backplane) everything its own members
do, and the backplane tells the hub what members elsewhere did (through
L{twisted_chat.core.linked.LinkedHub}). Someone connected to another daemon
is a L{RemoteMember} here: a proxy that sits in rooms and holds a name like
anyone, so /who, /rooms, /msg, the announce limit and name uniqueness work
unchanged, but renders nothing and is sent nothing (its own daemon
delivers to it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from twisted_chat.core.events import Event
from twisted_chat.core.room import Member, Renderer, Room


class _Nothing:
    """The renderer of remote members: their own daemon renders for them."""

    def render(self, event: Event) -> bytes:
        return b""


#: Shared by every L{RemoteMember}: the turn renders its group to nothing
#: and so sends it nothing, at the cost of one call per event.
REMOTE = _Nothing()


class RemoteMember:
    """
    Someone connected to the daemon C{node}, known there as C{ident}.

    Guarantees: C{send} and C{close} do nothing (what concerns it is
    forwarded to its daemon through L{Peers}); C{renderer} is L{REMOTE}.
    """

    __slots__ = ("account", "address", "ident", "name", "node")

    renderer: Renderer = REMOTE

    def __init__(
        self,
        node: str,
        ident: int,
        name: str,
        account: str | None = None,
        address: str | None = None,
    ) -> None:
        self.node = node
        self.ident = ident
        self.name = name
        self.account = account
        self.address = address

    def __repr__(self) -> str:
        return f"<RemoteMember {self.name} on {self.node}>"

    def send(self, data: bytes) -> None:
        """Nothing: its own daemon delivers to it."""

    def close(self) -> None:
        """Nothing: only its own daemon can close it (L{Peers.remove})."""


def is_remote(member: Member) -> bool:
    """Whether C{member} is connected to another daemon."""
    return type(member) is RemoteMember


class Peers(Protocol):
    """
    The backplane, as the hub uses it: it hears of every change among the
    hub's own members (never of remote ones: it told the hub of those) and
    forwards what a remote member must be told or made to do.

    Every method returns at once; what goes to the other daemons goes in
    the order the hub told it.
    """

    @property
    def orders_history(self) -> bool:
        """
        Whether lines said here are recorded in history when they come back
        from the backplane, in the order every daemon saw them (the hub then
        does not record them as they are said).
        """

    def arrived(self, member: Member) -> None:
        """C{member} connected (it has its guest name, it is in no room yet)."""

    def left(self, member: Member) -> None:
        """C{member} disconnected (it has left its rooms)."""

    def renamed(self, member: Member, old_name: str) -> None:
        """C{member}, called C{old_name} before, has its new name."""

    def entered(self, member: Member, room: Room) -> None:
        """C{member} came into C{room}."""

    def exited(self, member: Member, room: Room) -> None:
        """C{member} left C{room}."""

    def said(self, member: Member, room: Room, texts: tuple[str, ...]) -> None:
        """C{member} said C{texts} in C{room}."""

    def acted(self, member: Member, room: Room, action: str) -> None:
        """C{member} did C{action} in C{room}."""

    def topic_set(self, member: Member, room: Room) -> None:
        """C{member} set C{room}'s topic (to C{room.topic}; empty: none)."""

    def claim(self, member: Member, name: str, done: Callable[[bool], None]) -> None:
        """
        Claim C{name} for C{member} across daemons: C{done(True)} once it is
        C{member}'s, C{done(False)} if another member holds it. Unlinked,
        C{done(True)} at once (claims are made again when the link is back).
        """

    def whisper(self, member: Member, target: RemoteMember, text: str) -> None:
        """C{member} sends C{text} privately to C{target}."""

    def remove(
        self, target: RemoteMember, server: bool, room: Room | None, told: str
    ) -> None:
        """
        Have C{target}'s daemon take it off the server (C{server}) or out of
        C{room}, telling it C{told} first.
        """

    def announced(self, room: Room, text: str) -> None:
        """A server notice was put in C{room} here (a ban, a kick, a lock)."""

    def topic_lock_set(self, room: Room) -> None:
        """C{room}'s topic was locked or unlocked here (C{room.topic_locked})."""

    def rename_to_guest(self, target: RemoteMember, told: str) -> None:
        """Have C{target}'s daemon give it a guest name, telling it C{told}."""
