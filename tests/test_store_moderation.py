"""
What both stores guarantee of accounts, operator grants and restrictions
(the L{twisted_chat.store.ModerationStore}), and what the SQLite one adds:
the upgrade of a version-1 file, its refusals, its failures, and that it
never logs a password hash.

The shared tests run on both stores; for the file, "reopen" closes it and
opens it again, so each guarantee also holds across a restart.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs, formatEvent

from tests.stores import Reopen, close
from tests.support import wait_for
from twisted_chat.store import (
    Account,
    Grant,
    HistoryEntry,
    Moderation,
    Restriction,
    StoreError,
)
from twisted_chat.store.database import Database
from twisted_chat.store.memory import MemoryStore
from twisted_chat.store.schema import MIGRATIONS
from twisted_chat.store.sqlite import SQLiteStore

Store = MemoryStore | SQLiteStore

#: A stored hash, as twisted_chat.core.passwords writes them.
HASH = (
    "scrypt$16384$8$1$c2VjcmV0IHNhbHQgMTIzNA=="
    "$c2VjcmV0IGhhc2ggb2YgdGhpcnR5LXR3byBieXRlcyE="
)
NEW_HASH = (
    "scrypt$16384$8$1$bmV3IHNhbHQgMTIzNDU2Nw=="
    "$bmV3IGhhc2ggb2YgdGhpcnR5LXR3byBieXRlcyEhISE="
)


def account(key: str, password_hash: str = HASH, name: str = "") -> Account:
    return Account(key, name or key.capitalize(), password_hash, 1000.5)


def grant(room: str, account: str, by: str = "") -> Grant:
    return Grant(room, account, by, 2000.25)


def ban(target: str, scope: str = "", until: float | None = None) -> Restriction:
    return Restriction("ban", scope, target, until, "spam", "Ann", 3000.0)


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "chat.db")


def query(path: str, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
    """What another connection finds in the file."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


# What both stores keep, and how.


def test_a_new_store_keeps_nothing(stores: Reopen) -> None:
    """A store nothing was saved in gives three empty lists."""
    assert stores(None).moderation() == Moderation([], [], [])


def test_accounts_come_back_as_saved(stores: Reopen) -> None:
    """Accounts come back exactly (names of any script, the hash, the
    time), in the order of their keys."""
    store = stores(None)
    zoe = Account("zoë", "Zoë", HASH, 1234.125)
    bob = account("bob", NEW_HASH)
    store.save_account(zoe)
    store.save_account(bob)
    assert stores(store).moderation().accounts == [bob, zoe]


def test_grants_come_back_as_saved(stores: Reopen) -> None:
    """Grants come back exactly, by room then account, the creator's with
    an empty C{by}."""
    store = stores(None)
    grants = [grant("lobby", "bob", by="Ann"), grant("dev", "ann"), grant("dev", "zed")]
    for each in grants:
        store.save_grant(each)
    assert stores(store).moderation().grants == sorted(
        grants, key=lambda g: (g.room, g.account)
    )


def test_restrictions_come_back_as_saved(stores: Reopen) -> None:
    """Bans and mutes, server-wide and in a room, by name and by address,
    come back exactly, by what, scope and target."""
    store = stores(None)
    restrictions = [
        ban("name:bob", until=5000.5),
        ban("address:192.0.2.0/24"),
        Restriction("mute", "lobby", "name:carol", 4000.0, "", "Dan", 3500.75),
        ban("address:2001:db8::1", scope="dev"),
    ]
    for each in restrictions:
        store.save_restriction(each)
    assert stores(store).moderation().restrictions == sorted(
        restrictions, key=lambda r: (r.what, r.scope, r.target)
    )


def test_until_none_comes_back_as_none(stores: Reopen) -> None:
    """A restriction until lifted (C{until=None}) comes back with None,
    not 0 or a string."""
    store = stores(None)
    store.save_restriction(ban("name:bob", until=None))
    [restriction] = stores(store).moderation().restrictions
    assert restriction.until is None


def test_an_expired_restriction_is_still_given(stores: Reopen) -> None:
    """A restriction whose C{until} has long passed is kept and given back:
    expiry is the daemon's business, not the store's."""
    store = stores(None)
    store.save_restriction(ban("name:bob", until=1.0))
    assert stores(store).moderation().restrictions == [ban("name:bob", until=1.0)]


def test_saving_an_account_again_replaces_it(stores: Reopen) -> None:
    """An account saved again by its key (a new password, a new case of
    the name) is one account, the last saved, and keeps its grants."""
    store = stores(None)
    store.save_account(account("bob", HASH, name="bob"))
    store.save_grant(grant("lobby", "bob"))
    store = stores(store)
    store.save_account(account("bob", NEW_HASH, name="Bob"))
    moderation = stores(store).moderation()
    assert moderation.accounts == [account("bob", NEW_HASH, name="Bob")]
    assert moderation.grants == [grant("lobby", "bob")]


