"""The room in memory: names, fan-out, announcements."""

from __future__ import annotations

from collections.abc import Callable

from twisted_chat import text
from twisted_chat.core.hub import Hub
from twisted_chat.frontends.line.render import LINE_RENDERER
from twisted_chat.testing import FakeMember, joined_members


def test_join_gives_unique_guest_names_and_greets() -> None:
    room = Hub("here")
    first, second = FakeMember(), FakeMember()
    room.connect(first)
    room.connect(second)
    assert (first.name, second.name) == ("guest1", "guest2")
    assert second.lines == [
        "*** Welcome to here, guest2! 2 here now. Type /help for commands.",
        "*** You are in #lobby: 2 here",
    ]
    assert first.lines[-1] == "*** guest2 has joined"


def test_say_reaches_others_once_and_not_the_sender() -> None:
    room = Hub()
    alice, bob, carol = joined_members(room, 3)
    room.say(alice, ["one", "two"])
    assert alice.lines == []
    assert bob.lines == carol.lines == ["<guest1> one", "<guest1> two"]


def test_one_batch_is_one_send_per_recipient() -> None:
    room = Hub()
    sender, *others = joined_members(room, 4)
    sends: list[bytes] = []
    others[0].send = sends.append  # type: ignore[method-assign]
    room.say(sender, [f"line {n}" for n in range(50)])
    assert len(sends) == 1


def test_leave_announces_and_frees_the_name() -> None:
    room = Hub()
    alice, bob = joined_members(room, 2)
    room.disconnect(alice)
    room.disconnect(alice)  # a second leave is ignored
    assert bob.lines == ["*** guest1 has left"]
    assert room.find("guest1") is None
    assert room.rename(bob, "guest1") is None


def test_rename_rules() -> None:
    room = Hub()
    alice, bob = joined_members(room, 2)
    assert room.rename(alice, "Alice") is None
    assert room.rename(bob, "ALICE") == "The name ALICE is taken."
    assert room.rename(bob, "") is not None
    assert room.rename(bob, "a" * 25) is not None
    assert room.rename(bob, "a b") is not None
    assert room.rename(bob, "ok.name-1_") is None
    assert room.rename(alice, "alice") is None  # a change of case only
    assert room.names == ["alice", "ok.name-1_"]
    assert bob.take_lines()[0] == "*** guest1 is now known as Alice"


def test_a_member_whose_send_fails_is_removed_and_others_still_get_lines() -> None:
    room = Hub()
    sender, broken, healthy = joined_members(room, 3)

    def explode(data: bytes) -> None:
        raise OSError("socket gone")

    broken.send = explode  # type: ignore[method-assign]
    room.say(sender, ["still here?"])
    assert healthy.lines == ["<guest1> still here?", "*** guest2 has left"]
    assert broken.closed
    assert len(room) == 2


def test_big_rooms_do_not_announce_joins_and_leaves() -> None:
    room = Hub(announce_limit=3)
    members = joined_members(room, 3)
    newcomer = FakeMember()
    room.connect(newcomer)
    assert newcomer.lines[2] == (
        "*** Over 3 people here: joins and leaves are not announced."
    )
    assert all(m.lines == [] for m in members)
    room.disconnect(newcomer)  # 4 were here: not announced
    assert all(m.lines == [] for m in members)
    room.disconnect(members[0])  # 3 were here: announced again
    assert members[1].lines == ["*** guest1 has left"]


def test_who_in_a_big_room_says_so_and_caps_the_names() -> None:
    room = Hub(announce_limit=3)
    joined_members(room, 5)
    who = room.who(room.default_room, most=2)
    lines = LINE_RENDERER.render(who).decode().split("\r\n")
    assert lines[:2] == [
        "*** 5 here: guest1, guest2 and 3 more",
        "*** Over 3 people here: joins and leaves are not announced.",
    ]


