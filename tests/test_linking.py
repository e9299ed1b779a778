"""
Linked hubs in memory: several hubs on one L{MemoryEngine} (the twin of
Redis), each with its L{LinkedChat}, driven by one L{Clock}.
"""

from __future__ import annotations

import json

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from tests.support import run_line
from twisted_chat.backplane import wire
from twisted_chat.backplane.bridge import LinkedChat
from twisted_chat.backplane.memory import MemoryEngine
from twisted_chat.backplane.store import SharedStore
from twisted_chat.core.hub import Hub
from twisted_chat.names import name_key
from twisted_chat.session.throttle import ReadThrottle
from twisted_chat.testing import FakeMember


class Net:
    """Hubs linked through one engine, and the clock they all run on."""

    def __init__(self, expiry: float = 15.0) -> None:
        self.clock = Clock()
        self.engine = MemoryEngine(self.clock)
        self.expiry = expiry

    def daemon(self, node: str) -> tuple[Hub, LinkedChat]:
        clock = self.clock
        store = SharedStore(50)
        hub = Hub(
            schedule=lambda flush: clock.callLater(0, flush),
            clock=clock,
            history=50,
            store=store,
        )
        chat = LinkedChat(hub, self.engine.bus(), node, clock, self.expiry)
        store.forward = chat.save_record
        chat.start()
        self.settle()
        return hub, chat

    def settle(self) -> None:
        """Run every turn that is due now (messages take a few)."""
        for _ in range(50):
            if not any(
                call.getTime() <= self.clock.seconds() for call in self.clock.calls
            ):
                return
            self.clock.advance(0)

    def wait(self, seconds: float) -> None:
        """Let C{seconds} pass in half-second steps, settling after each."""
        for _ in range(int(seconds * 2)):
            self.clock.advance(0.5)
            self.settle()


def member(hub: Hub, net: Net, name: str | None = None) -> FakeMember:
    someone = FakeMember(address="127.0.0.1")
    hub.connect(someone)
    net.settle()
    if name is not None:
        run_line(hub, someone, f"/nick {name}")
        net.settle()
    someone.received.clear()
    return someone


def said(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith(("<", "* "))]


def test_a_line_reaches_the_room_on_every_daemon_once_in_order() -> None:
    net = Net()
    a, _ = net.daemon("a")
    b, _ = net.daemon("b")
    alice, ann = member(a, net, "alice"), member(a, net, "ann")
    bob = member(b, net, "bob")
    for n in range(5):
        a.say(alice, [f"line {n}"])
    net.settle()
    assert said(bob.take_lines()) == [f"<alice> line {n}" for n in range(5)]
    assert said(ann.take_lines()) == [f"<alice> line {n}" for n in range(5)]
    assert said(alice.take_lines()) == []
    b.say(bob, ["back"])
    b.act(bob, "waves")
    net.settle()
    assert said(alice.take_lines()) == ["<bob> back", "* bob waves"]
    assert said(bob.take_lines()) == []


def test_names_are_unique_across_daemons_and_a_race_has_one_winner() -> None:
    net = Net()
    a, _ = net.daemon("a")
    b, _ = net.daemon("b")
    one, two = member(a, net), member(b, net)
    assert one.name != two.name  # guest numbers are shared
    run_line(a, one, "/nick carol")
    run_line(b, two, "/nick carol")
    net.settle()
    names = {one.name, two.name}
    assert "carol" in names and len(names) == 2
    loser = two if one.name == "carol" else one
    assert "! The name carol is taken." in loser.take_lines()
    # Known as taken on the other daemon too, from then on.
    late = member(b, net)
    assert b.rename(late, "carol") is not None


def test_who_rooms_topics_and_joins_span_daemons() -> None:
    net = Net()
    a, _ = net.daemon("a")
    b, _ = net.daemon("b")
    alice = member(a, net, "alice")
    bob = member(b, net, "bob")
    run_line(b, bob, "/join dev")
    net.settle()
    assert "*** bob has left" in alice.take_lines()
    run_line(b, bob, "/topic building things")
    net.settle()
    run_line(a, alice, "/rooms")
    net.settle()
    lines = alice.take_lines()
    assert "***   #dev: 1 here; topic: building things" in lines
    run_line(a, alice, "/join dev")
    net.settle()
    assert "*** Topic of #dev: building things" in alice.take_lines()
    assert "*** alice has joined" in bob.take_lines()
    run_line(b, bob, "/who")
    net.settle()
    assert "*** 2 here: alice, bob" in bob.take_lines()