def test_saving_a_grant_again_replaces_it(stores: Reopen) -> None:
    """A grant saved again for the same room and account is one grant."""
    store = stores(None)
    store.save_grant(grant("lobby", "bob", by="Ann"))
    store.save_grant(grant("lobby", "bob", by="Carol"))
    assert stores(store).moderation().grants == [grant("lobby", "bob", by="Carol")]


def test_saving_a_restriction_again_replaces_it(stores: Reopen) -> None:
    """A restriction saved on the same what, scope and target replaces the
    one there (a ban made longer, then lifted to until-lifted); another
    what, scope or target is another restriction."""
    store = stores(None)
    store.save_restriction(ban("name:bob", until=10.0))
    store.save_restriction(ban("name:bob", until=20.0))
    store = stores(store)
    replaced = Restriction("ban", "", "name:bob", None, "again", "Carol", 3100.0)
    store.save_restriction(replaced)
    store.save_restriction(ban("name:bob", scope="dev"))
    mute = Restriction("mute", "", "name:bob", None, "", "Ann", 1.0)
    store.save_restriction(mute)
    assert stores(store).moderation().restrictions == [
        replaced,
        ban("name:bob", scope="dev"),
        mute,
    ]


def test_deleting_an_account_deletes_its_grants_only(stores: Reopen) -> None:
    """delete_account forgets the account and every grant of it, in every
    room; other accounts and their grants stay."""
    store = stores(None)
    for key in ("ann", "bob"):
        store.save_account(account(key))
        store.save_grant(grant("lobby", key))
        store.save_grant(grant("dev", key))
    store = stores(store)
    store.delete_account("bob")
    moderation = stores(store).moderation()
    assert moderation.accounts == [account("ann")]
    assert moderation.grants == [grant("dev", "ann"), grant("lobby", "ann")]


def test_an_account_registered_again_has_no_old_grants(stores: Reopen) -> None:
    """A name deleted and registered again starts with no grants: the old
    account's do not come back with its key."""
    store = stores(None)
    store.save_account(account("bob"))
    store.save_grant(grant("lobby", "bob"))
    store.delete_account("bob")
    store.save_account(account("bob", NEW_HASH))
    moderation = stores(store).moderation()
    assert moderation.accounts == [account("bob", NEW_HASH)]
    assert moderation.grants == []


def test_deleting_a_grant_or_restriction_deletes_that_one(stores: Reopen) -> None:
    """delete_grant and delete_restriction forget exactly the one named;
    deleting what is not there changes nothing and is no failure."""
    store = stores(None)
    store.save_grant(grant("lobby", "bob"))
    store.save_grant(grant("dev", "bob"))
    store.save_restriction(ban("name:bob"))
    store.save_restriction(ban("name:bob", scope="dev"))
    store = stores(store)
    store.delete_grant("lobby", "bob")
    store.delete_restriction("ban", "", "name:bob")
    store.delete_grant("nowhere", "nobody")
    store.delete_restriction("mute", "", "name:bob")
    store.delete_account("nobody")
    store = stores(store)
    moderation = store.moderation()
    assert moderation.grants == [grant("dev", "bob")]
    assert moderation.restrictions == [ban("name:bob", scope="dev")]
    assert store.failures == 0


def test_writes_after_close_are_counted_not_raised(stores: Reopen) -> None:
    """After close, each writing method loses its write, counts it once,
    and returns."""
    store = stores(None)
    close(store)
    store.save_account(account("bob"))
    store.delete_account("bob")
    store.save_grant(grant("lobby", "bob"))
    store.delete_grant("lobby", "bob")
    store.save_restriction(ban("name:bob"))
    store.delete_restriction("ban", "", "name:bob")
    assert store.failures == 6


def test_the_memory_store_gives_copies() -> None:
    """Changing the lists moderation() gave changes nothing in the store."""
    store = MemoryStore()
    store.save_account(account("bob"))
    store.moderation().accounts.clear()
    assert store.moderation().accounts == [account("bob")]


# The SQLite store alone.


def test_a_version_1_file_is_upgraded_in_place(path: str) -> None:
    """A file of the released schema (version 1), with history and topics,
    is brought to version 2 at open: its history and topics are still
    there and the new tables take accounts, grants and restrictions."""
    old = SQLiteStore(Database.open(path, MIGRATIONS[:1], Clock()))
    lines = [HistoryEntry(float(n), "said", "ann", f"line {n}") for n in range(3)]
    old.append("lobby", lines)
    old.save_topic("lobby", "Lobby", "welcome")
    old.close_and_wait()
    assert query(path, "PRAGMA user_version") == [(1,)]
    assert query(path, "SELECT name FROM sqlite_master WHERE name = 'accounts'") == []

    upgraded = SQLiteStore.open(path, Clock())
    assert query(path, "PRAGMA user_version") == [(2,)]
    assert upgraded.load("lobby", 10) == lines
    assert upgraded.topics() == {"Lobby": "welcome"}
    assert upgraded.moderation() == Moderation([], [], [])
    upgraded.save_account(account("bob"))
    upgraded.save_grant(grant("lobby", "bob"))
    upgraded.save_restriction(ban("name:carol"))
    upgraded.close_and_wait()

    reopened = SQLiteStore.open(path, Clock())
    try:
        assert reopened.moderation() == Moderation(
            [account("bob")], [grant("lobby", "bob")], [ban("name:carol")]
        )
        assert reopened.load("lobby", 10) == lines
    finally:
        reopened.close_and_wait()


