"""
One open SQLite file: its reads, its writer thread, its lost writes.

Reads run on the calling thread (the reactor's) on their own connection;
WAL lets them run beside the writer, which never blocks them. Writes are
handed to one writer thread through a queue and return at once; the thread
takes everything waiting (up to L{MAX_BATCH_ROWS} rows) into one
transaction, so a busy daemon pays one commit per batch of turns, and a
line is committed within milliseconds of being handed over. The stores of
each concern (history; accounts, grants and restrictions) are built on one
L{Database}.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.logger import Logger

from twisted_chat.store import StoreError
from twisted_chat.store.opening import open_connections, refusal
from twisted_chat.store.schema import Migration

log = Logger()

#: The most rows one transaction writes (one longer write is cut into
#: pieces of this size), so the writer holds the lock for milliseconds.
MAX_BATCH_ROWS = 5000
#: A write that would make more rows than this wait (handed over, not yet
#: committed) is lost and counted: when the disk cannot keep up, memory
#: stays bounded (some tens of MB) and the daemon keeps serving.
MAX_PENDING_ROWS = 100_000
#: Failures are logged at most once in this many seconds.
FAILURE_LOG_SECONDS = 60.0

#: The parameters of one statement.
Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class _Write:
    sql: str
    rows: Sequence[Row]


class _FileGone(Exception):
    """The file open is no longer the one at its path."""


def _call(function: Callable[..., object], *args: object) -> None:
    function(*args)


class Database:
    """
    An open SQLite file at the newest schema version, with its writer thread.

    Guarantees: L{write} returns at once and never raises; writes are
    committed in the order handed over; a write that fails is counted in
    L{failures} and logged (at most once a minute, with counts and
    SQLite's reason, never the rows), and a failure of one write that is
    not the database's (a value SQLite cannot take) loses only that write.
    The Deferred of L{close} fires once every write handed over before it
    is committed or counted as lost, and the file is closed.
    """

    def __init__(
        self,
        path: str,
        writer: sqlite3.Connection,
        reader: sqlite3.Connection,
        clock: IReactorTime,
    ) -> None:
        self.path = path
        #: How many writes were lost.
        self.failures = 0
        self._writer = writer
        self._reader = reader
        # The daemon may change directory (twistd does, detached).
        self._absolute_path = os.path.abspath(path)
        status = os.stat(self._absolute_path)
        self._identity = (status.st_dev, status.st_ino)
        self._clock = clock
        # Twisted's log observers and Deferreds are not thread-safe: what
        # the writer thread reports is handed to the reactor thread when
        # there is one; a bare clock (tests) is called in the writer thread.
        self._from_thread: Callable[..., object] = (
            clock.callFromThread if IReactorFromThreads.providedBy(clock) else _call
        )
        self._queue: queue.Queue[_Write | None] = queue.Queue()
        self._carry: _Write | None = None
        self._pending_rows = 0
        # Guards what both threads touch: the counts and the close state.
        self._lock = threading.Lock()
        self._last_logged: float | None = None
        self._unlogged = 0
        self._closing = False
        self._closed = False
        self._waiting: list[Deferred[None]] = []
        # A daemon thread, so a daemon that never calls close() still exits;
        # close() is what drains it.
        self._thread = threading.Thread(
            target=self._run, name=f"database writer {path}", daemon=True
        )
        self._thread.start()

    @classmethod
    def open(
        cls,
        path: str,
        migrations: tuple[Migration, ...],
        clock: IReactorTime | None = None,
    ) -> Database:
        """
        Open (or make, with mode 0600) the file at C{path}, check it, and
        bring it to the newest of C{migrations}.

        @raise StoreError: with one line, when the file cannot be used.
        """
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        writer, reader = open_connections(path, migrations)
        return cls(path, writer, reader, clock)

    def check(self, sql: str) -> None:
        """
        Run C{sql} once on the reader; for a store to refuse at start-up a
        file whose tables are not the ones it reads.

        @raise StoreError: with one line, when it fails.
        """
        try:
            self._reader.execute(sql).fetchall()
        except sqlite3.Error as error:
            raise StoreError(refusal(self.path, str(error))) from None

    def query(self, sql: str, parameters: Row = ()) -> list[Row]:
        """
        The rows of C{sql} on the reader connection, on the calling thread
        (one thread only: the reactor's). No rows once closed, and none when
        the read fails (logged as a lost write is, but not counted).
        """
        if self._closing:
            return []
        try:
            return self._reader.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            self._report(0, str(error))
            return []

    def snapshot(self, statements: Sequence[str]) -> list[list[Row]]:
        """
        The rows of each of C{statements}, read on the reader connection on
        the calling thread (the reactor's) in one read transaction, so they
        agree with one another: no commit lands between them. Unlike
        L{query} it raises: for reads the daemon must not take as "nothing
        is kept" (accounts, bans).

        @raise StoreError: with one line, once closed or when a read fails.
        """
        if self._closing:
            raise StoreError(f"history database {self.path} is closed")
        reader = self._reader
        try:
            reader.execute("BEGIN")
            results = [reader.execute(sql).fetchall() for sql in statements]
            reader.execute("COMMIT")
        except sqlite3.Error as error:
            # Left open, the transaction would pin this snapshot for every
            # later read (and keep the WAL from being checkpointed).
            with contextlib.suppress(sqlite3.Error):
                if reader.in_transaction:
                    reader.execute("ROLLBACK")
            raise StoreError(refusal(self.path, str(error))) from None
        return results

    def write(self, sql: str, rows: Sequence[Row]) -> None:
        """
        Have the writer run C{executemany(sql, rows)} in its next
        transaction; returns at once. Called from one thread (the reactor's).
        """
        with self._lock:
            if self._closing:
                refused = "closed"
            elif self._pending_rows + len(rows) > MAX_PENDING_ROWS:
                refused = "too many rows waiting"
            else:
                refused = ""
                self._pending_rows += len(rows)
        if refused:
            self._lose(1, refused)
            return
        # A write cut into pieces counts once for each piece lost.
        for start in range(0, len(rows), MAX_BATCH_ROWS):
            self._queue.put(_Write(sql, rows[start : start + MAX_BATCH_ROWS]))

    def close(self) -> Deferred[None]:
        """
        Fires (on the reactor thread) once every write handed over before it
        is committed or counted lost and the file is closed; the reactor is
        never blocked meanwhile. Safe to call more than once.
        """
        with self._lock:
            if self._closed:
                return succeed(None)
            waiting: Deferred[None] = Deferred()
            self._waiting.append(waiting)
            if self._closing:
                return waiting
            self._closing = True
        # The reader closes first, so the writer's is the last connection:
        # its close, which checkpoints the WAL into the file, runs off the
        # reactor thread.
        self._reader.close()
        self._queue.put(None)
        return waiting

    def close_and_wait(self, timeout: float = 30.0) -> None:
        """
        Close, and block until the writer thread is done: for tests and
        scripts that run no reactor (and gave a bare clock).

        @raise StoreError: if the writer is not done in C{timeout} seconds.
        """
        self.close()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise StoreError(f"{self.path}: the writer was not done in {timeout}s")

    # The writer thread.

    def _run(self) -> None:
        try:
            stop = False
            while not stop:
                batch, stop = self._take()
                if batch:
                    self._commit(batch)
                    with self._lock:
                        self._pending_rows -= sum(len(w.rows) for w in batch)
        finally:
            with self._lock:
                self._closing = True  # even if the thread failed: count, not queue
            with contextlib.suppress(sqlite3.Error):
                self._writer.close()
            self._from_thread(self._finish)

    def _take(self) -> tuple[list[_Write], bool]:
        """Wait for a write, then take all that wait; and whether to stop."""
        write = self._carry if self._carry is not None else self._queue.get()
        self._carry = None
        batch: list[_Write] = []
        rows = 0
        while write is not None:
            if batch and rows + len(write.rows) > MAX_BATCH_ROWS:
                self._carry = write
                return batch, False
            batch.append(write)
            rows += len(write.rows)
            try:
                write = self._queue.get_nowait()
            except queue.Empty:
                return batch, False
        return batch, True

    def _commit(self, batch: list[_Write]) -> None:
        error = self._transaction(batch)
        if error is None:
            return
        if isinstance(error, sqlite3.OperationalError | _FileGone) or len(batch) == 1:
            # The database's own trouble (full, locked, gone): every write
            # would fail alike, and retrying each would hold the rest up.
            self._lose(len(batch), _describe(error))
            return
        # A value SQLite cannot take fails its write, not its neighbours'.
        for write in batch:
            error = self._transaction([write])
            if error is not None:
                self._lose(1, _describe(error))

    def _transaction(self, batch: list[_Write]) -> Exception | None:
        connection = self._writer
        try:
            self._check_file()
            connection.execute("BEGIN IMMEDIATE")
            for sql, writes in itertools.groupby(batch, key=lambda write: write.sql):
                connection.executemany(sql, [row for w in writes for row in w.rows])
            connection.execute("COMMIT")
        # Whatever goes wrong, the writer must live on: the daemon keeps
        # serving and the next batch may well succeed.
        except Exception as error:
            with contextlib.suppress(sqlite3.Error):
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
            return error
        return None

    def _check_file(self) -> None:
        # In WAL mode SQLite writes on into a file deleted or replaced under
        # it, where no restart would find the lines: those are lost, said.
        try:
            status = os.stat(self._absolute_path)
        except FileNotFoundError:
            raise _FileGone("the file was deleted") from None
        if (status.st_dev, status.st_ino) != self._identity:
            raise _FileGone("the file was replaced")

    # Failures and their log, from either thread.

    def _lose(self, count: int, reason: str) -> None:
        with self._lock:
            self.failures += count
        self._from_thread(self._report, count, reason)

    def _report(self, lost: int, reason: str) -> None:
        """Log a failure: C{lost} writes, or a read when 0."""
        with self._lock:
            now = self._clock.seconds()
            if (
                self._last_logged is not None
                and now - self._last_logged < FAILURE_LOG_SECONDS
            ):
                self._unlogged += 1
                return
            self._last_logged = now
            unlogged, self._unlogged = self._unlogged, 0
            failures = self.failures
        log.error(
            _LOST if lost else _READ_FAILED,
            path=self.path,
            lost=lost,
            failures=failures,
            unlogged=unlogged,
            reason=reason,
        )

    def _finish(self) -> None:
        with self._lock:
            self._closed = True
            waiting, self._waiting = self._waiting, []
            unlogged, self._unlogged = self._unlogged, 0
            failures = self.failures
        if unlogged:
            log.error(
                _CLOSED,
                path=self.path,
                unlogged=unlogged,
                failures=failures,
            )
        for deferred in waiting:
            deferred.callback(None)


_LOST = (
    "history database {path}: writes lost: {lost} now, {failures} in all;"
    " failures not logged before this: {unlogged}; reason: {reason}"
)
_READ_FAILED = (
    "history database {path}: a read failed; writes lost in all: {failures};"
    " failures not logged before this: {unlogged}; reason: {reason}"
)
_CLOSED = (
    "history database {path} closed; writes lost in all: {failures};"
    " failures not logged before this: {unlogged}"
)


def _describe(error: Exception) -> str:
    # SQLite's reasons never hold the values bound; other errors' text may
    # (a character that cannot be encoded), so only their kind is told.
    if isinstance(error, sqlite3.Error | _FileGone):
        return str(error)
    return type(error).__name__