class Turns:
    """A stand-in for reactor.callLater(0, ...): runs relays when told."""

    def __init__(self) -> None:
        self.waiting: list[Callable[[], None]] = []

    def schedule(self, relay: Callable[[], None]) -> None:
        self.waiting.append(relay)

    def end(self) -> None:
        waiting, self.waiting = self.waiting, []
        for relay in waiting:
            relay()


def test_one_turn_is_one_send_per_member_however_many_spoke() -> None:
    turns = Turns()
    room = Hub(schedule=turns.schedule)
    alice, bob, carol, dave = joined_members(room, 4)
    sends: dict[str, list[bytes]] = {m.name: [] for m in (alice, bob, carol, dave)}
    for member in (alice, bob, carol, dave):
        member.send = sends[member.name].append  # type: ignore[method-assign]
    room.say(alice, ["a1", "a2"])
    room.say(bob, ["b1"])
    room.say(alice, ["a3"])
    assert all(not sent for sent in sends.values())  # nothing before the turn ends
    assert len(turns.waiting) == 1
    turns.end()
    assert sends["guest1"] == [b"<guest2> b1\r\n"]
    assert sends["guest2"] == [b"<guest1> a1\r\n<guest1> a2\r\n<guest1> a3\r\n"]
    expected = [b"<guest1> a1\r\n<guest1> a2\r\n<guest2> b1\r\n<guest1> a3\r\n"]
    assert sends["guest3"] == sends["guest4"] == expected
    assert sends["guest3"][0] is sends["guest4"][0]  # the same bytes, shared
    assert room.deliveries == 4 * 3


def test_what_waits_is_relayed_before_anything_else_the_room_does() -> None:
    turns = Turns()
    room = Hub(schedule=turns.schedule)
    alice, bob = joined_members(room, 2)
    room.say(alice, ["before the newcomer"])
    newcomer = FakeMember()
    room.connect(newcomer)
    room.say(alice, ["before the rename"])
    assert room.rename(alice, "alice") is None
    room.say(bob, ["after"])
    turns.end()
    assert bob.lines == [
        "<guest1> before the newcomer",
        "*** guest3 has joined",
        "<guest1> before the rename",
        "*** guest1 is now known as alice",
    ]
    assert newcomer.lines[2:] == [
        "<guest1> before the rename",
        "*** guest1 is now known as alice",
        "<guest2> after",
    ]


def test_a_member_failing_in_a_relay_is_removed_and_the_others_still_get_it() -> None:
    turns = Turns()
    room = Hub(schedule=turns.schedule)
    alice, bob, broken, carol = joined_members(room, 4)

    def fail(data: bytes) -> None:
        raise OSError("gone")

    broken.send = fail  # type: ignore[method-assign]
    room.say(alice, ["one"])
    room.say(bob, ["two"])
    turns.end()
    assert broken not in room
    assert carol.lines == ["<guest1> one", "<guest2> two", "*** guest3 has left"]


def test_the_server_name_is_cleaned_into_one_line_however_it_is_set() -> None:
    """The greeting never carries an escape, a control or a second line."""
    evil = "evil\x1b]0;pwned\x07\r\n* alice has left\u202e"
    for room in (Hub(evil), Hub()):
        room.server_name = evil
        assert room.server_name == "evil * alice has left"
        newcomer = FakeMember()
        room.connect(newcomer)
        assert newcomer.lines == [
            text.WELCOME.format(server="evil * alice has left", name="guest1", count=1),
            text.NOW_IN.format(room="lobby", count=1),
        ]
    room.server_name = "\u200b\r\n"
    assert room.server_name == "twisted_chat"


def test_the_motd_is_cleaned_line_by_line() -> None:
    room = Hub("here")
    room.motd = ["Be nice. \x1b[31m", "two\nlines", "", "\u202ereversed\u200b"]
    assert room.motd == ["Be nice. ", "two", "lines", "", "reversed"]
    newcomer = FakeMember()
    room.connect(newcomer)
    assert newcomer.lines[1:-1] == [
        "*** Be nice. ",
        "*** two",
        "*** lines",
        "*** ",
        "*** reversed",
    ]
