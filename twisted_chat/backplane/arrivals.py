"""
What the other daemons say, applied to the hub: L{Arrivals}.

Each daemon's messages are taken in order, once: a message whose number is
not above the last one taken from that daemon (as it runs now) is a copy
and is dropped; a gap is counted. A daemon that restarted (a new instance)
or fell silent for the claim expiry has its members shown as gone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from twisted_chat.backplane import wire
from twisted_chat.backplane.bus import Snapshot
from twisted_chat.core.peers import RemoteMember
from twisted_chat.core.room import room_key
from twisted_chat.store import HistoryEntry
from twisted_chat.store import Moderation as KeptModeration
from twisted_chat.store.records import Account, Grant, Restriction
from twisted_chat.text import clean_string

if TYPE_CHECKING:
    from twisted_chat.backplane.bridge import LinkedChat

log = Logger()

#: At most one line a minute about messages that are not ours.
BAD_LOG_SECONDS = 60.0


@dataclass(slots=True)
class _Daemon:
    """Another daemon, as heard."""

    node: str
    instance: str
    seq: int
    heard: float
    members: dict[int, RemoteMember] = field(default_factory=dict)


class Arrivals:
    """
    Guarantees: a remote member is in the hub from its daemon's "arrive"
    (or roster) until its "leave", its daemon's restart, or its daemon's
    silence; each message of another daemon is applied at most once and in
    the order it was sent; our own messages only record what was said
    here in history; nothing malformed reaches the hub.
    """

    def __init__(self, chat: LinkedChat) -> None:
        self._chat = chat
        self._daemons: dict[str, _Daemon] = {}
        # Counters, for the metrics.
        self.received = 0
        self.lines_received = 0
        self.bad = 0
        self.gaps = 0
        self._bad_logged = float("-inf")
        self._apply: dict[str, Callable[..., None]] = {
            "arrive": self._arrive,
            "leave": self._leave,
            "rename": self._rename,
            "enter": self._enter,
            "exit": self._exit,
            "said": self._said,
            "acted": self._acted,
            "topic": self._topic,
            "whisper": self._whisper,
            "remove": self._remove,
            "guest": self._guest,
            "roster": self._roster,
            "hello": self._hello,
            "beat": lambda daemon: None,
            "moderation": self._moderation,
            "notice": self._notice,
            "lock": self._lock,
        }

    @property
    def daemons(self) -> list[str]:
        """The other daemons heard lately, by node name."""
        return sorted(self._daemons)

    def heard(self, payload: bytes) -> None:
        """A message on the bus (ours too)."""
        chat = self._chat
        try:
            message = wire.decode(payload)
        except wire.WireError as error:
            self._bad(str(error))
            return
        if message.node == chat.node:
            if message.instance == chat.instance:
                self._echo(message)
            return
        daemon = self._daemons.get(message.node)
        now = chat.clock.seconds()
        if daemon is None or daemon.instance != message.instance:
            if daemon is not None:
                self._forget(message.node)
            daemon = self._daemons[message.node] = _Daemon(
                message.node, message.instance, message.seq - 1, now
            )
        if message.seq <= daemon.seq:
            return  # sent again after a reconnection: taken already
        if message.seq > daemon.seq + 1:
            self.gaps += message.seq - daemon.seq - 1
        daemon.seq = message.seq
        daemon.heard = now
        self.received += 1
        for code, *fields in message.ops:
            try:
                self._apply[code](daemon, *fields)
            except (wire.WireError, KeyError, TypeError, ValueError) as error:
                self._bad(f"{code}: {error}")

    def _bad(self, problem: str) -> None:
        self.bad += 1
        now = self._chat.clock.seconds()
        if now - self._bad_logged >= BAD_LOG_SECONDS:
            self._bad_logged = now
            log.warn(
                "a message on the link is not one of ours ({problem}); "
                "ignored ({count} so far)",
                problem=problem,
                count=self.bad,
            )

    def _echo(self, message: wire.Message) -> None:
        if not self._chat.echoed(message.seq):
            return
        hub = self._chat.hub
        for code, *fields in message.ops:
            if code == "said":
                hub.remote_said(fields[1], fields[2], "said", fields[3], False, True)
            elif code == "acted":
                hub.remote_said(
                    fields[1], fields[2], "acted", (fields[3],), False, True
                )

    def forget_silent(self, before: float) -> None:
        """Every daemon not heard since C{before} is gone, and its members."""
        for node, daemon in list(self._daemons.items()):
            if daemon.heard < before:
                log.info("node {node} fell silent; its members are gone", node=node)
                self._forget(node)

    def forget_all(self) -> None:
        """Every other daemon's members are gone (this daemon stops)."""
        for node in list(self._daemons):
            self._forget(node)

    def _forget(self, node: str) -> None:
        daemon = self._daemons.pop(node)
        for member in daemon.members.values():
            self._chat.hub.remote_left(member)

    # The ops

    def _arrive(
        self,
        daemon: _Daemon,
        ident: int,
        name: str,
        account: str | None,
        address: str | None,
    ) -> None:
        if ident in daemon.members:
            return
        member = daemon.members[ident] = RemoteMember(
            daemon.node, ident, name, account, address
        )
        self._chat.hub.remote_arrived(member)

    def _leave(self, daemon: _Daemon, ident: int) -> None:
        member = daemon.members.pop(ident, None)
        if member is not None:
            self._chat.hub.remote_left(member)

    def _rename(self, daemon: _Daemon, ident: int, name: str) -> None:
        member = daemon.members.get(ident)
        if member is not None:
            self._chat.hub.remote_renamed(member, name)

    def _enter(self, daemon: _Daemon, ident: int, room: str) -> None:
        member = daemon.members.get(ident)
        if member is not None:
            self._chat.hub.remote_entered(member, room)

    def _exit(self, daemon: _Daemon, ident: int, room: str) -> None:
        member = daemon.members.get(ident)
        if member is not None:
            self._chat.hub.remote_exited(member, room)

    def _said(
        self, daemon: _Daemon, ident: int, name: str, room: str, lines: tuple[str, ...]
    ) -> None:
        self.lines_received += len(lines)
        self._chat.hub.remote_said(name, room, "said", lines, True, True)

    def _acted(
        self, daemon: _Daemon, ident: int, name: str, room: str, text: str
    ) -> None:
        self.lines_received += 1
        self._chat.hub.remote_said(name, room, "acted", (text,), True, True)

    def _topic(
        self, daemon: _Daemon, ident: int, name: str, room: str, topic: str
    ) -> None:
        self._chat.hub.remote_topic(name, room, topic)

    def _local(self, node: str, ident: int) -> Any:
        chat = self._chat
        return chat.members_by_id.get(ident) if node == chat.node else None

    def _whisper(
        self, daemon: _Daemon, sender: str, node: str, ident: int, text: str
    ) -> None:
        target = self._local(node, ident)
        if target is not None:
            self._chat.hub.remote_whisper(sender, target, text)

    def _remove(
        self, daemon: _Daemon, node: str, ident: int, server: bool, room: str, told: str
    ) -> None:
        target = self._local(node, ident)
        if target is not None:
            self._chat.hub.remote_remove(target, server, room, told)

    def _guest(self, daemon: _Daemon, node: str, ident: int, told: str) -> None:
        target = self._local(node, ident)
        if target is not None:
            self._chat.hub.remote_guest(target, told)

    def _roster(self, daemon: _Daemon, entries: tuple[wire.RosterEntry, ...]) -> None:
        hub = self._chat.hub
        node = daemon.node
        listed = {entry[0] for entry in entries}
        for ident in [i for i in daemon.members if i not in listed]:
            hub.remote_left(daemon.members.pop(ident))
        for ident, name, account, address, rooms in entries:
            member = daemon.members.get(ident)
            if member is None:
                member = daemon.members[ident] = RemoteMember(
                    node, ident, name, account, address
                )
                hub.remote_arrived(member)
            else:
                hub.remote_renamed(member, name)
            member.account, member.address = account, address
            wanted = {room_key(room) for room in rooms}
            for room in hub.rooms_of(member):
                if room.key not in wanted:
                    hub.remote_exited(member, room.name)
            for room_name in rooms:
                hub.remote_entered(member, room_name)

    def _notice(self, daemon: _Daemon, room: str, text: str) -> None:
        self._chat.hub.remote_notice(room, text)

    def _lock(self, daemon: _Daemon, room: str, locked: bool) -> None:
        self._chat.hub.remote_lock(room, locked)

    def _hello(self, daemon: _Daemon) -> None:
        # Someone (re)joined: it must learn who is here.
        self._chat.announce()

    def _moderation(self, daemon: _Daemon, change: str, fields: object) -> None:
        record = wire.decode_record(change.lstrip("-"), fields)
        self._chat.hub.moderation.apply(change, record)

    # The shared state, read when the link comes up

    def load(self, snapshot: Snapshot, history: bool = True) -> None:
        """
        Take what is shared as it is now: accounts, bans, topics, and (if
        C{history}) each room's history.
        """
        chat = self._chat
        hub = chat.hub
        try:
            kept = _moderation(snapshot)
        except (wire.WireError, ValueError, TypeError) as error:
            self._bad(f"the shared accounts and bans: {error}")
            kept = None
        if kept is not None and _empty(kept) and not _empty(hub.moderation.kept()):
            # Redis came back with nothing (no AOF or RDB, a flush): what is
            # known here goes back in, rather than every account and ban
            # being forgotten.
            log.warn("the shared accounts and bans are gone from redis; restoring ours")
            for record in _records(hub.moderation.kept()):
                chat.save_record(wire.record_kind(record), record)
        elif kept is not None:
            hub.moderation.replace(kept)
        store = hub.keeper.store
        topics: dict[str, tuple[str, str]] = {}
        for key, value in snapshot.tables.get("topic", {}).items():
            try:
                name, topic = json.loads(value)
                topics[key] = (str(name), str(topic))
            except (ValueError, TypeError):
                self._bad("a topic")
        for name, topic in topics.values():
            room = hub.room(name, create=True)
            if room is not None:
                room.topic = topic
        replace_topics = getattr(store, "replace_topics", None)
        if replace_topics is not None:
            replace_topics(topics)
        if history:
            self.load_history(snapshot)
        chat.linked()

    def load_history(self, snapshot: Snapshot) -> None:
        """Each room's history is the shared one in C{snapshot} now."""
        hub = self._chat.hub
        replace = getattr(hub.keeper.store, "replace_history", None)
        for key, raw_entries in snapshot.history.items():
            entries = list(_entries(raw_entries, self._bad))
            if replace is not None:
                replace(key, entries)
            room = hub.room(key)
            if room is not None:
                hub.keeper.reload(room, entries, hub.rooms)


def _entries(raw_entries: list[bytes], bad: Callable[[str], None]) -> Any:
    for raw in raw_entries:
        try:
            when, kind, name, texts = json.loads(raw)
            if kind not in ("said", "acted") or not isinstance(texts, list):
                raise ValueError(kind)
            for text in texts:
                yield HistoryEntry(
                    float(when), kind, clean_string(str(name)), clean_string(str(text))
                )
        except (ValueError, TypeError):
            bad("a line of history")


def _moderation(snapshot: Snapshot) -> KeptModeration:
    found: dict[str, list[Any]] = {"account": [], "grant": [], "restriction": []}
    for kind in found:
        for value in snapshot.tables.get(kind, {}).values():
            found[kind].append(wire.decode_record(kind, json.loads(value)))
    accounts: list[Account] = found["account"]
    grants: list[Grant] = found["grant"]
    restrictions: list[Restriction] = found["restriction"]
    return KeptModeration(accounts, grants, restrictions)


def _empty(kept: KeptModeration) -> bool:
    return not (kept.accounts or kept.grants or kept.restrictions)


def _records(kept: KeptModeration) -> list[Account | Grant | Restriction]:
    return [*kept.accounts, *kept.grants, *kept.restrictions]
