"""
What the SQLite history store guarantees beyond the shared ones: the file
it makes, the files it refuses (with one line), what a failed write does,
and what is on disk when the process is killed or stopped.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.task import Clock
from twisted.logger import LogEvent, LogLevel, capturedLogs, formatEvent
from zope.interface import implementer

from tests.support import DEADLINE_SECONDS, wait_for
from twisted_chat.store import HistoryEntry, StoreError
from twisted_chat.store import database as database_module
from twisted_chat.store.schema import MIGRATIONS, Migration, check_migrations
from twisted_chat.store.sqlite import _LOAD, SQLiteStore

Opener = Callable[[str], SQLiteStore]

SECRET = "the secret words of a message"


def said(time: float, text: str) -> HistoryEntry:
    return HistoryEntry(time, "said", "ann", text)


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "history.db")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def opened(clock: Clock) -> Iterator[Opener]:
    """Opens stores on C{clock}, and closes them all after the test."""
    stores: list[SQLiteStore] = []

    def open_(path: str) -> SQLiteStore:
        stores.append(SQLiteStore.open(path, clock))
        return stores[-1]

    yield open_
    for store in stores:
        store.close_and_wait()


def refusal(path: str) -> str:
    """The message of the StoreError that opening C{path} raises."""
    with pytest.raises(StoreError) as raised:
        SQLiteStore.open(path, Clock()).close_and_wait()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"cannot open history database {path}: ")
    return message


def query(path: str, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
    """What another connection finds in the file."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


def error_lines(events: list[LogEvent]) -> list[str]:
    return [
        formatEvent(event) for event in events if event["log_level"] == LogLevel.error
    ]


# The file it makes.


def test_new_file_is_private_wal_at_version_2(path: str, opened: Opener) -> None:
    """A new database file, its -wal and -shm, have mode 0600 whatever the
    umask (it holds password hashes); it is in WAL mode, at version 2."""
    old_umask = os.umask(0o000)
    try:
        store = opened(path)
    finally:
        os.umask(old_umask)
    store.append("lobby", [said(1.0, "hello")])
    wait_for(lambda: store.load("lobby", 1), what="the line to be written")
    for suffix in ("", "-wal", "-shm"):
        assert os.stat(path + suffix).st_mode & 0o777 == 0o600, suffix
    assert query(path, "PRAGMA user_version") == [(len(MIGRATIONS),)] == [(2,)]
    assert query(path, "PRAGMA journal_mode") == [("wal",)]


def test_existing_empty_file_is_set_up(path: str, opened: Opener) -> None:
    """An empty file (touched by an admin) is taken as a new database."""
    Path(path).touch()
    store = opened(path)
    store.append("lobby", [said(1.0, "hello")])
    assert wait_for(lambda: store.load("lobby", 1)) == [said(1.0, "hello")]


def test_load_searches_the_room_index(path: str, opened: Opener) -> None:
    """load is a search of the (room, id) index stopped at its limit, so
    its cost does not grow with the history kept."""
    opened(path)
    plan = query(path, f"EXPLAIN QUERY PLAN {_LOAD}", ("lobby", 50))
    details = " | ".join(row[-1] for row in plan)
    assert "USING INDEX history_by_room (room=?)" in details
    assert "TEMP B-TREE" not in details  # no sort of the room's rows


def test_reads_are_not_held_up_by_a_write(path: str, opened: Opener) -> None:
    """While another connection holds the write lock mid-transaction, load
    and topics still give what was committed (WAL), at once."""
    store = opened(path)
    store.append("lobby", [said(1.0, "committed")])
    store.save_topic("lobby", "lobby", "kept")
    wait_for(store.topics)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO history VALUES (NULL, 'lobby', 2, 'said', 'x', 'y')")
    try:
        assert store.load("lobby", 10) == [said(1.0, "committed")]
        assert store.topics() == {"lobby": "kept"}
    finally:
        writer.execute("ROLLBACK")
        writer.close()


# Across a close and a restart.


