"""
What rooms remember: L{RoomHistory}, L{HistoryBudget}, and the hub's use of
them, in memory and over a store.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from twisted.internet.task import Clock

from twisted_chat.core import events
from twisted_chat.core.commands import run_command, split_command
from twisted_chat.core.events import HistoryLine
from twisted_chat.core.history import HistoryBudget, RoomHistory
from twisted_chat.core.hub import Hub
from twisted_chat.core.keeper import SAVE_SECONDS
from twisted_chat.store import HistoryBatch
from twisted_chat.store.memory import MemoryStore
from twisted_chat.testing import FakeMember, TurnDriver, joined_members

# A moment whose clock time reads the same in any time zone's test run.
NOON = 1_000_000.0


def at(seconds: float) -> str:
    """How a line said at C{seconds} shows, replayed the same day."""
    return time.strftime("%H:%M", time.localtime(seconds))


def run(hub: Hub, member: FakeMember, line: str) -> None:
    """Run C{line}, a slash command, as typed by C{member}."""
    command = split_command(line)
    assert command is not None
    run_command(member, hub, *command)


def texts(history: RoomHistory) -> list[str]:
    return [line.text for line in history.last()]


# RoomHistory


def test_lines_come_back_in_the_order_they_were_added() -> None:
    """last() is every line kept, oldest first, each with its time, kind and name."""
    history = RoomHistory(10)
    assert history.add(1.0, "said", "ann", ("one", "two")) == 0
    assert history.add(2.0, "acted", "bob", ("waves",)) == 0
    assert history.add(3.0, "said", "ann", ("three",)) == 0
    assert history.last() == (
        HistoryLine(1.0, "said", "ann", "one"),
        HistoryLine(1.0, "said", "ann", "two"),
        HistoryLine(2.0, "acted", "bob", "waves"),
        HistoryLine(3.0, "said", "ann", "three"),
    )
    assert history.lines == 4


def test_the_cap_drops_the_oldest_lines_even_part_of_a_batch() -> None:
    """
    Past the cap the oldest lines go, one by one: the rest of a batch
    whose first lines went is kept, with its time and name.
    """
    history = RoomHistory(3)
    history.add(1.0, "said", "ann", ("a1", "a2"))
    assert history.add(2.0, "said", "bob", ("b1", "b2")) == 1
    assert history.last() == (
        HistoryLine(1.0, "said", "ann", "a2"),
        HistoryLine(2.0, "said", "bob", "b1"),
        HistoryLine(2.0, "said", "bob", "b2"),
    )
    assert history.add(3.0, "said", "cat", ("c1",)) == 1
    assert texts(history) == ["b1", "b2", "c1"]
    assert history.lines == 3


def test_a_batch_bigger_than_the_cap_keeps_its_last_lines() -> None:
    """One batch over the cap drops everything older and its own first lines."""
    history = RoomHistory(3)
    history.add(1.0, "said", "ann", ("old",))
    assert history.add(2.0, "said", "bob", ("1", "2", "3", "4", "5")) == 3
    assert texts(history) == ["3", "4", "5"]
    assert history.lines == 3


def test_last_n_is_the_newest_n_oldest_first() -> None:
    """last(N) is the last N lines; last(0) none; more than kept, all of them."""
    history = RoomHistory(10)
    history.add(1.0, "said", "ann", ("1", "2"))
    history.add(2.0, "said", "ann", ("3", "4"))
    assert [line.text for line in history.last(3)] == ["2", "3", "4"]
    assert [line.text for line in history.last(1)] == ["4"]
    assert history.last(0) == ()
    assert [line.text for line in history.last(99)] == ["1", "2", "3", "4"]
    assert history.last(None) == history.last()


def test_set_cap_trims_at_once_and_zero_keeps_nothing() -> None:
    """A lower cap drops the oldest lines at once; a cap of 0 keeps none."""
    history = RoomHistory(10)
    history.add(1.0, "said", "ann", ("1", "2", "3", "4"))
    assert history.set_cap(2) == 2
    assert texts(history) == ["3", "4"]
    assert history.set_cap(5) == 0
    assert history.add(2.0, "said", "ann", ("5",)) == 0
    assert texts(history) == ["3", "4", "5"]
    assert history.set_cap(0) == 3
    assert history.add(3.0, "said", "ann", ("6",)) == 0
    assert (history.last(), history.lines, history.oldest_seq) == ((), 0, None)


# HistoryBudget


def test_the_budget_drops_the_oldest_lines_across_rooms_first() -> None:
    """
    Past the total, the oldest lines of all rooms go first, whichever room
    they are in, part of a batch if need be; each room's own cap is not
    reached.
    """
    one, two, three = rooms = [RoomHistory(10) for _ in range(3)]
    budget = HistoryBudget(5)

    def add(history: RoomHistory, *lines: str) -> None:
        dropped = history.add(0.0, "said", "ann", lines)
        budget.spend(len(lines), dropped, rooms)

    add(one, "1a")
    add(two, "2a")
    add(three, "3a", "3b")
    add(one, "1b")
    assert [texts(room) for room in rooms] == [["1a", "1b"], ["2a"], ["3a", "3b"]]
    add(two, "2b", "2c")  # 7 lines: the two oldest go
    assert [texts(room) for room in rooms] == [["1b"], ["2b", "2c"], ["3a", "3b"]]
    add(one, "1c")  # 6 lines: the oldest is 3a, the first of a batch
    assert [texts(room) for room in rooms] == [["1b", "1c"], ["2b", "2c"], ["3b"]]
    add(three, "3c", "3d", "3e")  # 8 lines: 3b, 1b, then 2b
    assert [texts(room) for room in rooms] == [["1c"], ["2c"], ["3c", "3d", "3e"]]
    assert budget.lines == 5 == sum(room.lines for room in rooms)


def test_forget_gives_back_the_lines_of_a_room_that_went() -> None:
    """After forget(), a room that is gone no longer counts against the total."""
    one, two = RoomHistory(10), RoomHistory(10)
    budget = HistoryBudget(4)
    for history in (one, two):
        budget.spend(2, history.add(0.0, "said", "ann", ("x", "y")), [one, two])
    assert budget.lines == 4
    budget.forget(one.lines)  # room one is gone
    assert budget.lines == 2
    budget.spend(2, two.add(0.0, "said", "ann", ("z", "w")), [two])
    assert texts(two) == ["x", "y", "z", "w"]
    assert budget.lines == 4


def test_a_total_of_zero_leaves_only_each_rooms_cap() -> None:
    """HistoryBudget(0) never drops a line."""
    rooms = [RoomHistory(3) for _ in range(3)]
    budget = HistoryBudget(0)
    for history in rooms:
        budget.spend(3, history.add(0.0, "said", "ann", ("a", "b", "c")), rooms)
    assert [room.lines for room in rooms] == [3, 3, 3]
    assert budget.lines == 9


# The hub's history


def test_the_hub_remembers_only_what_was_said_and_acted() -> None:
    """
    Lines and actions are kept, under the name they were said with; joins,
    leaves, renames, topics, notices and private messages are not.
    """
    clock = Clock()
    hub = Hub(history=50, clock=clock)
    ann, bob, cat = joined_members(hub, 3)
    hub.say(ann, ["hello", "all"])
    clock.advance(5)
    hub.act(bob, "waves")
    hub.whisper(ann, "guest2", "secret")
    assert hub.rename(ann, "ann") is None
    hub.set_topic(ann, "a topic")
    hub.tell(cat, events.Notice("a notice"))
    hub.disconnect(cat)
    newcomer = FakeMember()
    hub.connect(newcomer)
    assert hub.move(bob, "games") is None
    hub.say(ann, ["again"])
    assert hub.default_room.history.last() == (
        HistoryLine(0.0, "said", "guest1", "hello"),
        HistoryLine(0.0, "said", "guest1", "all"),
        HistoryLine(5.0, "acted", "guest2", "waves"),
        HistoryLine(5.0, "said", "ann", "again"),
    )
    games = hub.room("games")
    assert games is not None
    assert games.history.last() == ()


def test_a_newcomer_is_shown_the_backlog_after_where_it_is() -> None:
    """Joining a room with history shows its lines, with their times, after NOW_IN."""
    clock = Clock()
    clock.advance(NOON)
    hub = Hub(history=10, clock=clock)
    (ann,) = joined_members(hub, 1)
    hub.say(ann, ["one"])
    clock.advance(60)
    hub.act(ann, "waves")
    newcomer = FakeMember()
    hub.connect(newcomer)
    assert newcomer.lines[1:] == [
        "*** You are in #lobby: 2 here",
        "*** Earlier in #lobby (the last 2):",
        f"*** [{at(NOON)}] <guest1> one",
        f"*** [{at(NOON + 60)}] * guest1 waves",
    ]


def test_history_command_shows_the_last_n_lines() -> None:
    """/history shows all the room keeps, /history N its last N; N must be a number."""
    clock = Clock()
    clock.advance(NOON)
    hub = Hub(history=10, clock=clock)
    ann, bob = joined_members(hub, 2)
    run(hub, bob, "/history")
    assert bob.take_lines() == ["*** Nothing has been said in #lobby yet."]
    hub.say(ann, ["one", "two", "three"])
    bob.received.clear()
    run(hub, bob, "/history 2")
    assert bob.take_lines() == [
        "*** Earlier in #lobby (the last 2):",
        f"*** [{at(NOON)}] <guest1> two",
        f"*** [{at(NOON)}] <guest1> three",
    ]
    run(hub, bob, "/history")
    assert bob.take_lines()[0] == "*** Earlier in #lobby (the last 3):"
    run(hub, bob, "/history two")
    run(hub, bob, "/history -1")
    run(hub, bob, "/history \u0662")  # a digit, but not an ASCII one
    run(hub, bob, "/history 0")
    assert bob.take_lines() == ["! Usage: /history [N], N from 1 up"] * 4
    assert ann.lines == []


def test_history_zero_keeps_nothing_and_says_it_is_off() -> None:
    """
    With history 0 nothing is kept, a newcomer gets no backlog, and
    /history answers NoHistory: "History is off on this server."
    """
    hub = Hub(history=0)
    ann, bob = joined_members(hub, 2)
    hub.say(ann, ["one"])
    hub.act(ann, "waves")
    assert hub.default_room.history.lines == 0
    assert hub.backlog(hub.default_room) == events.NoHistory("lobby", False)
    run(hub, bob, "/history")
    assert bob.lines[-1] == "*** History is off on this server."
    newcomer = FakeMember()
    hub.connect(newcomer)
    assert newcomer.lines[1:] == ["*** You are in #lobby: 3 here"]


def test_the_hub_caps_each_room_and_all_rooms_together() -> None:
    """
    history caps each room; history_total caps the rooms together, the
    oldest lines of all going first.
    """
    hub = Hub(history=3, history_total=4)
    ann, bob = joined_members(hub, 2)
    assert hub.move(bob, "games") is None
    hub.say(ann, ["l1", "l2"])
    hub.say(bob, ["g1"])
    hub.say(ann, ["l3", "l4"])  # lobby over its own cap of 3
    games = hub.room("games")
    assert games is not None
    assert texts(hub.default_room.history) == ["l2", "l3", "l4"]
    assert texts(games.history) == ["g1"]
    hub.say(bob, ["g2"])  # 5 in all: the oldest of all, l2, goes
    assert texts(hub.default_room.history) == ["l3", "l4"]
    assert texts(games.history) == ["g1", "g2"]
    assert hub.history_budget.lines == 4
    hub.configure("lobby", history=1, history_total=4)
    assert texts(hub.default_room.history) == ["l4"]
    assert texts(games.history) == ["g2"]
    assert hub.history_budget.lines == 2


def test_a_room_that_goes_gives_its_lines_back_to_the_budget() -> None:
    """A room that disappears no longer counts against history_total."""
    hub = Hub(history=10, history_total=3)
    ann, bob = joined_members(hub, 2)
    assert hub.move(bob, "games") is None
    hub.say(bob, ["g1", "g2"])
    assert hub.move(bob, "lobby") is None  # #games goes, with its 2 lines
    assert hub.room("games") is None
    hub.say(ann, ["l1", "l2", "l3"])
    assert texts(hub.default_room.history) == ["l1", "l2", "l3"]
    assert hub.history_budget.lines == 3


# Over a store


class CountingStore(MemoryStore):
    """A L{MemoryStore} recording each hand-over and what one member had then."""

    def __init__(self, watched: FakeMember | None = None) -> None:
        super().__init__()
        self.watched = watched
        self.appends: list[tuple[list[HistoryBatch], list[str]]] = []

    def append_batches(self, batches: Sequence[HistoryBatch]) -> None:
        seen = self.watched.lines if self.watched is not None else []
        self.appends.append((list(batches), seen))
        super().append_batches(batches)


def test_history_goes_to_the_store_in_one_hand_over_after_the_lines_went_out() -> None:
    """
    What the rooms said is handed to the store in one call, SAVE_SECONDS
    after the first of it, once the turn's lines were sent; a batch of lines
    said together is one record; nothing but lines and actions is kept.
    """
    clock = Clock()
    driver = TurnDriver()
    hub = Hub(history=10, clock=clock, schedule=driver, store=CountingStore())
    ann, bob, cat = joined_members(hub, 3)
    assert hub.move(cat, "Games") is None
    driver.end_turn()
    store = hub.store
    assert isinstance(store, CountingStore)
    store.watched = bob
    bob.received.clear()
    hub.say(ann, ["one", "two"])
    hub.act(ann, "waves")
    hub.say(cat, ["in games"])
    hub.whisper(ann, "guest2", "not kept")
    hub.say(ann, ["three"])
    driver.end_turn()
    sent_to_bob = [
        "<guest1> one",
        "<guest1> two",
        "* guest1 waves",
        "*guest1* not kept",
        "<guest1> three",
    ]
    assert bob.lines == sent_to_bob
    clock.advance(SAVE_SECONDS * 0.9)
    assert store.appends == []
    clock.advance(SAVE_SECONDS * 0.1)
    assert store.appends == [
        (
            [
                ("lobby", 0.0, "said", "guest1", ("one", "two")),
                ("lobby", 0.0, "acted", "guest1", ("waves",)),
                ("games", 0.0, "said", "guest3", ("in games",)),
                ("lobby", 0.0, "said", "guest1", ("three",)),
            ],
            sent_to_bob,
        )
    ]
    hub.whisper(ann, "guest2", "again")
    hub.set_topic(ann, "topics are saved apart")
    driver.end_turn()
    clock.advance(SAVE_SECONDS)
    assert len(store.appends) == 1


def test_no_history_reaches_the_store_when_history_is_off() -> None:
    """With history 0 the store is never appended to."""
    store = CountingStore()
    hub = Hub(history=0, store=store)
    ann, _ = joined_members(hub, 2)
    hub.say(ann, ["one"])
    hub.act(ann, "waves")
    assert store.appends == []


def test_a_room_made_again_gets_its_history_back_from_the_store() -> None:
    """A room that emptied and went is made again with what was said in it."""
    clock = Clock()
    clock.advance(NOON)
    driver = TurnDriver()
    hub = Hub(history=10, clock=clock, schedule=driver, store=MemoryStore())
    ann, bob = joined_members(hub, 2)
    assert hub.move(bob, "games") is None
    hub.say(bob, ["g1", "g2"])
    hub.act(bob, "leaves")
    driver.end_turn()
    assert hub.move(bob, "lobby") is None
    assert hub.room("games") is None
    driver.end_turn()
    ann.received.clear()
    assert hub.move(ann, "games") is None
    driver.end_turn()
    assert ann.lines == [
        "*** You are in #games: 1 here",
        "*** Earlier in #games (the last 3):",
        f"*** [{at(NOON)}] <guest2> g1",
        f"*** [{at(NOON)}] <guest2> g2",
        f"*** [{at(NOON)}] * guest2 leaves",
    ]


def test_a_new_hub_over_the_same_store_has_the_topics_and_history() -> None:
    """
    A hub built over a store restores every topic saved (rooms made for
    them, with their names as spelled) and each room's history; a cleared
    topic stays cleared.
    """
    store = MemoryStore()
    first = Hub(history=10, store=store)
    ann, bob = joined_members(first, 2)
    first.set_topic(ann, "welcome")
    first.say(ann, ["said before the restart"])
    assert first.move(bob, "Games") is None
    first.set_topic(bob, "chess")
    assert first.move(bob, "news") is None
    first.set_topic(bob, "no news")
    first.set_topic(bob, "")
    first.turn.flush()
    assert store.topics() == {"lobby": "welcome", "Games": "chess"}

    second = Hub(history=10, store=store)
    games = second.room("games")
    assert games is not None
    assert (games.name, games.topic) == ("Games", "chess")
    assert second.default_room.topic == "welcome"
    assert second.room("news") is None
    assert [room.name for room in second.rooms] == ["Games", "lobby"]
    newcomer = FakeMember()
    second.connect(newcomer)
    assert newcomer.lines[1:3] == [
        "*** You are in #lobby: 1 here",
        "*** Topic of #lobby: welcome",
    ]
    assert [line.text for line in second.default_room.history.last()] == [
        "said before the restart"
    ]
