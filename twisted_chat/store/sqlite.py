"""
Rooms' history and topics, accounts, grants and restrictions in an SQLite
file, so a restart loses nothing.

L{SQLiteStore} is the history concern over a L{Database}, which owns the
file, its connections, its writer thread and its schema
(L{twisted_chat.store.schema}); it hands the moderation methods to the
other concern over the same L{Database},
L{twisted_chat.store.moderation_sql.SQLiteModeration}.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from twisted_chat.store import (
    HistoryBatch,
    HistoryEntry,
    HistoryStore,
    ModerationStore,
    StoreError,
)
from twisted_chat.store.database import Database
from twisted_chat.store.moderation_sql import CHECKS as MODERATION_CHECKS
from twisted_chat.store.moderation_sql import SQLiteModeration
from twisted_chat.store.records import Account, Grant, Moderation, Restriction
from twisted_chat.store.schema import MIGRATIONS

__all__ = ["Database", "SQLiteStore"]

# A room's last lines: a backwards walk of the (room, id) index, stopped at
# the limit, so its cost does not grow with the history kept.
_LOAD = (
    "SELECT time, kind, name, text FROM history WHERE room = ? ORDER BY id DESC LIMIT ?"
)
_APPEND = "INSERT INTO history (room, time, kind, name, text) VALUES (?, ?, ?, ?, ?)"
_SAVE_TOPIC = (
    "INSERT INTO rooms (key, name, topic) VALUES (?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET name = excluded.name, topic = excluded.topic"
)
_TOPICS = "SELECT name, topic FROM rooms WHERE topic IS NOT NULL ORDER BY key"
# No index on time: a prune is rare, runs in the writer thread, and an
# index would cost every line appended.
_PRUNE = "DELETE FROM history WHERE time < ?"

# Run once at open: a file at our version whose tables are not what we read
# (altered by hand) is refused at start-up.
_CHECKS = (
    "SELECT room, time, kind, name, text FROM history LIMIT 0",
    "SELECT key, name, topic FROM rooms LIMIT 0",
)


class SQLiteStore:
    """
    A L{twisted_chat.store.HistoryStore} and
    L{twisted_chat.store.ModerationStore} in an SQLite file.

    Guarantees: what was appended is loaded back, in order, after a close
    and a reopen, and after the process is killed (SIGKILL) once it had
    been handed over for a few milliseconds; so is what was saved (see
    L{SQLiteModeration}); the writing methods return at once, and what
    cannot be written is counted in L{failures} and logged, never raised.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._moderation = SQLiteModeration(database)

    @classmethod
    def open(cls, path: str, clock: IReactorTime | None = None) -> SQLiteStore:
        """
        The store in the file at C{path}, made if there is none.

        @raise StoreError: with one line, when the file cannot be used.
        """
        database = Database.open(path, MIGRATIONS, clock)
        try:
            for sql in _CHECKS + MODERATION_CHECKS:
                database.check(sql)
        except StoreError:
            database.close_and_wait()
            raise
        return cls(database)

    @property
    def failures(self) -> int:
        """How many writes (calls of the writing methods) were lost."""
        return self.database.failures

    def load(self, room_key: str, limit: int) -> list[HistoryEntry]:
        if limit <= 0:  # SQLite takes a negative LIMIT as no limit
            return []
        # A row holds one line or more (a batch): limit rows hold enough.
        rows = self.database.query(_LOAD, (room_key, limit))
        rows.reverse()
        entries = [
            HistoryEntry(time, kind, name, line)
            for time, kind, name, text in rows
            for line in text.split("\n")
        ]
        return entries[-limit:]

    def append(self, room_key: str, entries: Sequence[HistoryEntry]) -> None:
        self.database.write(
            _APPEND,
            [
                (room_key, entry.time, entry.kind, entry.name, entry.text)
                for entry in entries
            ],
        )

    def append_batches(self, batches: Sequence[HistoryBatch]) -> None:
        self.database.write(
            _APPEND,
            [
                (room, time, kind, name, "\n".join(texts))
                for room, time, kind, name, texts in batches
            ],
        )

    def save_topic(self, room_key: str, room_name: str, topic: str | None) -> None:
        # The room's row stays (with no topic) for what rooms will keep next.
        self.database.write(_SAVE_TOPIC, [(room_key, room_name, topic or None)])

    def topics(self) -> dict[str, str]:
        return {name: topic for name, topic in self.database.query(_TOPICS)}

    def prune(self, older_than: float) -> None:
        self.database.write(_PRUNE, [(older_than,)])

    def moderation(self) -> Moderation:
        """
        Every account, grant and restriction, as last saved.

        @raise StoreError: with one line, once closed or when the file
            cannot be read.
        """
        return self._moderation.moderation()

    def save_account(self, account: Account) -> None:
        self._moderation.save_account(account)

    def delete_account(self, key: str) -> None:
        self._moderation.delete_account(key)

    def save_grant(self, grant: Grant) -> None:
        self._moderation.save_grant(grant)

    def delete_grant(self, room: str, account: str) -> None:
        self._moderation.delete_grant(room, account)

    def save_restriction(self, restriction: Restriction) -> None:
        self._moderation.save_restriction(restriction)

    def delete_restriction(self, what: str, scope: str, target: str) -> None:
        self._moderation.delete_restriction(what, scope, target)

    def close(self) -> Deferred[None]:
        return self.database.close()

    def close_and_wait(self, timeout: float = 30.0) -> None:
        """Close, blocking until the file is closed (no reactor needed)."""
        self.database.close_and_wait(timeout)


if TYPE_CHECKING:
    # Where mypy checks that the store keeps both interfaces whole.
    def _interfaces(store: SQLiteStore) -> tuple[HistoryStore, ModerationStore]:
        return store, store
