"""
The in-memory store: history and topics, accounts, grants and restrictions
for the life of the process.

It remembers what it is given, up to C{per_room} entries a room, so a room
that empties, disappears and is made again in the same process gets its
history back, as it would from a file; nothing survives a restart.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred, succeed

from twisted_chat.store import HistoryBatch, HistoryEntry, HistoryStore, ModerationStore
from twisted_chat.store.records import Account, Grant, Moderation, Restriction

#: How many entries a room keeps when no other limit is given.
PER_ROOM = 1000


class MemoryStore:
    """
    A L{twisted_chat.store.HistoryStore} and
    L{twisted_chat.store.ModerationStore} in memory.

    Guarantees: C{load} gives the last entries appended (at most
    C{per_room}, and at most its C{limit}), oldest first; L{moderation}
    gives what was saved, by the same rules as the file store (one per
    key, an account's grants deleted with it, lists in key order); every
    method returns at once and none fails, so L{failures} stays 0 until
    the store is closed, after which writes are lost and counted, as in
    the file store.
    """

    def __init__(self, per_room: int = PER_ROOM) -> None:
        self.failures = 0
        self._per_room = per_room
        self._history: dict[str, deque[HistoryEntry]] = {}
        # room key -> (room name, topic)
        self._topics: dict[str, tuple[str, str]] = {}
        # Each by the primary key of its table in the file store.
        self._accounts: dict[str, Account] = {}
        self._grants: dict[tuple[str, str], Grant] = {}
        self._restrictions: dict[tuple[str, str, str], Restriction] = {}
        self._closed = False

    def load(self, room_key: str, limit: int) -> list[HistoryEntry]:
        kept = self._history.get(room_key)
        if kept is None or limit <= 0:
            return []
        return list(kept)[-limit:]

    def append(self, room_key: str, entries: Sequence[HistoryEntry]) -> None:
        if self._closed:
            self.failures += 1
            return
        kept = self._history.get(room_key)
        if kept is None:
            kept = self._history[room_key] = deque(maxlen=self._per_room)
        kept.extend(entries)

    def append_batches(self, batches: Sequence[HistoryBatch]) -> None:
        if self._closed:
            self.failures += 1
            return
        for room, time, kind, name, texts in batches:
            self.append(room, [HistoryEntry(time, kind, name, t) for t in texts])

    def save_topic(self, room_key: str, room_name: str, topic: str | None) -> None:
        if self._closed:
            self.failures += 1
        elif topic:
            self._topics[room_key] = (room_name, topic)
        else:
            self._topics.pop(room_key, None)

    def replace_history(self, room_key: str, entries: Sequence[HistoryEntry]) -> None:
        """The room's history is C{entries} now (a copy shared elsewhere)."""
        if entries:
            self._history[room_key] = deque(entries, maxlen=self._per_room)
        else:
            self._history.pop(room_key, None)

    def replace_topics(self, topics: dict[str, tuple[str, str]]) -> None:
        """Every topic is one of C{topics} now: room key -> (room name, topic)."""
        self._topics = dict(topics)

    def topics(self) -> dict[str, str]:
        return dict(self._topics.values())

    def prune(self, older_than: float) -> None:
        if self._closed:
            self.failures += 1
            return
        for room_key, kept in list(self._history.items()):
            fresh = [entry for entry in kept if entry.time >= older_than]
            if fresh:
                self._history[room_key] = deque(fresh, maxlen=self._per_room)
            else:
                del self._history[room_key]

    def moderation(self) -> Moderation:
        """Everything saved, each list in the order of its key (never raises)."""
        return Moderation(
            accounts=[self._accounts[key] for key in sorted(self._accounts)],
            grants=[self._grants[key] for key in sorted(self._grants)],
            restrictions=[
                self._restrictions[key] for key in sorted(self._restrictions)
            ],
        )

    def save_account(self, account: Account) -> None:
        if self._lost():
            return
        self._accounts[account.key] = account

    def delete_account(self, key: str) -> None:
        if self._lost():
            return
        self._accounts.pop(key, None)
        self._grants = {k: g for k, g in self._grants.items() if g.account != key}

    def save_grant(self, grant: Grant) -> None:
        if self._lost():
            return
        self._grants[grant.room, grant.account] = grant

    def delete_grant(self, room: str, account: str) -> None:
        if self._lost():
            return
        self._grants.pop((room, account), None)

    def save_restriction(self, restriction: Restriction) -> None:
        if self._lost():
            return
        key = (restriction.what, restriction.scope, restriction.target)
        self._restrictions[key] = restriction

    def delete_restriction(self, what: str, scope: str, target: str) -> None:
        if self._lost():
            return
        self._restrictions.pop((what, scope, target), None)

    def close(self) -> Deferred[None]:
        self._closed = True
        return succeed(None)

    def _lost(self) -> bool:
        """Whether a write now is lost (the store is closed), counting it."""
        if self._closed:
            self.failures += 1
        return self._closed


if TYPE_CHECKING:
    # Where mypy checks that the store keeps both interfaces whole.
    def _interfaces(store: MemoryStore) -> tuple[HistoryStore, ModerationStore]:
        return store, store
