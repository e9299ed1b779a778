"""Rooms in memory: joining, moving, leaving, names, topics, listings."""

from __future__ import annotations

import time

import pytest
from twisted.internet.task import Clock

from twisted_chat.core.commands import run_command, split_command
from twisted_chat.core.hub import Hub
from twisted_chat.testing import FakeMember, joined_members

ROOM_HELP = "1 to 32 letters, digits, '_', '-' or '.'"


def run(hub: Hub, member: FakeMember, line: str) -> None:
    """Run C{line}, a slash command, as typed by C{member}."""
    command = split_command(line)
    assert command is not None
    run_command(member, hub, *command)


def clear(*members: FakeMember) -> None:
    for member in members:
        member.received.clear()


def rooms_of(hub: Hub, member: FakeMember) -> list[str]:
    return [room.name for room in hub.rooms_of(member)]


def room_names(hub: Hub) -> list[str]:
    return [room.name for room in hub.rooms]


def test_everyone_starts_in_the_default_room() -> None:
    """A newcomer is put in the default room, which exists while empty."""
    hub = Hub(default_room="hall")
    assert room_names(hub) == ["hall"]
    newcomer = FakeMember()
    hub.connect(newcomer)
    assert newcomer.lines[1:] == ["*** You are in #hall: 1 here"]
    assert rooms_of(hub, newcomer) == ["hall"]
    hub.disconnect(newcomer)
    assert room_names(hub) == ["hall"]
    assert hub.default_room.name == "hall"


def test_moving_is_announced_in_both_rooms_and_the_mover_gets_the_room() -> None:
    """
    The mover is told where it is, the topic and what was said there; the
    room it left hears "has left", the room it came to "has joined".
    """
    clock = Clock()
    clock.advance(1_000_000)
    hub = Hub(history=10, clock=clock)
    ann, bob, cat = joined_members(hub, 3)
    assert hub.move(cat, "games") is None
    hub.set_topic(cat, "board games")
    hub.say(cat, ["anyone?"])
    hub.act(cat, "waits")
    clear(ann, bob, cat)
    assert hub.move(ann, "#games") is None
    said_at = time.strftime("%H:%M", time.localtime(1_000_000))
    assert ann.lines == [
        "*** You are in #games: 2 here",
        "*** Topic of #games: board games",
        "*** Earlier in #games (the last 2):",
        f"*** [{said_at}] <guest3> anyone?",
        f"*** [{said_at}] * guest3 waits",
    ]
    assert bob.lines == ["*** guest1 has left"]
    assert cat.lines == ["*** guest1 has joined"]
    assert rooms_of(hub, ann) == ["games"]


def test_joining_keeps_the_member_in_its_other_rooms() -> None:
    """
    hub.join adds a room: nobody is told of a leave, the member's lines
    go to the room it came into last, and it hears both rooms.
    """
    hub = Hub()
    ann, bob, cat = joined_members(hub, 3)
    assert hub.move(cat, "games") is None
    clear(ann, bob, cat)
    assert hub.join(ann, "games") is None
    assert ann.take_lines() == ["*** You are in #games: 2 here"]
    assert bob.take_lines() == []
    assert cat.take_lines() == ["*** guest1 has joined"]
    assert rooms_of(hub, ann) == ["lobby", "games"]
    assert hub.room_of(ann) is hub.room("games")
    hub.say(ann, ["to games"])
    hub.say(bob, ["to lobby"])
    assert ann.lines == ["<guest2> to lobby"]
    assert bob.lines == []
    assert cat.lines == ["<guest1> to games"]
    assert hub.join(ann, "GAMES") == "You are already in #games."