def test_a_private_line_reaches_a_name_on_another_daemon() -> None:
    net = Net()
    a, _ = net.daemon("a")
    b, _ = net.daemon("b")
    alice, bob = member(a, net, "alice"), member(b, net, "bob")
    alice.received.clear()
    run_line(a, alice, "/msg bob psst")
    net.settle()
    assert bob.take_lines() == ["*alice* psst"]
    assert alice.take_lines() == ["-> *bob* psst"]


def test_a_daemon_linked_later_replays_the_same_history_in_the_same_order() -> None:
    net = Net()
    a, _ = net.daemon("a")
    b, _ = net.daemon("b")
    alice, bob = member(a, net, "alice"), member(b, net, "bob")
    # Said in the same turn on both daemons: each daemon records the order
    # the bus gave, not the order its own members happened to speak.
    b.say(bob, ["from b"])
    a.say(alice, ["from a"])
    net.settle()
    first = [line.text for line in a.default_room.history.last()]
    assert first == [line.text for line in b.default_room.history.last()]
    assert sorted(first) == ["from a", "from b"]
    c, _ = net.daemon("c")
    carol = member(c, net)
    assert [line.text for line in c.default_room.history.last()] == first
    del carol


def test_accounts_and_bans_are_shared() -> None:
    net = Net()
    a, _ = net.daemon("a")
    b, _ = net.daemon("b")
    alice = member(a, net, "alice")
    run_line(a, alice, "/register sesame-street-42")
    net.settle()
    assert a.moderation.account("alice") is not None
    assert b.moderation.account("alice") is not None
    other = member(b, net)
    assert b.rename(other, "alice") is not None  # registered: refused
    a.moderation.server_operators = {name_key("alice")}
    mallory = member(b, net, "mallory")
    run_line(a, alice, "/ban --server mallory spam")
    net.settle()
    assert mallory.closed
    assert any("banned" in line for line in mallory.lines)
    assert "mallory" not in a.names and "mallory" not in b.names
    assert b.moderation.in_force("ban", ("",), None, "mallory", None) is not None


def test_lines_said_during_a_short_outage_arrive_in_order_when_it_ends() -> None:
    net = Net()
    a, chat_a = net.daemon("a")
    b, _ = net.daemon("b")
    alice, bob = member(a, net, "alice"), member(b, net, "bob")
    net.engine.stop()
    net.settle()
    assert any("link to the other servers is down" in x for x in alice.take_lines())
    for n in range(3):
        a.say(alice, [f"meanwhile {n}"])
        net.wait(1)
    assert said(bob.lines) == []
    net.engine.start()
    net.settle()
    assert said(bob.take_lines()) == [f"<alice> meanwhile {n}" for n in range(3)]
    assert chat_a.lines_dropped == 0 and chat_a.reconnects == 1
    assert "*** The link to the other servers is back." in alice.take_lines()


def test_an_outage_past_the_replay_window_is_announced_and_counted() -> None:
    net = Net()
    a, chat_a = net.daemon("a")
    b, _ = net.daemon("b")
    alice, bob = member(a, net, "alice"), member(b, net, "bob")
    net.engine.stop()
    a.say(alice, ["lost"])
    net.wait(11)
    a.say(alice, ["lost too"])
    net.settle()
    assert chat_a.lines_dropped == 2 and chat_a.waiting == 0
    assert any("did not reach them" in line for line in alice.lines)
    net.engine.start()
    net.settle()
    assert said(bob.lines) == []


def test_a_silent_daemon_s_people_go_and_their_names_free() -> None:
    net = Net(expiry=5.0)
    a, _ = net.daemon("a")
    b, chat_b = net.daemon("b")
    alice, bob = member(a, net, "alice"), member(b, net, "bob")
    chat_b.stop()
    net.engine.buses.remove(chat_b.bus)  # type: ignore[arg-type]
    started = net.clock.seconds()
    while "bob" in a.names and net.clock.seconds() - started < 10:
        net.wait(0.5)
    assert net.clock.seconds() - started <= 5.0
    assert "*** bob has left" in alice.take_lines()
    run_line(a, alice, "/nick bob")
    net.settle()
    assert alice.name == "bob"
    del bob


