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
from functools import partial

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import text
from twisted_chat.core import events
from twisted_chat.core.accounts import AccountDesk, RunBlocking, run_here
from twisted_chat.core.history import HistoryBudget
from twisted_chat.core.keeper import HistoryKeeper
from twisted_chat.core.linked import LinkedHub
from twisted_chat.core.moderation import Moderation, describe
from twisted_chat.core.peers import Peers, is_remote
from twisted_chat.core.registry import NameRegistry
from twisted_chat.core.room import ROOM_HELP, Member, Room, room_name
from twisted_chat.core.rooms import RoomsOfHub
from twisted_chat.core.turn import Turn
from twisted_chat.store import HistoryStore, ModerationStore

log = Logger()

DEFAULT_ROOM = "lobby"


class Hub(RoomsOfHub, LinkedHub):
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
        max_rooms: int = 1000,
        history: int = 0,
        history_total: int = 50_000,
        store: HistoryStore | None = None,
        operators: Iterable[str] = (),
        accounts: bool = True,
        run_blocking: RunBlocking[object] = run_here,
    ) -> None:
        self.server_name = server_name
        #: Above this many members in a room, its joins and leaves are not
        #: announced: in a room of N people that would be N lines each.
        self.announce_limit = announce_limit
        self.motd = []
        self._clock = clock
        #: The other daemons this one is linked with (None: not linked).
        self.peers: Peers | None = None
        # Members whose new name is being claimed from the peers, and what
        # they said meanwhile.
        self._claiming: dict[Member, list[Callable[[], None]]] = {}
        self.names_in_use = NameRegistry()
        self._rooms_of: dict[Member, tuple[Room, ...]] = {}
        self._in_several: set[Member] = set()
        self._rooms: dict[str, Room] = {}
        self.keeper = HistoryKeeper(self.now, store, history, history_total, clock)
        self.turn = Turn(schedule, self._remove_broken, self._in_several)
        self.turn.after_flush = self.keeper.save_turn
        #: How many rooms may exist (0: no cap); a /join past it is refused.
        self.max_rooms = max_rooms
        #: Operators, bans and mutes, and the accounts (kept by the store).
        self.moderation = Moderation(
            self.now,
            store if isinstance(store, ModerationStore) else None,
            operators,
        )
        self.accounts = AccountDesk(self, run_blocking, clock, accounts)
        # Plain counters for metrics: lines relayed from people and
        # deliveries (one line reaching one member).
        self.lines_relayed = 0
        self.deliveries = 0
        lobby = self.room(default_room, create=True, persistent=True)
        assert lobby is not None
        self.default_room = lobby
        if store is not None:
            for name, topic in store.topics().items():
                room = self.room(name, create=True)
                if room is not None and topic:
                    room.topic = topic

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
    def history_cap(self) -> int:
        """Lines each room keeps (0: none)."""
        return self.keeper.cap

    @property
    def history_budget(self) -> HistoryBudget:
        """The cap on lines kept across all rooms."""
        return self.keeper.budget

    @property
    def bytes_out(self) -> int:
        """Bytes handed to members."""
        return self.turn.bytes_out

    def now(self) -> float:
        """The time, by the hub's clock."""
        return self._clock.seconds() if self._clock is not None else time.time()

    # Who is here

    def __len__(self) -> int:
        return len(self.names_in_use)

    def __contains__(self, member: object) -> bool:
        return member in self._rooms_of

    @property
    def members(self) -> tuple[Member, ...]:
        """Everyone connected."""
        return tuple(self._rooms_of)

    @property
    def names(self) -> list[str]:
        """Everyone's name, sorted ignoring case."""
        return self.names_in_use.names

    def find(self, name: str) -> Member | None:
        """The member called C{name} (ignoring case and look-alikes), if any."""
        return self.names_in_use.find(name)

    # Coming and going

    def connect(self, member: Member) -> None:
        """
        Give C{member} a fresh guest name, greet it, and put it in the
        default room (announced to the room).
        """
        self.turn.flush()
        name = self.names_in_use.claim_guest(member, self._registered)
        self._rooms_of[member] = ()
        self.turn.to_member(
            member, events.Welcome(self.server_name, name, len(self.names_in_use))
        )
        for line in self._motd:
            self.turn.to_member(member, events.Notice(line))
        # After the greeting (what peers tell a newcomer comes after it),
        # before the room (the other daemons hear "arrive" before "enter").
        if self.peers is not None:
            self.peers.arrived(member)
            self._claim_guest_name(member)
        self._enter(member, self.default_room)

    def disconnect(self, member: Member) -> None:
        """Take C{member} out of every room (announced) and free its name."""
        rooms = self._rooms_of.pop(member, None)
        if rooms is None:
            return
        self.turn.flush()
        for room in rooms:
            self._exit(member, room)
        self._in_several.discard(member)
        self.names_in_use.release(member)
        self._claiming.pop(member, None)
        if self.peers is not None and not is_remote(member):
            self.peers.left(member)

    def backlog(self, room: Room, most: int | None = None) -> events.Event:
        """What C{room} keeps of what was said (its last C{most} lines)."""
        return self.keeper.backlog(room, most)

    # What people do

    def say(self, member: Member, lines: Sequence[str]) -> None:
        """Relay C{lines} from C{member} to everyone else in its room."""
        if self._claiming and self.hold(
            member, partial(self.say, member, tuple(lines))
        ):
            return
        room = self.room_of(member)
        if room is None or not lines or self.muted(member, room):
            return
        texts = tuple(lines)
        self.lines_relayed += len(texts)
        self.deliveries += len(texts) * (len(room) - 1)
        self.turn.to_room(room, events.Said(member.name, texts), exclude=member)
        if self.peers is not None:
            self.peers.said(member, room, texts)
        self._record(room, "said", member.name, texts)

    def act(self, member: Member, action: str) -> None:
        """Relay an action (C{/me waves}) to everyone else in its room."""
        if self._claiming and self.hold(member, lambda: self.act(member, action)):
            return
        room = self.room_of(member)
        if room is None or self.muted(member, room):
            return
        self.turn.to_room(room, events.Acted(member.name, action), exclude=member)
        if self.peers is not None:
            self.peers.acted(member, room, action)
        self._record(room, "acted", member.name, (action,))

    def _record(self, room: Room, kind: str, name: str, texts: tuple[str, ...]) -> None:
        # Linked, the peers hand what was said here back in the one order
        # every daemon keeps, and it is recorded then.
        if self.peers is None or not self.peers.orders_history:
            self.keeper.record(room, kind, name, texts, self._rooms.values())

    def hold(self, member: Member, action: Callable[[], None]) -> bool:
        """
        While C{member}'s new name is being claimed, keep C{action} (a
        command it typed) for after the answer, and say so; a command typed
        after /nick then sees the name it was typed after, as unlinked.
        """
        held = self._claiming.get(member) if self._claiming else None
        if held is None:
            return False
        held.append(action)
        return True

    def muted(self, member: Member, room: Room) -> bool:
        """Whether C{member} is muted in C{room}; if so, it is told."""
        mute = self.restriction_on(member, "mute", room.key)
        if mute is None:
            return False
        self.tell(
            member,
            events.Refused(
                f"Not sent: you are muted in #{room.name}{describe(mute, self.now())}."
            ),
        )
        return True

    def whisper(self, member: Member, name: str, message: str) -> Member | None:
        """
        Deliver C{message} to the member called C{name}, in whatever room,
        and tell C{member} it went.

        @return: that member, or L{None} if there is no such name.
        """
        target = self.find(name)
        mute = self.moderation.in_force(
            "mute", ("",), member.account, member.name, member.address
        )
        if target is not None and mute is not None:
            how_long = describe(mute, self.now())
            self.tell(
                member,
                events.Refused(f"Not sent: you are muted on this server{how_long}."),
            )
            return target
        if target is not None:
            if self.peers is not None and is_remote(target):
                self.peers.whisper(member, target, message)  # type: ignore[arg-type]
            else:
                self.turn.to_member(target, events.Whispered(member.name, message))
            self.turn.to_member(member, events.WhisperSent(target.name, message))
        return target

    def rename(self, member: Member, new_name: str) -> str | None:
        """
        Rename C{member} and announce it in each of its rooms.

        @return: L{None} on success, else a one-line reason for the refusal.
        """
        refusal = self.names_in_use.refusal(member, new_name)
        if refusal is not None:
            return refusal
        account = self.moderation.account(new_name) if self.accounts.enabled else None
        if account is not None and member.account != account.key:
            return f"{account.name} is registered: /login {account.name} PASSWORD"
        if self.moderation.in_force("ban", ("",), None, new_name, None) is not None:
            return f"The name {new_name} is banned from this server."
        if self.peers is None:
            self.take_name(member, new_name)
            return None

        def claimed(won: bool) -> None:
            held = self._claiming.pop(member, [])
            # Asked again: while the claim was out, things may have changed.
            if member not in self._rooms_of:
                return
            refusal = self.names_in_use.refusal(member, new_name) if won else None
            if not won:
                refusal = f"The name {new_name} is taken."
            if refusal is None:
                self.take_name(member, new_name)
            else:
                self.tell(member, events.Refused(refusal))
            for action in held:
                action()

        # What it says and does until the claim is answered waits, so that
        # it goes out under the name it was said after, as it would unlinked.
        self._claiming.setdefault(member, [])
        self.peers.claim(member, new_name, claimed)
        return None

    def rename_to_guest(self, member: Member) -> None:
        """Give C{member} a fresh guest name, announced like a rename."""
        old_name = member.name
        if self.peers is not None and is_remote(member):
            # Only its own daemon can rename it; it tells everyone.
            self.peers.rename_to_guest(
                member,  # type: ignore[arg-type]
                f"{old_name} is registered and has logged in; you are a guest now.",
            )
            return
        self.names_in_use.claim_guest(member, self._registered)
        self._announce_rename(member, old_name)
        if self.peers is not None:
            self.peers.renamed(member, old_name)
            self._claim_guest_name(member)

    def _claim_guest_name(self, member: Member) -> None:
        # Guest numbers are counted by each daemon: one another daemon gave
        # out already is given up for the next free one.
        assert self.peers is not None
        name = member.name

        def claimed(won: bool) -> None:
            if not won and member in self._rooms_of and member.name == name:
                self.rename_to_guest(member)

        self.peers.claim(member, name, claimed)

    def _registered(self, name: str) -> bool:
        return self.accounts.enabled and self.moderation.account(name) is not None

    def take_name(self, member: Member, new_name: str) -> None:
        """Rename C{member} (checked by the caller), announced in its rooms."""
        old_name = member.name
        # No flush: what waits carries the names it was said with.
        self.names_in_use.take(member, new_name)
        self._announce_rename(member, old_name)
        if self.peers is not None and not is_remote(member):
            self.peers.renamed(member, old_name)

    def _announce_rename(self, member: Member, old_name: str) -> None:
        new_name = member.name
        self.turn.to_member(member, events.YourName(new_name))
        for room in self.rooms_of(member):
            self.turn.to_room(room, events.Renamed(old_name, new_name), exclude=member)

    def tell(self, member: Member, event: events.Event) -> None:
        """Send C{event} to C{member} alone, in order with everything else."""
        self.turn.to_member(member, event)

    def notice_everyone(self, notice: str) -> None:
        """A server notice for everyone connected."""
        for member in self._rooms_of:
            self.turn.to_member(member, events.Notice(notice))

    def _remove_broken(self, member: Member, failure: Failure) -> None:
        # One broken member must never stop delivery to the others.
        log.failure("sending to {name} failed; removing it", failure, name=member.name)
        self.disconnect(member)
        member.close()


__all__ = ["DEFAULT_ROOM", "ROOM_HELP", "Hub", "room_name"]