def test_parting_is_announced_and_an_empty_room_without_topic_goes() -> None:
    """
    The room a member parts hears "has left"; once nobody is in a room
    that has no topic and is not configured, it is gone.
    """
    hub = Hub()
    ann, bob, cat = joined_members(hub, 3)
    assert hub.move(ann, "games") is None
    assert hub.move(bob, "games") is None
    clear(ann, bob, cat)
    games = hub.room("games")
    assert games is not None
    hub.part(ann, games)
    assert bob.lines == ["*** guest1 has left"]
    assert ann.lines == []
    assert rooms_of(hub, ann) == []
    hub.part(ann, games)  # not in it any more: ignored
    assert bob.lines == ["*** guest1 has left"]
    hub.part(bob, games)
    assert hub.room("games") is None
    assert room_names(hub) == ["lobby"]
    assert ann in hub  # still connected, in no room
    hub.say(ann, ["into the void"])
    assert cat.lines == []


def test_names_are_unique_across_rooms() -> None:
    """A name held in one room cannot be taken in another; /msg finds it there."""
    hub = Hub()
    ann, bob = joined_members(hub, 2)
    assert hub.move(bob, "games") is None
    assert hub.rename(ann, "alice") is None
    assert hub.rename(bob, "ALICE") == "The name ALICE is taken."
    assert hub.rename(bob, "aIice") == "aIice looks too much like alice, who is here."
    assert hub.find("Alice") is ann
    clear(ann, bob)
    run(hub, bob, "/nick alice")
    assert bob.lines == ["! The name alice is taken."]


def test_whispers_reach_another_room_and_no_one_else() -> None:
    """A /msg reaches its one recipient in whatever room it is."""
    hub = Hub()
    ann, bob, cat, dan = joined_members(hub, 4)
    assert hub.move(cat, "games") is None
    assert hub.move(dan, "games") is None
    clear(ann, bob, cat, dan)
    run(hub, ann, "/msg guest3 over here")
    assert cat.lines == ["*guest1* over here"]
    assert ann.lines == ["-> *guest3* over here"]
    assert bob.lines == dan.lines == []


@pytest.mark.parametrize(
    ("given", "made"),
    [
        ("games", "games"),
        ("#games", "games"),
        ("Games.2-b_c", "Games.2-b_c"),
        ("a", "a"),
        pytest.param("x" * 32, "x" * 32, id="32-characters"),
    ],
)
def test_valid_room_names(given: str, made: str) -> None:
    """1 to 32 letters, digits, _ - . make a room; a "#" before them is ignored."""
    hub = Hub()
    (ann,) = joined_members(hub, 1)
    assert hub.move(ann, given) is None
    assert rooms_of(hub, ann) == [made]
    assert ann.lines == [f"*** You are in #{made}: 1 here"]


@pytest.mark.parametrize(
    "given",
    [
        "",
        "#",
        "##games",
        pytest.param("x" * 33, id="33-characters"),
        "two words",
        "caf\u00e9",
        "a/b",
        "a#b",
    ],
)
def test_invalid_room_names_are_refused(given: str) -> None:
    """An invalid room name is refused with the rule; the member stays put."""
    hub = Hub()
    ann, bob = joined_members(hub, 2)
    assert hub.move(ann, given) == f"Invalid room name {given!r}: use {ROOM_HELP}."
    assert hub.join(ann, given) == f"Invalid room name {given!r}: use {ROOM_HELP}."
    assert rooms_of(hub, ann) == ["lobby"]
    assert room_names(hub) == ["lobby"]
    assert ann.lines == bob.lines == []


def test_room_names_ignore_case() -> None:
    """
    "Games" and "GAMES" are one room, which keeps the spelling it was made
    with.
    """
    hub = Hub()
    ann, bob = joined_members(hub, 2)
    assert hub.move(ann, "Games") is None
    assert hub.move(bob, "gAMES") is None
    assert bob.lines == ["*** guest1 has left", "*** You are in #Games: 2 here"]
    assert room_names(hub) == ["Games", "lobby"]
    assert hub.room("GAMES") is hub.room_of(ann) is hub.room_of(bob)
    assert hub.move(bob, "#GaMeS") == "You are already in #Games."


