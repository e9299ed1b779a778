"""
What every history store guarantees, in memory and in an SQLite file.

Each test runs on both stores; for the file, "reopen" closes it and opens
it again, so each guarantee also holds across a restart.
"""

from __future__ import annotations

from pathlib import Path

from twisted.internet.task import Clock

from tests.stores import Reopen, close
from twisted_chat.store import HistoryEntry, open_store
from twisted_chat.store.memory import MemoryStore
from twisted_chat.store.sqlite import SQLiteStore


def said(time: float, text: str, name: str = "ann") -> HistoryEntry:
    return HistoryEntry(time, "said", name, text)


def test_load_gives_the_last_entries_oldest_first(stores: Reopen) -> None:
    """load(room, n) is the room's last n entries in the order appended."""
    store = stores(None)
    entries = [said(float(t), f"line {t}") for t in range(10)]
    store.append("lobby", entries[:3])
    store.append("lobby", entries[3:4])
    store.append("lobby", entries[4:])
    store = stores(store)
    assert store.load("lobby", 4) == entries[6:]
    assert store.load("lobby", 10) == entries
    assert store.load("lobby", 1000) == entries


def test_load_of_nothing(stores: Reopen) -> None:
    """A room with no history, and a limit of 0 or less, load nothing."""
    store = stores(None)
    store.append("lobby", [said(1.0, "hello")])
    store.append("lobby", [])
    store = stores(store)
    assert store.load("elsewhere", 10) == []
    assert store.load("lobby", 0) == []
    assert store.load("lobby", -1) == []


def test_order_is_as_appended_not_by_time(stores: Reopen) -> None:
    """Entries load in the order given, even when the clock went back."""
    store = stores(None)
    entries = [said(5.0, "first"), said(1.0, "second"), said(5.0, "third")]
    store.append("lobby", entries)
    store = stores(store)
    assert store.load("lobby", 3) == entries


def test_rooms_keep_their_own_history(stores: Reopen) -> None:
    """Entries of interleaved rooms load back per room, each in order."""
    store = stores(None)
    lobby = [said(float(t), f"lobby {t}") for t in range(5)]
    dev = [HistoryEntry(float(t), "acted", "bob", f"dev {t}") for t in range(5)]
    for ours, theirs in zip(lobby, dev, strict=True):
        store.append("lobby", [ours])
        store.append("dev", [theirs])
    store = stores(store)
    assert store.load("lobby", 10) == lobby
    assert store.load("dev", 10) == dev


def test_text_is_kept_exactly(stores: Reopen) -> None:
    """Names and text come back exactly, whatever their characters."""
    store = stores(None)
    entries = [
        HistoryEntry(1.5, "said", "zoë", "naïve — 日本語 🎉 'quotes' \"too\""),
        HistoryEntry(2.25, "acted", "o'brien", "%s ? ; DROP TABLE history; --"),
    ]
    store.append("lobby", entries)
    store = stores(store)
    assert store.load("lobby", 2) == entries


def test_topics_are_saved_replaced_and_removed(stores: Reopen) -> None:
    """topics() maps each room's name as last saved to its topic; None or
    an empty topic removes it."""
    store = stores(None)
    store.save_topic("lobby", "Lobby", "welcome")
    store.save_topic("dev", "dev", "builds")
    store.save_topic("ops", "ops", "pager")
    store = stores(store)
    assert store.topics() == {"Lobby": "welcome", "dev": "builds", "ops": "pager"}
    store.save_topic("lobby", "LOBBY", "welcome back")
    store.save_topic("dev", "dev", None)
    store.save_topic("ops", "ops", "")
    store = stores(store)
    assert store.topics() == {"LOBBY": "welcome back"}


def test_prune_drops_entries_older_than_given(stores: Reopen) -> None:
    """prune(t) drops every entry with time < t in every room, keeps the
    rest (t itself included) in order."""
    store = stores(None)
    lobby = [said(float(t), f"lobby {t}") for t in range(10)]
    dev = [said(float(t), f"dev {t}") for t in range(3)]
    store.append("lobby", lobby)
    store.append("dev", dev)
    store.prune(5.0)
    store = stores(store)
    assert store.load("lobby", 100) == lobby[5:]
    assert store.load("dev", 100) == []


def test_writes_after_close_are_counted_not_raised(stores: Reopen) -> None:
    """After close, writing methods lose their write, count it, and return."""
    store = stores(None)
    assert store.failures == 0
    close(store)
    store.append("lobby", [said(1.0, "late")])
    store.save_topic("lobby", "lobby", "late")
    store.prune(1.0)
    assert store.failures == 3
    assert store.load("lobby", 10) == []


def test_open_store_of_none_is_in_memory(tmp_path: Path) -> None:
    """No path gives the in-memory store; a path gives the SQLite one."""
    assert isinstance(open_store(None), MemoryStore)
    store = open_store(str(tmp_path / "h.db"), Clock())
    assert isinstance(store, SQLiteStore)
    close(store)


def test_memory_store_keeps_at_most_per_room() -> None:
    """The memory store keeps the last per_room entries of each room."""
    store = MemoryStore(per_room=3)
    entries = [said(float(t), f"line {t}") for t in range(5)]
    store.append("lobby", entries[:4])
    store.append("lobby", entries[4:])
    store.append("dev", entries[:1])
    assert store.load("lobby", 10) == entries[2:]
    assert store.load("dev", 10) == entries[:1]