def test_a_second_daemon_under_the_same_node_name_stays_apart() -> None:
    net = Net()
    a, _ = net.daemon("a")
    twin, chat_twin = net.daemon("a")
    assert chat_twin.refused and not chat_twin.up
    alice = member(a, net, "alice")
    someone = member(twin, net)
    twin.say(someone, ["unheard"])
    net.settle()
    assert said(alice.lines) == []


def test_a_restarted_daemon_s_old_people_are_gone() -> None:
    net = Net()
    a, _ = net.daemon("a")
    b, chat_b = net.daemon("b")
    alice = member(a, net, "alice")
    member(b, net, "bob")
    assert "bob" in a.names
    chat_b.stop()
    net.engine.buses.remove(chat_b.bus)  # type: ignore[arg-type]
    net.engine.nodes.pop("b")
    b2, _ = net.daemon("b")  # a new instance: its hello replaces the old
    assert "bob" not in a.names
    assert "*** bob has left" in alice.lines
    del b2


def test_a_message_that_is_not_ours_is_counted_and_harmless() -> None:
    net = Net()
    a, chat_a = net.daemon("a")
    alice = member(a, net, "alice")
    net.engine.publish(b"not json")
    net.engine.publish(
        wire.encode("x", "i1", 1, [["said", 1, "eve", "lobby", ["\x1b[2Jhi\x07"]]])
    )
    net.engine.publish(
        wire.encode("x", "i1", 2, [["said", 1, "no good", "lobby", ["x"]]])
    )
    net.settle()
    assert said(alice.take_lines()) == ["<eve> hi"]
    assert chat_a.arrivals.bad == 2


def test_a_message_sent_again_after_a_reconnection_is_taken_once() -> None:
    net = Net()
    a, _ = net.daemon("a")
    alice = member(a, net, "alice")
    message = wire.encode("x", "i1", 1, [["said", 1, "eve", "lobby", ["once"]]])
    net.engine.publish(message)
    net.engine.publish(message)
    net.settle()
    assert said(alice.take_lines()) == ["<eve> once"]


def test_shared_records_round_trip_through_the_wire() -> None:
    net = Net()
    a, _ = net.daemon("a")
    alice = member(a, net, "alice")
    run_line(a, alice, "/register sesame-street-42")
    net.settle()
    kept = net.engine.tables["account"][name_key("alice")]
    record = wire.decode_record("account", json.loads(kept))
    assert record == a.moderation.account("alice")


def test_one_message_per_turn_however_many_spoke() -> None:
    net = Net()
    a, _ = net.daemon("a")
    b, _ = net.daemon("b")
    people = [member(a, net, f"p{n}") for n in range(5)]
    bob = member(b, net, "bob")
    before = len(net.engine.stream)
    for n, someone in enumerate(people):
        a.say(someone, [f"line {n}"])
    net.settle()
    assert len(net.engine.stream) == before + 1
    assert len(said(bob.lines)) == 5


class _Silent:
    """A bus that takes sends and never answers them (Redis stalled)."""

    def __init__(self, bus: object) -> None:
        self._bus = bus

    def __getattr__(self, name: str) -> object:
        return getattr(self._bus, name)

    def send(self, *args: object) -> Deferred[None]:
        return Deferred()


def test_a_stalled_redis_pauses_reading_instead_of_growing_memory() -> None:
    net = Net()
    a, chat = net.daemon("a")
    alice = member(a, net, "alice")
    throttle = ReadThrottle(net.clock, high_water=10_000, low_water=1_000)

    class Reader:
        paused = False

        def pauseProducing(self) -> None:
            self.paused = True

        def resumeProducing(self) -> None:
            self.paused = False

        def stopProducing(self) -> None:
            pass

    reader = Reader()
    throttle.add("alice", reader)
    chat.outbox.bus = _Silent(chat.outbox.bus)  # type: ignore[assignment]
    chat.outbox.on_backlog = lambda waiting, moved: throttle.queued(
        "link", waiting, moved
    )
    sent = 0
    while not reader.paused and sent < 1000:
        a.say(alice, ["x" * 200])
        net.settle()
        sent += 1
    assert reader.paused
    assert chat.waiting <= 64 + 100  # at most the in-flight ones and a few more