def test_join_command() -> None:
    """/join needs exactly one room; joining your own room is refused."""
    hub = Hub()
    ann, bob = joined_members(hub, 2)
    run(hub, ann, "/join")
    run(hub, ann, "/join a b")
    run(hub, ann, "/join #Lobby")
    assert ann.take_lines() == [
        "! Usage: /join ROOM",
        "! Usage: /join ROOM",
        "! You are already in #lobby.",
    ]
    run(hub, ann, "/join #games")
    assert ann.lines == ["*** You are in #games: 1 here"]
    assert bob.lines == ["*** guest1 has left"]


def test_past_max_rooms_a_new_room_is_refused_and_the_member_stays() -> None:
    """
    With max_rooms rooms in existence, making another is refused with one
    line, and the member is still where it was; an existing room can
    still be joined.
    """
    hub = Hub(max_rooms=2)
    ann, bob, cat = joined_members(hub, 3)
    assert hub.move(cat, "one") is None
    clear(ann, bob, cat)
    refusal = "No room #two, and no more can be made (at most 2); join one of /rooms."
    assert hub.move(ann, "two") == refusal
    run(hub, ann, "/join two")
    assert ann.take_lines() == [f"! {refusal}"]
    assert rooms_of(hub, ann) == ["lobby"]
    assert hub.room("two") is None
    assert bob.lines == cat.lines == []
    assert hub.move(ann, "one") is None
    assert rooms_of(hub, ann) == ["one"]


def test_an_empty_room_with_a_topic_stays_and_goes_once_cleared() -> None:
    """
    A room whose topic is set outlives its members; cleared and emptied, it
    goes.
    """
    hub = Hub()
    ann, bob = joined_members(hub, 2)
    assert hub.move(ann, "games") is None
    run(hub, ann, "/topic chess at 8")
    assert hub.move(ann, "lobby") is None
    games = hub.room("games")
    assert games is not None
    assert (len(games), games.topic, games.topic_by) == (0, "chess at 8", "guest1")
    clear(ann, bob)
    run(hub, bob, "/rooms")
    assert bob.take_lines() == [
        "*** Rooms (2):",
        "***   #games: 0 here; topic: chess at 8",
        "***   #lobby: 2 here",
    ]
    assert hub.move(bob, "games") is None
    assert bob.take_lines() == [
        "*** You are in #games: 1 here",
        "*** Topic of #games: chess at 8",
    ]
    run(hub, bob, "/topic -")
    assert hub.room("games") is games
    assert hub.move(bob, "lobby") is None
    assert hub.room("games") is None


def test_configured_rooms_exist_empty_and_the_default_room_can_change() -> None:
    """
    configure() makes the named rooms, which outlive their members; new
    members go to the new default room; a room no longer named goes once
    empty, not before.
    """
    hub = Hub()
    ann, bob = joined_members(hub, 2)
    hub.configure("hall", rooms=["games", "news"])
    assert room_names(hub) == ["games", "hall", "lobby", "news"]
    assert hub.default_room is hub.room("hall")
    newcomer = FakeMember()
    hub.connect(newcomer)
    assert newcomer.lines[1:] == ["*** You are in #hall: 1 here"]
    assert ann.lines == bob.lines == []  # they are still in #lobby
    assert hub.move(ann, "games") is None
    assert hub.move(ann, "news") is None
    assert hub.room("games") is not None  # configured: kept while empty
    assert hub.move(bob, "hall") is None
    assert hub.room("lobby") is None  # no longer named, and now empty
    hub.configure("hall", rooms=["games"])
    assert room_names(hub) == ["games", "hall", "news"]  # ann is in news
    assert hub.move(ann, "hall") is None
    assert room_names(hub) == ["games", "hall"]


