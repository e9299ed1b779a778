"""
Where rooms' history is kept, and accounts, operator grants and bans.

The daemon sees only this module: L{HistoryEntry}, the records of
L{twisted_chat.store.records}, the L{HistoryStore} and L{ModerationStore}
interfaces and L{open_store}, which gives the in-memory store
(L{twisted_chat.store.memory}) when no database is named and the SQLite one
(L{twisted_chat.store.sqlite}) when one is. Under the SQLite store:
L{twisted_chat.store.moderation_sql} (the accounts' and bans' SQL),
L{twisted_chat.store.database} (the open file, its writer thread),
L{twisted_chat.store.opening} (checks at open) and
L{twisted_chat.store.schema} (the versions of the schema).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from twisted_chat.store.records import Account, Grant, Moderation, Restriction

__all__ = [
    "Account",
    "Grant",
    "HistoryBatch",
    "HistoryEntry",
    "HistoryStore",
    "Moderation",
    "ModerationStore",
    "Restriction",
    "Store",
    "StoreError",
    "open_store",
]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of a room's history, as it was said."""

    time: float  # unix seconds
    kind: str  # "said" or "acted"
    name: str
    text: str


#: Lines one person said at one time in one room, as the hub keeps them:
#: (room key, time, kind, name, the lines). Stored as one row, the lines
#: joined by newlines (which no line holds), so a busy room costs the
#: store one row per batch, not one per line.
HistoryBatch = tuple[str, float, str, str, tuple[str, ...]]


class StoreError(Exception):
    """
    A store cannot be used. Its message is one line for an admin, naming the
    file and what is wrong with it; it never holds a traceback.
    """


class HistoryStore(Protocol):
    """
    Rooms' history and topics, by room key.

    The writing methods never block on disk and never raise: what cannot be
    written is counted in L{failures} and logged. The reading methods are
    synchronous and cheap (an indexed query with a limit).
    """

    @property
    def failures(self) -> int:
        """How many writes (calls of the writing methods) were lost."""

    def load(self, room_key: str, limit: int) -> list[HistoryEntry]:
        """The last C{limit} entries of the room (at most C{limit}), oldest first."""

    def append(self, room_key: str, entries: Sequence[HistoryEntry]) -> None:
        """Keep C{entries} after the room's others, in order."""

    def append_batches(self, batches: Sequence[HistoryBatch]) -> None:
        """Keep C{batches}, each after its room's others, in order."""

    def save_topic(self, room_key: str, room_name: str, topic: str | None) -> None:
        """Keep the room's topic (None or empty removes it) and its name."""

    def topics(self) -> dict[str, str]:
        """Every room's topic, by the room's name as last saved."""

    def prune(self, older_than: float) -> None:
        """Forget every entry whose time is before C{older_than}."""

    def close(self) -> Deferred[None]:
        """
        Fires once everything written before it is kept (committed, for a
        file) and the store is closed. Writes after it are lost (counted).
        """


@runtime_checkable
class ModerationStore(Protocol):
    """
    Accounts, room operator grants and restrictions, kept by the same store
    as history. Read all at once at start-up (L{moderation}); the daemon
    keeps them in memory. The writing methods never block on disk and never
    raise (lost writes are counted in C{failures}, as for history).
    """

    def moderation(self) -> Moderation:
        """
        Everything kept, as it was last saved, each list in the order of its
        key (expired restrictions included: expiry is the daemon's).

        @raise StoreError: with one line, when the file cannot be read (or
            is closed), rather than an empty answer, which would free every
            registered name and lift every ban.
        """

    def save_account(self, account: Account) -> None:
        """Keep C{account} (a new one, or a new password: by its key)."""

    def delete_account(self, key: str) -> None:
        """Forget the account C{key}, and its grants."""

    def save_grant(self, grant: Grant) -> None:
        """Keep C{grant} (one per room and account)."""

    def delete_grant(self, room: str, account: str) -> None:
        """Forget that C{account} is an operator of C{room}."""

    def save_restriction(self, restriction: Restriction) -> None:
        """Keep C{restriction} (one per what, scope and target: it replaces)."""

    def delete_restriction(self, what: str, scope: str, target: str) -> None:
        """Lift the restriction C{what} on C{target} in C{scope}."""


class Store(HistoryStore, ModerationStore, Protocol):
    """What L{open_store} gives: history and moderation, in one place."""


def open_store(path: str | None, clock: IReactorTime | None = None) -> Store:
    """
    The in-memory store for None, the SQLite database at C{path} otherwise
    (made, with mode 0600, if there is none).

    C{clock} is the reactor (the global one when None): its time spaces the
    failure log out; when it can C{callFromThread}, the writer thread's log
    lines and close's result are handed to the reactor thread through it.

    @raise StoreError: with one line, when C{path} cannot be used: its
        directory is missing or not writable, the file is not SQLite or is
        corrupt, or it was made by a newer schema version than ours.
    """
    # Imported here so the in-memory store loads no sqlite3 and the
    # submodules can import this one's names without a cycle.
    if path is None:
        from twisted_chat.store.memory import MemoryStore

        return MemoryStore()
    from twisted_chat.store.sqlite import SQLiteStore

    return SQLiteStore.open(path, clock)
