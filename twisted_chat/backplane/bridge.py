"""
L{LinkedChat}: one hub linked with the hubs of other daemons over a L{Bus}.

It is the hub's L{twisted_chat.core.peers.Peers}: what the hub's own
members do goes out as one message per reactor turn (L{wire}); what the
other daemons' members do comes in through L{Arrivals} and reaches the
hub as remote members' doings. While the bus is down, messages wait, in
order, for at most C{replay_seconds}; past that they are dropped, counted
and announced, so an outage never costs unbounded memory.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from itertools import count
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat.backplane import wire
from twisted_chat.backplane.arrivals import Arrivals
from twisted_chat.backplane.bus import Bus, Snapshot
from twisted_chat.backplane.guests import GuestNumbers
from twisted_chat.backplane.outbox import Outbox
from twisted_chat.backplane.rejoin import reclaim, roster
from twisted_chat.core import events
from twisted_chat.core.hub import Hub
from twisted_chat.core.peers import RemoteMember
from twisted_chat.core.room import Member, Room
from twisted_chat.names import name_key
from twisted_chat.store.records import Account, Grant, Restriction

log = Logger()


#: A link not up this long after start-up is said to be down.
FIRST_LINK_SECONDS = 1.0
#: How often the daemon looks at the time: beats, silences, the outage.
TICK_SECONDS = 0.5
#: A beat every this share of the claim expiry...
BEAT_SHARE = 0.2
#: ...and a daemon not heard for this share of it is gone: its people are
#: shown as gone, and its heartbeat key (which frees their names) expires,
#: within the expiry of its last beat.
SILENT_SHARE = 0.7

LINK_DOWN = (
    "The link to the other servers is down: chat here goes on, and what is "
    "said here reaches them when it is back (within {seconds} s)."
)
LINK_BACK = "The link to the other servers is back."
LINK_LOST = (
    "The link to the other servers was down over {seconds} s: {lines} "
    "said here since then did not reach them."
)


class LinkedChat:
    """
    Guarantees: every change among the hub's own members is sent, in
    order, in one message per turn; a message is sent again after a
    reconnection until the bus answers it (the bus publishes it once);
    what was said here while linked is recorded in history when it comes
    back, so every linked hub keeps the bus's one order; names are claimed
    on the bus before a rename takes them, and claimed again after each
    reconnection (a member who lost its name meanwhile becomes a guest).
    """

    def __init__(
        self,
        hub: Hub,
        bus: Bus,
        node: str,
        clock: IReactorTime,
        claim_expiry: float = 15.0,
        replay_seconds: float = 10.0,
        instance: str | None = None,
    ) -> None:
        self.hub = hub
        self.bus = bus
        self.node = node
        self.instance = instance or uuid.uuid4().hex
        self.clock = clock
        self.claim_expiry = claim_expiry
        self.replay_seconds = replay_seconds
        self.arrivals = Arrivals(self)
        self._ids: dict[Member, int] = {}
        self.members_by_id: dict[int, Member] = {}
        self._numbers = count(1)
        self._ops: list[list[Any]] = []
        self._history: dict[str, list[bytes]] = {}
        self._lines = 0
        self._turn: IDelayedCall | None = None
        self._seq = 0
        self.outbox = Outbox(
            bus, clock, self.instance, lambda: hub.history_cap, replay_seconds
        )
        self.outbox.on_dropped = self._dropped
        self._recorded_here: set[int] = set()
        self._turn_recorded_here = False
        self._unsaved: dict[tuple[str, str], bytes | None] = {}
        self._untold: dict[tuple[str, str], tuple[str, list[Any]]] = {}
        self._told_down = False
        self._ever_up = False
        self._started = 0.0
        self._loaded = False
        self.refused = False  # another daemon runs under our node name
        #: Times the link came back, for the metrics.
        self.reconnects = 0
        self._last_beat = float("-inf")
        self._beat = LoopingCall(self._tick)
        self._beat.clock = clock
        # Guest numbers, reserved in blocks on the bus: no two daemons give
        # out the same guest name, and a connection never waits for one.
        self.guests = GuestNumbers(bus, hub.names_in_use.next_guest_number)
        hub.names_in_use.next_guest_number = self.guests
        hub.peers = self
        bus.listen(self.arrivals.heard)
        bus.on_state(self._state)

    def start(self) -> None:
        """Beat, and watch the other daemons' beats."""
        self._started = self.clock.seconds()
        # A tenth of the expiry at most: beats and silences are seen on
        # this grid, and it must stay fine beside the expiry.
        self._beat.start(min(TICK_SECONDS, self.claim_expiry / 10), now=False)
        if self.bus.up:
            self._state(True)

    def stop(self) -> None:
        """Send what waits (if the bus is up), and beat no more."""
        if self._beat.running:
            self._beat.stop()
        self.end_of_turn()

    # Figures, for the metrics

    @property
    def up(self) -> bool:
        return self.bus.up and not self.refused

    @property
    def waiting(self) -> int:
        """Messages sent and not answered, or not sent yet."""
        return len(self.outbox)

    @property
    def published(self) -> int:
        """Messages the bus took."""
        return self.outbox.published

    @property
    def lines_published(self) -> int:
        """Lines said here that the bus took."""
        return self.outbox.lines_published

    @property
    def lines_dropped(self) -> int:
        """Lines said here that never went (the link was down too long)."""
        return self.outbox.lines_dropped

    # Peers: what the hub's own members do

    @property
    def orders_history(self) -> bool:
        return self.up

    def _op(self, *op: Any) -> None:
        self._ops.append(list(op))
        if self._turn is None:
            self._turn = self.clock.callLater(0, self.end_of_turn)

    def ident(self, member: Member) -> int:
        ident = self._ids.get(member)
        if ident is None:
            ident = self._ids[member] = next(self._numbers)
            self.members_by_id[ident] = member
        return ident

    def owner(self, member: Member) -> str:
        return f"{self.node}|{self.instance}|{self.ident(member)}"

    def arrived(self, member: Member) -> None:
        if self._told_down:
            self.hub.tell(
                member,
                events.Notice(LINK_DOWN.format(seconds=int(self.replay_seconds))),
            )
        self._op(
            "arrive", self.ident(member), member.name, member.account, member.address
        )

    def left(self, member: Member) -> None:
        ident = self._ids.pop(member, None)
        if ident is None:
            return
        self.bus.release(name_key(member.name), f"{self.node}|{self.instance}|{ident}")
        del self.members_by_id[ident]
        self._op("leave", ident)

    def renamed(self, member: Member, old_name: str) -> None:
        if name_key(old_name) != name_key(member.name):
            self.bus.release(name_key(old_name), self.owner(member))
        self._op("rename", self.ident(member), member.name)
        if self.up:
            # Already claimed for a /nick; a login takes its own name.
            self.bus.claim(name_key(member.name), self.owner(member))

    def entered(self, member: Member, room: Room) -> None:
        self._op("enter", self.ident(member), room.name)

    def exited(self, member: Member, room: Room) -> None:
        self._op("exit", self.ident(member), room.name)

    def said(self, member: Member, room: Room, texts: tuple[str, ...]) -> None:
        self._op("said", self.ident(member), member.name, room.name, list(texts))
        self._keep(room, "said", member.name, list(texts))

    def acted(self, member: Member, room: Room, action: str) -> None:
        self._op("acted", self.ident(member), member.name, room.name, action)
        self._keep(room, "acted", member.name, [action])

    def _keep(self, room: Room, kind: str, name: str, texts: list[str]) -> None:
        self._lines += len(texts)
        if not self.up:
            # The hub recorded it as said: not again when it comes back.
            self._turn_recorded_here = True
        if self.hub.history_cap:
            entry = json.dumps(
                [self.hub.now(), kind, name, texts], ensure_ascii=False
            ).encode("utf-8")
            self._history.setdefault(room.key, []).append(entry)

    def topic_set(self, member: Member, room: Room) -> None:
        self._op("topic", self.ident(member), member.name, room.name, room.topic)
        value = json.dumps([room.name, room.topic]).encode() if room.topic else None
        self.save_table("topic", room.key, value)

    def claim(self, member: Member, name: str, done: Callable[[bool], None]) -> None:
        if not self.up:
            done(True)
            return

        def failed(failure: Failure) -> None:
            # The link went down meanwhile: take it; claimed again when back.
            done(True)

        self.bus.claim(name_key(name), self.owner(member)).addCallbacks(done, failed)

    def whisper(self, member: Member, target: RemoteMember, text: str) -> None:
        self._op("whisper", member.name, target.node, target.ident, text)

    def remove(
        self, target: RemoteMember, server: bool, room: Room | None, told: str
    ) -> None:
        where = room.name if room is not None else ""
        self._op("remove", target.node, target.ident, server, where, told)

    def rename_to_guest(self, target: RemoteMember, told: str) -> None:
        self._op("guest", target.node, target.ident, told)

    def announced(self, room: Room, text: str) -> None:
        self._op("notice", room.name, text)

    def topic_lock_set(self, room: Room) -> None:
        self._op("lock", room.name, room.topic_locked)

    # Shared records (the store's writes, when linked)

    def save_record(self, change: str, record: Account | Grant | Restriction) -> None:
        """Keep a change of an account, grant or restriction, and tell everyone."""
        kind = wire.record_kind(record)
        fields = wire.encode_record(record)
        kept = None if change.startswith("-") else json.dumps(fields).encode()
        self.save_table(kind, wire.record_key(record), kept)
        self._op("moderation", change, fields)
        if not self.up:
            # Told again when the link is back: the message may not outlive
            # a long outage, and an account the others never heard of could
            # be registered again there.
            self._untold[kind, wire.record_key(record)] = (change, fields)

    def save_table(self, table: str, key: str, value: bytes | None) -> None:
        if self.up:
            self.bus.save(table, key, value)
        else:
            self._unsaved[table, key] = value

    # Sending

    def end_of_turn(self) -> None:
        """Send this turn's message (the hub's changes, in order)."""
        if self._turn is not None and self._turn.active():
            self._turn.cancel()
        self._turn = None
        if not self._ops:
            return
        self._seq += 1
        ops, self._ops = self._ops, []
        history = list(self._history.items())
        self._history = {}
        lines, self._lines = self._lines, 0
        if self._turn_recorded_here:
            self._turn_recorded_here = False
            self._recorded_here.add(self._seq)
        payload = wire.encode(self.node, self.instance, self._seq, ops)
        self.outbox.add(self._seq, payload, history, lines)

    def _dropped(self, lines: int) -> None:
        self._recorded_here.clear()
        if not lines:
            return  # nobody said anything: nothing to tell
        self.hub.notice_everyone(
            LINK_LOST.format(
                seconds=int(self.replay_seconds),
                lines=f"{lines} line" if lines == 1 else f"{lines} lines",
            )
        )

    # The link's state

    def _state(self, up: bool) -> None:
        self.outbox.closed()
        if not up:
            self._say_down()
            return
        if self._ever_up:
            self.reconnects += 1
        self._ever_up = True
        self.bus.beat(
            self.node, self.instance, self.claim_expiry * SILENT_SHARE
        ).addCallback(self._beaten)

    def _say_down(self) -> None:
        if not self._told_down:
            self._told_down = True
            self.hub.notice_everyone(LINK_DOWN.format(seconds=int(self.replay_seconds)))

    def _beaten(self, ours: bool) -> None:
        if not ours:
            if not self.refused:
                log.error(
                    "another daemon is linked as node {node}; this one stays "
                    "apart until it goes (give each daemon its own --node-name)",
                    node=self.node,
                )
            self.refused = True
            self.outbox.closed()
            return
        if self.refused:
            self.refused = False
        self.guests.reserve()
        unsaved, self._unsaved = self._unsaved, {}
        for (table, key), value in unsaved.items():
            self.bus.save(table, key, value)
        untold, self._untold = self._untold, {}
        for change, fields in untold.values():
            self._op("moderation", change, fields)
        # What waited goes first: the bus takes commands in order, so the
        # snapshot holds it, and every daemon's history has it in one place.
        self.outbox.opened()
        # History only the first time: after that, what was said while the
        # link was down comes from the stream, where the bus left off.
        first = not self._loaded
        self._loaded = True
        snapshot = self.bus.snapshot(self.hub.history_cap)
        snapshot.addCallback(self._took_snapshot, first)
        snapshot.addErrback(self._not_loaded)

    def _took_snapshot(self, snapshot: Snapshot, first: bool) -> None:
        self.arrivals.load(snapshot, first)
        if not first:
            # What was said while apart is in the snapshot, in the one
            # order, once the stream is read as far: history again then.
            caught = self.bus.caught_up()
            caught.addCallback(lambda _: self._reload_history(snapshot))

    def _reload_history(self, snapshot: Snapshot) -> None:
        # Lines of ours still to come back are recorded when they do.
        self._recorded_here.clear()
        self.arrivals.load_history(snapshot)

    def _not_loaded(self, failure: Failure) -> None:
        log.error(
            "the shared accounts, bans and history could not be read: {problem}",
            problem=failure.getErrorMessage(),
        )

    def linked(self) -> None:
        """
        The shared state is loaded: names claimed again, everyone told who
        is here, the local members told the link is back.
        """
        hub = self.hub
        for member in hub.local_members():
            reclaim(self, member)
        self._op("hello")
        self.announce()
        if self._told_down:
            self._told_down = False
            hub.notice_everyone(LINK_BACK)

    def announce(self) -> None:
        """Tell the other daemons everyone here (they replace what they knew)."""
        self._op("roster", roster(self))

    def _tick(self) -> None:
        now = self.clock.seconds()
        if self.bus.up and now - self._last_beat >= self.claim_expiry * BEAT_SHARE:
            # Refused too: the node name is ours once its holder has gone.
            self._last_beat = now
            self.bus.beat(
                self.node, self.instance, self.claim_expiry * SILENT_SHARE
            ).addCallback(self._still_ours)
            if self.up:
                self._op("beat")
        elif not self.up:
            self.outbox.expire()
            if (
                not self._told_down
                and not self._ever_up
                and now - self._started >= FIRST_LINK_SECONDS
            ):
                # Not there at start-up: said once it is clearly not coming
                # at once, not to everyone who connects in the first moment.
                self._say_down()
        # Beats come every fifth of the expiry: three and a half missed, it
        # is gone, so its people are shown as gone well within the expiry.
        self.arrivals.forget_silent(now - self.claim_expiry * SILENT_SHARE)

    def _still_ours(self, ours: bool) -> None:
        if ours == self.refused:  # it changed hands
            self._beaten(ours)

    # Records sent back to us

    def echoed(self, seq: int) -> bool:
        """Whether a message of ours coming back needs recording in history."""
        if seq in self._recorded_here:
            self._recorded_here.discard(seq)
            return False
        return True