def test_saving_never_waits_for_the_disk(path: str) -> None:
    """The writing methods return while another connection holds the write
    lock: they are handed to the writer thread, committed once it can."""
    store = SQLiteStore.open(path, Clock())
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        store.save_account(account("bob"))
        store.save_grant(grant("lobby", "bob"))
        store.save_restriction(ban("name:carol"))
        assert store.moderation() == Moderation([], [], [])  # not yet committed
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert wait_for(lambda: store.moderation().restrictions) == [ban("name:carol")]
    store.close_and_wait()
    assert store.failures == 0


def test_deleting_an_account_row_by_hand_deletes_its_grants(path: str) -> None:
    """The file itself keeps grants from outliving their account: whoever
    deletes the account's row (an admin with sqlite3 too) deletes its
    grants in the same statement."""
    store = SQLiteStore.open(path, Clock())
    store.save_account(account("bob"))
    store.save_grant(grant("lobby", "bob"))
    store.save_grant(grant("lobby", "ann"))
    store.close_and_wait()
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("DELETE FROM accounts WHERE key = 'bob'")
    connection.close()
    assert query(path, "SELECT account FROM grants") == [("ann",)]


def test_moderation_after_close_raises(path: str) -> None:
    """Once closed, moderation() raises a StoreError of one line rather than
    answer that nothing is kept."""
    store = SQLiteStore.open(path, Clock())
    store.close_and_wait()
    with pytest.raises(StoreError) as raised:
        store.moderation()
    assert str(raised.value) == f"history database {path} is closed"


def test_a_failed_read_raises_and_later_reads_see_new_writes(path: str) -> None:
    """A moderation() whose read fails raises one line with SQLite's reason,
    and leaves no read transaction open: later reads see later commits."""
    store = SQLiteStore.open(path, Clock())
    try:
        query(path, "DROP TABLE grants")
        with pytest.raises(StoreError) as raised:
            store.moderation()
        assert str(raised.value) == (
            f"cannot open history database {path}: no such table: grants"
        )
        store.append("lobby", [HistoryEntry(1.0, "said", "ann", "after")])
        assert wait_for(lambda: store.load("lobby", 1), what="a fresh read")
    finally:
        store.close_and_wait()


@pytest.mark.parametrize(
    "alteration, reason",
    [
        ("ALTER TABLE accounts DROP COLUMN password_hash", "password_hash"),
        ("ALTER TABLE grants RENAME COLUMN by TO made_by", "by"),
        ("DROP TABLE restrictions", "table: restrictions"),
    ],
)
def test_altered_moderation_tables_are_refused(
    path: str, alteration: str, reason: str
) -> None:
    """A file at version 2 whose moderation tables are not the ones read is
    refused at open, with one line naming what is missing."""
    SQLiteStore.open(path, Clock()).close_and_wait()
    query(path, alteration)
    with pytest.raises(StoreError) as raised:
        SQLiteStore.open(path, Clock())
    message = str(raised.value)
    assert message.startswith(f"cannot open history database {path}: no such ")
    assert message.endswith(reason)


@pytest.mark.parametrize("how", ["table dropped", "value SQLite cannot take"])
def test_a_failed_account_write_logs_nothing_of_the_hash(path: str, how: str) -> None:
    """When an account cannot be written it is counted once and logged,
    and nothing logged holds its hash, any part of it, or its name."""
    store = SQLiteStore.open(path, Clock())
    name = "Secretname"
    if how == "table dropped":
        query(path, "DROP TABLE accounts")
    else:
        name += "\ud800"  # a lone surrogate: UTF-8 cannot encode it
    with capturedLogs() as events:
        store.save_account(Account("secretname", name, HASH, 1.0))
        wait_for(lambda: store.failures == 1, what="the write to fail")
        store.close_and_wait()
    errors = [formatEvent(e) for e in events if e["log_level"] == LogLevel.error]
    assert errors[0].startswith(f"history database {path}: writes lost: 1 now, 1 in")
    secrets = [HASH, "Secretname", *HASH.split("$")[-2:]]
    for event in events:
        for secret in secrets:
            assert secret not in repr(event)
            assert secret not in formatEvent(event)