def test_close_commits_everything_appended_before_it(path: str, opened: Opener) -> None:
    """When close's Deferred has fired, every entry appended before it is
    in the file, in order (a batch too big for one transaction too), and
    the file is closed cleanly."""
    store = opened(path)
    big = [said(0.0, f"big {n}") for n in range(database_module.MAX_BATCH_ROWS + 7)]
    store.append("big", big)
    small = [said(float(n), f"small {n}") for n in range(3000)]
    for entry in small:
        store.append("lobby", [entry])
    closed = store.close()
    store.close_and_wait()
    assert closed.called
    assert not os.path.exists(path + "-wal")  # checkpointed: closed cleanly
    reopened = opened(path)
    assert reopened.load("lobby", 5000) == small
    assert reopened.load("big", 10_000) == big


def test_close_hands_its_result_to_the_reactor_thread(path: str) -> None:
    """With a reactor, close's Deferred fires on the reactor thread (from
    callFromThread), never in the writer thread."""
    handed: list[tuple[Callable[..., object], tuple[object, ...]]] = []

    @implementer(IReactorFromThreads)
    class Reactor(Clock):
        def callFromThread(
            self, callable: Callable[..., object], *args: object, **kwargs: object
        ) -> None:
            handed.append((callable, args))

    store = SQLiteStore.open(path, Reactor())
    store.append("lobby", [said(1.0, "hello")])
    closed = store.close()
    store.close_and_wait()
    assert not closed.called
    for f, args in handed:
        f(*args)
    assert closed.called
    assert store.close().called  # once closed, at once


# Files it refuses, with one line.


def test_text_file_is_refused_untouched(path: str) -> None:
    """A file that is not SQLite is refused at open, and left as it was."""
    Path(path).write_text("these are my notes\n" * 300)
    assert refusal(path).endswith(": file is not a database")
    assert Path(path).read_text() == "these are my notes\n" * 300
    assert not os.path.exists(path + "-wal")


def test_random_bytes_are_refused(path: str) -> None:
    """A file of random bytes is refused at open."""
    Path(path).write_bytes(os.urandom(8192))
    assert refusal(path).endswith(": file is not a database")


