"""
The database's schema, one version at a time.

The file's C{PRAGMA user_version} says how many of L{MIGRATIONS} it has;
opening it applies the rest in order, each in its own transaction together
with the new version number, so a file is always at exactly one version. A
version once released is never edited: a change is a new version appended
here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    """What takes a file from C{version - 1} to C{version}."""

    version: int
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
            # The rowid (id) gives the order lines were said in; time alone
            # would not (two lines in one turn, a clock set back).
            """CREATE TABLE history (
                id INTEGER PRIMARY KEY,
                room TEXT NOT NULL,
                time REAL NOT NULL,
                kind TEXT NOT NULL,
                name TEXT NOT NULL,
                text TEXT NOT NULL
            )""",
            # A room's last lines are one backwards walk of this index.
            "CREATE INDEX history_by_room ON history (room, id)",
            "CREATE TABLE rooms (key TEXT PRIMARY KEY, name TEXT NOT NULL, topic TEXT)",
        ),
    ),
    Migration(
        2,
        (
            # Accounts, room operator grants and restrictions (bans and
            # mutes): L{twisted_chat.store.records}. password_hash is the
            # self-describing string of twisted_chat.core.passwords.
            """CREATE TABLE accounts (
                key TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                created REAL NOT NULL
            )""",
            """CREATE TABLE grants (
                room TEXT NOT NULL,
                account TEXT NOT NULL,
                by TEXT NOT NULL,
                created REAL NOT NULL,
                PRIMARY KEY (room, account)
            )""",
            # until is NULL for a restriction that lasts until lifted.
            """CREATE TABLE restrictions (
                what TEXT NOT NULL,
                scope TEXT NOT NULL,
                target TEXT NOT NULL,
                until REAL,
                reason TEXT NOT NULL,
                by TEXT NOT NULL,
                created REAL NOT NULL,
                PRIMARY KEY (what, scope, target)
            )""",
            # A grant never outlives its account, whoever deletes the row:
            # deleting an account and its grants is one statement, so one
            # write (counted once if lost) and one transaction, and a name
            # registered again later cannot inherit the old operator grants.
            # Saving an account is an upsert (an UPDATE, never REPLACE's
            # delete), so a new password keeps the grants. Without an index
            # on grants.account this scans grants: a few rows a room.
            """CREATE TRIGGER grants_go_with_their_account
                AFTER DELETE ON accounts
                BEGIN
                    DELETE FROM grants WHERE account = old.key;
                END""",
        ),
    ),
)


def check_migrations(migrations: tuple[Migration, ...]) -> None:
    """
    @raise ValueError: unless the versions are 1, 2, 3, ... in order: a gap
        or a repeat would leave files that claim a version they lack.
    """
    versions = [migration.version for migration in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migration versions must be 1, 2, ... in order: {versions}")
