"""
Rooms' history and topics in an SQLite file, so a restart loses nothing.

L{SQLiteStore} is the history concern over a L{Database}, which owns the
file, its connections, its writer thread and its schema
(L{twisted_chat.store.schema}); accounts will be another concern over the
same L{Database}.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from twisted_chat.store import HistoryEntry, StoreError
from twisted_chat.store.database import Database
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
    A L{twisted_chat.store.HistoryStore} in an SQLite file.

    Guarantees: what was appended is loaded back, in order, after a close
    and a reopen, and after the process is killed (SIGKILL) once it had
    been handed over for a few milliseconds; the writing methods return
    at once, and what cannot be written is counted in L{failures} and
    logged, never raised.
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    @classmethod
    def open(cls, path: str, clock: IReactorTime | None = None) -> SQLiteStore:
        """
        The store in the file at C{path}, made if there is none.

        @raise StoreError: with one line, when the file cannot be used.
        """
        database = Database.open(path, MIGRATIONS, clock)
        try:
            for sql in _CHECKS:
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
        rows = self.database.query(_LOAD, (room_key, limit))
        rows.reverse()
        return [HistoryEntry(*row) for row in rows]

    def append(self, room_key: str, entries: Sequence[HistoryEntry]) -> None:
        self.database.write(
            _APPEND,
            [
                (room_key, entry.time, entry.kind, entry.name, entry.text)
                for entry in entries
            ],
        )

    def save_topic(self, room_key: str, room_name: str, topic: str | None) -> None:
        # The room's row stays (with no topic) for what rooms will keep next.
        self.database.write(_SAVE_TOPIC, [(room_key, room_name, topic or None)])

    def topics(self) -> dict[str, str]:
        return {name: topic for name, topic in self.database.query(_TOPICS)}

    def prune(self, older_than: float) -> None:
        self.database.write(_PRUNE, [(older_than,)])

    def close(self) -> Deferred[None]:
        return self.database.close()

    def close_and_wait(self, timeout: float = 30.0) -> None:
        """Close, blocking until the file is closed (no reactor needed)."""
        self.database.close_and_wait(timeout)