def test_a_name_taken_on_both_sides_of_an_outage_ends_with_one_holder() -> None:
    net = Net()
    a, _ = net.daemon("a")
    b, _ = net.daemon("b")
    one, two = member(a, net), member(b, net)
    net.engine.stop()
    net.settle()
    run_line(a, one, "/nick carol")
    net.settle()
    run_line(b, two, "/nick carol")
    net.settle()
    assert one.name == two.name == "carol"  # apart, neither could know
    net.engine.start()
    net.settle()
    assert {one.name, two.name} != {"carol"}
    assert "carol" in (one.name, two.name)
    loser, loser_hub = (two, b) if one.name == "carol" else (one, a)
    assert any("was taken on another server" in line for line in loser.lines)
    # The winner is found by name on the loser's daemon.
    found = loser_hub.find("carol")
    assert found is not None and found is not loser


def test_a_link_not_there_at_start_up_is_announced_once_it_is_clearly_down() -> None:
    net = Net()
    net.engine.stop()
    a, _ = net.daemon("a")
    early = FakeMember()
    a.connect(early)
    net.settle()
    assert early.lines and not any("link" in line for line in early.lines)
    net.wait(1.5)
    assert any("link to the other servers is down" in x for x in early.take_lines())
    late = FakeMember()
    a.connect(late)
    net.settle()
    assert any("link to the other servers is down" in x for x in late.lines)
    net.engine.start()
    net.settle()
    assert "*** The link to the other servers is back." in early.lines


def test_a_twin_takes_its_node_name_once_the_holder_has_gone() -> None:
    net = Net(expiry=5.0)
    a, chat_a = net.daemon("a")
    twin, chat_twin = net.daemon("a")
    assert chat_twin.refused
    chat_a.stop()
    net.engine.buses.remove(chat_a.bus)  # type: ignore[arg-type]
    net.wait(6)
    assert not chat_twin.refused and chat_twin.up
    b, _ = net.daemon("b")
    someone, bob = member(twin, net, "someone"), member(b, net, "bob")
    twin.say(someone, ["heard now"])
    net.settle()
    assert said(bob.lines) == ["<someone> heard now"]
    del a


def test_what_is_said_right_after_a_nick_goes_out_under_the_new_name() -> None:
    net = Net()
    a, _ = net.daemon("a")
    b, _ = net.daemon("b")
    someone, bob = member(a, net), member(b, net, "bob")
    run_line(a, someone, "/nick ann")  # the claim is out...
    a.say(someone, ["first"])  # ...when this is said
    a.act(someone, "waves")
    net.settle()
    assert said(bob.lines) == ["<ann> first", "* ann waves"]


def test_a_redis_that_comes_back_empty_gets_the_accounts_back_not_the_reverse() -> None:
    net = Net()
    a, _ = net.daemon("a")
    alice = member(a, net, "alice")
    run_line(a, alice, "/register sesame-street-42")
    net.settle()
    net.engine.stop()
    net.engine.tables.clear()  # restarted with no AOF nor RDB
    net.engine.start()
    net.settle()
    assert a.moderation.account("alice") is not None
    assert name_key("alice") in net.engine.tables["account"]


def test_an_account_registered_during_a_long_outage_reaches_the_others() -> None:
    net = Net()
    a, _ = net.daemon("a")
    b, _ = net.daemon("b")
    mona = member(a, net, "mona")
    net.engine.stop()
    net.settle()
    run_line(a, mona, "/register monapass123")
    net.wait(12)  # past the replay window: the waiting messages are dropped
    net.engine.buses.reverse()  # b back first: its snapshot misses mona
    net.engine.start()
    net.settle()
    assert b.moderation.account("mona") is not None
    other = member(b, net)
    assert b.rename(other, "mona") is not None


def test_a_command_right_after_a_nick_sees_the_new_name() -> None:
    net = Net()
    a, _ = net.daemon("a")
    someone = member(a, net)
    run_line(a, someone, "/nick zoe")  # the claim is out...
    run_line(a, someone, "/register zoepassword1")  # ...when this is typed
    net.settle()
    assert a.moderation.account("zoe") is not None
    assert "*** You are now known as zoe" in someone.lines
