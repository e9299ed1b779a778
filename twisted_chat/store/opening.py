"""
Opening a database file: made with mode 0600, checked, brought to the
newest schema version, or refused with one line saying why.

Nothing is written to a file that is refused: it is read (its structure
checked, its version compared) before WAL mode or a migration touches it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from pathlib import Path

from twisted.logger import Logger

from twisted_chat.store import StoreError
from twisted_chat.store.schema import Migration, check_migrations

#: How long the writer waits on another process's lock before a batch fails.
WRITER_BUSY_SECONDS = 5.0
#: How long a read may wait on a lock: it runs on the reactor thread, and in
#: WAL mode only another process's checkpoint or recovery can hold it up.
READER_BUSY_SECONDS = 0.2

log = Logger()


def open_connections(
    path: str, migrations: tuple[Migration, ...]
) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    """
    The writer's and the reader's connections to the file at C{path} (made
    if there is none), once it is checked and at the newest of
    C{migrations}. The reader cannot write (query_only).

    @raise StoreError: with one line, when the file cannot be used.
    """
    check_migrations(migrations)
    _create(path)
    writer = _connect(path, WRITER_BUSY_SECONDS)
    try:
        _prepare(path, writer, migrations)
        reader = _connect(path, READER_BUSY_SECONDS)
        reader.execute("PRAGMA query_only = ON")
    except BaseException:
        writer.close()
        raise
    return writer, reader


def refusal(path: str, reason: str) -> str:
    """The one line of a StoreError about C{path}: non-printing characters escaped."""
    line = f"cannot open history database {path}: {reason}"
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)


def _create(path: str) -> None:
    """Make an empty file (an empty SQLite database) with mode 0600."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(directory):
        raise StoreError(refusal(path, f"the directory {directory} does not exist"))
    if not os.path.isdir(directory):
        raise StoreError(refusal(path, f"{directory} is not a directory"))
    if os.path.isdir(path):
        raise StoreError(refusal(path, "it is a directory"))
    try:
        # Made here, not by SQLite, for its mode: the file will hold
        # password hashes. SQLite gives the -wal and -shm files the same.
        descriptor = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600
        )
    except FileExistsError:
        # A file that is there keeps the mode its owner gave it, but the
        # admin hears when that lets others read the password hashes.
        if os.stat(path).st_mode & 0o077:
            log.warn(
                "{path} can be read by other users, and it holds password "
                "hashes: chmod 600 it",
                path=path,
            )
        return
    except PermissionError:
        raise StoreError(
            refusal(path, "permission denied (is the directory writable?)")
        ) from None
    except OSError as error:
        if error.errno == errno.EROFS:
            raise StoreError(refusal(path, "the file system is read-only")) from None
        raise StoreError(refusal(path, error.strerror or str(error))) from None
    try:
        os.fchmod(descriptor, 0o600)  # whatever the umask
    finally:
        os.close(descriptor)


def _connect(path: str, busy_seconds: float) -> sqlite3.Connection:
    # mode=rw: SQLite never makes the file itself (with its own mode).
    uri = Path(os.path.abspath(path)).as_uri() + "?mode=rw"
    try:
        # isolation_level None: transactions are begun by hand, IMMEDIATE,
        # so the busy timeout covers taking the write lock. The writer's
        # connection is made here and then used by its thread alone.
        return sqlite3.connect(
            uri,
            uri=True,
            timeout=busy_seconds,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as error:
        raise StoreError(refusal(path, _sqlite_reason(error))) from None


def _sqlite_reason(error: sqlite3.Error) -> str:
    reason = str(error)
    if "unable to open" in reason:
        return f"{reason} (is the directory there and writable?)"
    if "readonly" in reason:
        return f"{reason} (is the file writable?)"
    if "locked" in reason:
        return f"{reason} (is another process writing to it?)"
    return reason


def _prepare(
    path: str, connection: sqlite3.Connection, migrations: tuple[Migration, ...]
) -> None:
    """Check the file, then set it up; nothing is written to a file refused."""
    try:
        # Reads every page's structure: a corrupt file is refused now, not
        # at the first line said. It costs about a millisecond a megabyte.
        problems = [row[0] for row in connection.execute("PRAGMA quick_check(1)")]
        if problems != ["ok"]:
            # SQLite's report can span lines and frame itself in "***":
            # one line of it, unframed, is what an admin needs.
            detail = " ".join(
                problems[0].replace("*** in database main ***", "").split()
            )
            raise StoreError(refusal(path, f"the file is corrupt ({detail})"))
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        latest = len(migrations)
        if version > latest:
            raise StoreError(
                refusal(
                    path,
                    f"its schema version {version} is newer than this "
                    f"twisted_chat's ({latest}); upgrade, or use another file",
                )
            )
        (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode != "wal":
            raise StoreError(refusal(path, f"cannot use WAL (journal mode {mode})"))
        # In WAL mode NORMAL syncs at checkpoints, not at each commit: a
        # commit is in the WAL file (the kernel's cache) when it returns, so
        # a killed process loses nothing committed; only a power loss or a
        # kernel crash can lose the last transactions, and never corrupts.
        connection.execute("PRAGMA synchronous = NORMAL")
        _migrate(connection, version, migrations)
    except sqlite3.Error as error:
        raise StoreError(refusal(path, _sqlite_reason(error))) from None


def _migrate(
    connection: sqlite3.Connection, version: int, migrations: tuple[Migration, ...]
) -> None:
    pending = migrations[version:]
    if not pending:
        # A write though nothing changes, so a file that can be read but not
        # written is refused now, not at the first line said.
        pending = (Migration(version, ()),)
    for migration in pending:
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in migration.statements:
                connection.execute(statement)
            # PRAGMA takes no parameters; the version is our own int.
            connection.execute(f"PRAGMA user_version = {int(migration.version)}")
            connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise
