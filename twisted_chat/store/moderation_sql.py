"""
Accounts, room operator grants and restrictions in the SQLite file: the
moderation concern over a L{Database}, beside the history one
(L{twisted_chat.store.sqlite}), in the tables of schema version 2.

Rows hold password hashes: nothing here logs a row, and the L{Database}'s
failure log holds counts and SQLite's reasons only, never values.
"""

from __future__ import annotations

from twisted_chat.store.database import Database
from twisted_chat.store.records import Account, Grant, Moderation, Restriction

# Upserts, not INSERT OR REPLACE: REPLACE deletes the old row first, and a
# delete of an account is what takes its grants with it (schema version 2).
_SAVE_ACCOUNT = (
    "INSERT INTO accounts (key, name, password_hash, created) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET name = excluded.name,"
    " password_hash = excluded.password_hash, created = excluded.created"
)
# Its grants go in the same statement, by the schema's trigger.
_DELETE_ACCOUNT = "DELETE FROM accounts WHERE key = ?"
_SAVE_GRANT = (
    "INSERT INTO grants (room, account, by, created) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (room, account) DO UPDATE SET by = excluded.by,"
    " created = excluded.created"
)
_DELETE_GRANT = "DELETE FROM grants WHERE room = ? AND account = ?"
_SAVE_RESTRICTION = (
    "INSERT INTO restrictions (what, scope, target, until, reason, by, created)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (what, scope, target) DO UPDATE SET until = excluded.until,"
    " reason = excluded.reason, by = excluded.by, created = excluded.created"
)
_DELETE_RESTRICTION = (
    "DELETE FROM restrictions WHERE what = ? AND scope = ? AND target = ?"
)

# Each by its primary key, so both stores list them in one order (SQLite's
# BINARY collation of UTF-8 sorts as Python sorts str: by code point).
_ACCOUNTS = "SELECT key, name, password_hash, created FROM accounts ORDER BY key"
_GRANTS = "SELECT room, account, by, created FROM grants ORDER BY room, account"
_RESTRICTIONS = (
    "SELECT what, scope, target, until, reason, by, created FROM restrictions"
    " ORDER BY what, scope, target"
)

#: Run once at open (L{Database.check}): a file at our version whose tables
#: are not the ones read here (altered by hand) is refused at start-up.
CHECKS = tuple(f"{sql} LIMIT 0" for sql in (_ACCOUNTS, _GRANTS, _RESTRICTIONS))


class SQLiteModeration:
    """
    A L{twisted_chat.store.ModerationStore} in the file of C{database}.

    Guarantees: what was saved is read back by L{moderation} as it was
    saved, after a close and a reopen; saving by an existing key replaces
    that row (one row per account key, per room and account, per what,
    scope and target); deleting an account deletes its grants in the same
    transaction. The writing methods go through the writer thread like
    history's: they return at once, are committed in the order called with
    history's writes, and what is lost is counted once per call in the
    database's C{failures} and logged without any value.
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    def moderation(self) -> Moderation:
        """
        Every account, grant and restriction committed, read in one
        transaction (so the three lists agree: no commit lands between
        them), each list in the order of its primary key. Restrictions
        whose C{until} has passed are there too: expiry is the daemon's.

        @raise StoreError: with one line, once closed or when the file
            cannot be read: an empty answer would let a registered name be
            registered again and lift every ban.
        """
        accounts, grants, restrictions = self.database.snapshot(
            (_ACCOUNTS, _GRANTS, _RESTRICTIONS)
        )
        return Moderation(
            accounts=[Account(*row) for row in accounts],
            grants=[Grant(*row) for row in grants],
            restrictions=[Restriction(*row) for row in restrictions],
        )

    def save_account(self, account: Account) -> None:
        self.database.write(
            _SAVE_ACCOUNT,
            [(account.key, account.name, account.password_hash, account.created)],
        )

    def delete_account(self, key: str) -> None:
        self.database.write(_DELETE_ACCOUNT, [(key,)])

    def save_grant(self, grant: Grant) -> None:
        self.database.write(
            _SAVE_GRANT, [(grant.room, grant.account, grant.by, grant.created)]
        )

    def delete_grant(self, room: str, account: str) -> None:
        self.database.write(_DELETE_GRANT, [(room, account)])

    def save_restriction(self, restriction: Restriction) -> None:
        self.database.write(
            _SAVE_RESTRICTION,
            [
                (
                    restriction.what,
                    restriction.scope,
                    restriction.target,
                    restriction.until,
                    restriction.reason,
                    restriction.by,
                    restriction.created,
                )
            ],
        )

    def delete_restriction(self, what: str, scope: str, target: str) -> None:
        self.database.write(_DELETE_RESTRICTION, [(what, scope, target)])