def test_corrupt_database_is_refused(path: str, opened: Opener) -> None:
    """A database whose pages were overwritten is refused at open (by its
    quick_check), not at the first line said."""
    store = opened(path)
    store.append("lobby", [said(float(n), "x" * 200) for n in range(2000)])
    store.close_and_wait()
    size = os.path.getsize(path)
    with open(path, "r+b") as file:
        file.seek(size // 2)
        file.write(os.urandom(8192))
    message = refusal(path)
    assert "corrupt" in message or "malformed" in message


def test_newer_schema_version_is_refused_untouched(path: str) -> None:
    """A database from a newer schema version is refused, naming both
    versions, and nothing is written to it."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 7")
    connection.close()
    before = Path(path).read_bytes()
    message = refusal(path)
    assert message.endswith(
        ": its schema version 7 is newer than this twisted_chat's (2);"
        " upgrade, or use another file"
    )
    assert Path(path).read_bytes() == before


def test_altered_tables_are_refused(path: str, opened: Opener) -> None:
    """A file at our version whose tables are not the ones we read is
    refused at open."""
    opened(path).close_and_wait()
    connection = sqlite3.connect(path)
    connection.execute("ALTER TABLE history DROP COLUMN kind")
    connection.close()
    assert refusal(path).endswith(": no such column: kind")


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    """A path in a directory that is not there is refused, naming it."""
    path = str(tmp_path / "nowhere" / "history.db")
    message = refusal(path)
    assert message.endswith(f": the directory {tmp_path / 'nowhere'} does not exist")


def test_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    """A path under a regular file is refused, naming it."""
    (tmp_path / "afile").write_text("")
    path = str(tmp_path / "afile" / "history.db")
    assert refusal(path).endswith(f": {tmp_path / 'afile'} is not a directory")


def test_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    """A path that names a directory is refused."""
    assert refusal(str(tmp_path)).endswith(": it is a directory")


def test_unwritable_directory_is_refused(tmp_path: Path) -> None:
    """
    A new file where we may not write is refused with a line saying why: a
    directory we may not write to or, for root (who may write to any
    directory), a read-only file system.
    """
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    path = str(locked / "history.db")
    if os.geteuid() != 0:
        try:
            assert refusal(path).endswith(
                ": permission denied (is the directory writable?)"
            )
        finally:
            locked.chmod(0o700)
        return
    mount = ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(locked)]
    subprocess.run(mount, check=True, timeout=DEADLINE_SECONDS)
    try:
        assert refusal(path).endswith(": the file system is read-only")
    finally:
        subprocess.run(["umount", str(locked)], check=True, timeout=DEADLINE_SECONDS)


def test_migrations_must_be_numbered_in_order() -> None:
    """A schema whose versions skip or repeat is a programming error."""
    check_migrations((Migration(1, ()), Migration(2, ())))
    with pytest.raises(ValueError):
        check_migrations((Migration(1, ()), Migration(3, ())))
    with pytest.raises(ValueError):
        check_migrations((Migration(1, ()), Migration(1, ())))


# Writes that fail.


def test_failed_write_is_counted_logged_and_not_raised(
    path: str, opened: Opener, clock: Clock
) -> None:
    """A batch the database cannot take is counted in failures and logged
    with the path and SQLite's reason, never with the message text; the
    store keeps taking (and reading) after it."""
    store = opened(path)
    query(path, "DROP TABLE history")
    with capturedLogs() as events:
        store.append("lobby", [said(1.0, SECRET)])
        wait_for(lambda: store.failures == 1, what="the write to fail")
        clock.advance(database_module.FAILURE_LOG_SECONDS)
        assert store.load("lobby", 10) == []  # a failed read: logged, not raised
    lines = error_lines(list(events))
    assert lines[0] == (
        f"history database {path}: writes lost: 1 now, 1 in all;"
        " failures not logged before this: 0; reason: no such table: history"
    )
    assert lines[1].startswith(f"history database {path}: a read failed;")
    assert all(SECRET not in repr(event) for event in events)
    store.save_topic("lobby", "lobby", "still serving")
    assert wait_for(store.topics) == {"lobby": "still serving"}


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_writes_to_a_file_deleted_or_replaced_are_lost_and_said(
    path: str, opened: Opener, how: str
) -> None:
    """Once the file was deleted or replaced under the daemon, writes are
    counted lost and the log says why, instead of going on into a file no
    restart would find."""
    store = opened(path)
    store.append("lobby", [said(1.0, "kept")])
    wait_for(lambda: store.load("lobby", 1), what="the line to be written")
    if how == "deleted":
        os.unlink(path)
    else:
        Path(path + ".new").write_bytes(Path(path).read_bytes())
        os.replace(path + ".new", path)
    with capturedLogs() as events:
        store.append("lobby", [said(2.0, "lost")])
        wait_for(lambda: store.failures == 1, what="the write to be lost")
    assert error_lines(list(events))[0].endswith(f"reason: the file was {how}")


def test_failures_are_logged_at_most_once_a_minute(
    path: str, opened: Opener, clock: Clock
) -> None:
    """Failures log one line a minute at most; the next line (or the close)
    says how many were left out, so none is hidden."""
    store = opened(path)
    query(path, "DROP TABLE history")
    with capturedLogs() as events:
        for failures in range(1, 4):
            store.append("lobby", [said(1.0, SECRET)])
            wait_for(lambda: store.failures == failures)  # noqa: B023
        assert len(error_lines(list(events))) == 1
        clock.advance(database_module.FAILURE_LOG_SECONDS)
        store.append("lobby", [said(1.0, SECRET)])
        wait_for(lambda: store.failures == 4)
        store.append("lobby", [said(1.0, SECRET)])
        wait_for(lambda: store.failures == 5)
        store.close_and_wait()
    lines = error_lines(list(events))
    assert lines[1:] == [
        f"history database {path}: writes lost: 1 now, 4 in all;"
        " failures not logged before this: 2; reason: no such table: history",
        f"history database {path} closed; writes lost in all: 5;"
        " failures not logged before this: 1",
    ]
    assert all(SECRET not in repr(event) for event in events)


def test_a_value_sqlite_cannot_take_loses_only_its_write(
    path: str, opened: Opener
) -> None:
    """A write SQLite cannot encode fails alone: the writes batched with it
    are kept, and its text is not logged."""
    store = opened(path)
    blocker = sqlite3.connect(path, isolation_level=None)
    # Holding the write lock makes the writer wait, so the writes batch up.
    blocker.execute("BEGIN IMMEDIATE")
    store.append("lobby", [said(1.0, "before")])
    store.append("lobby", [said(2.0, SECRET + " \ud800")])
    store.append("lobby", [said(3.0, "after")])
    with capturedLogs() as events:
        blocker.execute("ROLLBACK")
        blocker.close()
        wait_for(lambda: store.failures == 1)
        store.close_and_wait()
    assert opened(path).load("lobby", 10) == [said(1.0, "before"), said(3.0, "after")]
    assert error_lines(list(events))[0].endswith(": UnicodeEncodeError")
    assert all(SECRET not in repr(event) for event in events)


def test_writes_beyond_the_waiting_bound_are_lost(
    path: str, opened: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the writer cannot keep up, a write that would make more than
    MAX_PENDING_ROWS rows wait is counted lost at once, so memory stays
    bounded; the rows waiting are written once the writer can."""
    monkeypatch.setattr(database_module, "MAX_PENDING_ROWS", 3)
    store = opened(path)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    for n in range(5):
        store.append("lobby", [said(float(n), f"waiting {n}")])
    assert store.failures == 2
    blocker.execute("ROLLBACK")
    blocker.close()
    store.close_and_wait()
    assert [e.text for e in opened(path).load("lobby", 10)] == [
        "waiting 0",
        "waiting 1",
        "waiting 2",
    ]


# Durability when the process ends.

CHILD = textwrap.dedent(
    """
    import sys
    from twisted.internet.task import Clock
    from twisted_chat.store import HistoryEntry, open_store

    store = open_store(sys.argv[1], Clock())
    for n in range(500):
        store.append("lobby", [HistoryEntry(float(n), "said", "ann", f"line {n}")])
    print("appended", flush=True)
    sys.stdin.read()  # until killed
    """
)


def test_lines_appended_a_second_before_sigkill_are_kept(path: str) -> None:
    """Every line appended 1.2 s before the process is SIGKILLed is in the
    file: the writer commits within milliseconds, and a commit survives
    the process (synchronous=NORMAL loses only to a power loss)."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "appended\n"
        # The 1.2 s is the guarantee under test, measured, not a wait for
        # anything: nothing is polled for before the kill.
        killed_at = time.monotonic() + 1.2
        while time.monotonic() < killed_at:
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(DEADLINE_SECONDS) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    store = SQLiteStore.open(path, Clock())
    texts = [entry.text for entry in store.load("lobby", 1000)]
    store.close_and_wait()
    assert texts == [f"line {n}" for n in range(500)]


SERVICE_CHILD = textwrap.dedent(
    """
    import sys
    from twisted.application.service import Service
    from twisted.internet import reactor
    from twisted_chat.store import HistoryEntry, open_store

    class HistoryService(Service):
        def startService(self):
            super().startService()
            self.store = open_store(sys.argv[1])
            for n in range(20000):
                entry = HistoryEntry(float(n), "said", "ann", f"line {n}")
                self.store.append("lobby", [entry])
            print("appended", flush=True)

        def stopService(self):
            super().stopService()
            return self.store.close()

    service = HistoryService()
    reactor.callWhenRunning(service.startService)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    print("stopped", flush=True)
    """
)


def test_sigterm_stop_waits_for_everything_appended(path: str) -> None:
    """A service whose stopService returns close() holds the reactor's
    shutdown until every line appended is committed; the file is then
    closed cleanly (WAL checkpointed and removed)."""
    child = subprocess.Popen(
        [sys.executable, "-c", SERVICE_CHILD, path],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "appended\n"
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=DEADLINE_SECONDS)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert (child.returncode, out) == (0, "stopped\n")
    assert not os.path.exists(path + "-wal")
    assert query(path, "SELECT count(*), max(text) FROM history") == [
        (20000, "line 9999")
    ]