def test_announcements_are_quiet_per_room() -> None:
    """
    The announce limit applies to each room by its own size: a big room is
    quiet while a small one still announces joins and leaves.
    """
    hub = Hub(announce_limit=2)
    ann, bob, cat, dan = joined_members(hub, 4)
    assert hub.move(ann, "small") is None
    assert bob.lines == cat.lines == dan.lines == []  # #lobby had 4: quiet
    assert hub.move(bob, "small") is None
    assert ann.take_lines() == [
        "*** You are in #small: 1 here",
        "*** guest2 has joined",
    ]
    assert cat.lines == dan.lines == []  # #lobby had 3: still quiet
    assert hub.move(cat, "small") is None
    assert cat.lines == [
        "*** You are in #small: 3 here",
        "*** Over 2 people here: joins and leaves are not announced.",
    ]
    assert ann.lines == []  # #small has 3 now: quiet
    assert dan.lines == ["*** guest3 has left"]  # #lobby had 2: announced


def test_the_room_list_shows_at_most_100_rooms_and_how_many_more() -> None:
    """/rooms lists the first 100 rooms by name, then "and N more"."""
    hub = Hub()
    (ann,) = joined_members(hub, 1)
    hub.configure("lobby", rooms=[f"r{n:03}" for n in range(104)])
    run(hub, ann, "/rooms")
    lines = ann.lines
    assert lines[:3] == [
        "*** Rooms (105):",
        "***   #lobby: 1 here",
        "***   #r000: 0 here",
    ]
    assert lines[100] == "***   #r098: 0 here"
    assert lines[101:] == ["***   and 5 more"]
    assert len(lines) == 102


def test_who_lists_your_own_room_or_the_one_named() -> None:
    """
    /who answers for your own room, /who ROOM for that room (said as your
    own when it is), and an unknown or invalid room is refused.
    """
    hub = Hub()
    ann, bob, cat = joined_members(hub, 3)
    assert hub.move(cat, "games") is None
    assert hub.rename(bob, "Bob") is None
    clear(ann, bob, cat)
    run(hub, ann, "/who")
    run(hub, ann, "/who #games")
    run(hub, ann, "/who LOBBY")
    run(hub, ann, "/who nowhere")
    run(hub, ann, "/who two words")
    assert ann.lines == [
        "*** 2 here: Bob, guest1",
        "*** 1 in #games: guest3",
        "*** 2 here: Bob, guest1",
        "! No such room: nowhere",
        "! No such room: two words",
    ]
    assert bob.lines == cat.lines == []


def test_topic_set_show_and_clear() -> None:
    """
    /topic TEXT sets the topic (one line, spaces collapsed) and tells the
    room, the setter included; /topic shows it; /topic - clears it; the
    other rooms hear nothing.
    """
    hub = Hub()
    ann, bob, cat = joined_members(hub, 3)
    assert hub.move(cat, "games") is None
    clear(ann, bob, cat)
    run(hub, ann, "/topic")
    assert ann.take_lines() == ["*** #lobby has no topic."]
    run(hub, ann, "/topic  Friday  lunch ")
    assert (
        ann.take_lines()
        == bob.take_lines()
        == ["*** guest1 set the topic: Friday lunch"]
    )
    run(hub, bob, "/topic")
    assert bob.take_lines() == ["*** Topic of #lobby: Friday lunch"]
    run(hub, bob, "/topic -")
    assert ann.take_lines() == bob.take_lines() == ["*** guest2 cleared the topic"]
    run(hub, ann, "/topic")
    assert ann.take_lines() == ["*** #lobby has no topic."]
    assert cat.lines == []
    assert hub.default_room.topic == ""


def test_moving_from_two_rooms_ends_in_the_new_room_only() -> None:
    """A member in two rooms that moves leaves both and is in the new one."""
    hub = Hub()
    ann, bob = joined_members(hub, 2)
    assert hub.join(ann, "games") is None
    assert hub.move(ann, "news") is None
    assert bob.lines == ["*** guest1 has left"]
    assert rooms_of(hub, ann) == ["news"]
    assert room_names(hub) == ["lobby", "news"]
