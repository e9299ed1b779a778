"""The store tests' fixture: each test on both stores, across a reopen."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from twisted.internet.task import Clock

from twisted_chat.store import Store, open_store
from twisted_chat.store.sqlite import SQLiteStore

#: Called with None, opens the store under test; with a store, gives what a
#: restart would (the same memory store; the file closed and opened again).
Reopen = Callable[[Store | None], Store]


def close(store: Store) -> None:
    """Close C{store}, and wait for the file's writer when it has one."""
    closed = store.close()
    if isinstance(store, SQLiteStore):
        store.close_and_wait()
    assert closed.called


@pytest.fixture(params=["memory", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Reopen]:
    """Yields a L{Reopen} over the memory store, then over an SQLite file."""
    opened: list[Store] = []
    path = None if request.param == "memory" else str(tmp_path / "chat.db")

    def reopen(store: Store | None) -> Store:
        if store is not None and path is None:
            return store
        if store is not None:
            close(store)
        opened.append(open_store(path, Clock()))
        return opened[-1]

    yield reopen
    for store in opened:
        close(store)
