"""
Rooms against the real daemon: C{twistd -n chat} as a child process, plain
sockets on 127.0.0.1. /join, /rooms, /who ROOM, /topic and /msg across
rooms, and the room settings (--max-rooms, --rooms, --default-room, the
rooms of a configuration file).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.support import (
    ChatDaemon,
    LineClient,
    assert_nothing_more,
    caught_up,
    exactly,
    person,
)
from twisted_chat import text
from twisted_chat.core.room import ROOM_HELP

StartDaemon = Callable[..., ChatDaemon]


def move(client: LineClient, room: str, count: int) -> None:
    """/join C{room}, and wait to be told it has C{count} people now."""
    client.send(f"/join {room}")
    client.expect(exactly(text.NOW_IN, room=room, count=count))


def room_list(client: LineClient) -> list[str]:
    """Ask for /rooms and return its answer: the head and one line a room."""
    client.send("/rooms")
    head = client.expect(r"^\*\*\* Rooms \((\d+)\):$")
    return [head.group(0), *client.read_lines(int(head.group(1)))]


def test_two_rooms_chat_without_crosstalk(daemon: ChatDaemon) -> None:
    """
    A line said in a room reaches the others in that room, once, and no
    one in another room: each listener's next line is always the one its
    room-mate said, though the other room spoke in between.
    """
    alice, bob = person(daemon, "alice"), person(daemon, "bob")
    carol, dave = person(daemon, "carol"), person(daemon, "dave")
    move(alice, "dev", 1)
    move(bob, "dev", 2)
    for client in (alice, bob, carol, dave):
        caught_up(client)
    # Turn about, dev then lobby: a stray line would come before the next
    # one each listener is waiting for, which was said after it.
    turns = [(alice, bob), (carol, dave), (bob, alice), (dave, carol)] * 2
    for number, (speaker, listener) in enumerate(turns):
        said = f"line {number} from {speaker.name}"
        speaker.send(said)
        assert listener.read_lines(1) == [
            text.MESSAGE.format(name=speaker.name, text=said)
        ]
    for client in (alice, bob, carol, dave):
        assert_nothing_more(client)


def test_join_is_announced_in_both_rooms_and_tells_the_mover(
    daemon: ChatDaemon,
) -> None:
    """
    /join: the room left sees LEFT, the room entered sees JOINED, and the
    mover is told where it is now and how many are there (itself counted);
    a room's name is the same room whatever its case and with a "#".
    """
    alice, bob, carol = (person(daemon, name) for name in ("alice", "bob", "carol"))
    move(alice, "dev", 1)
    for client in (alice, bob, carol):
        caught_up(client)
    bob.send("/join #DEV")
    assert bob.read_lines(1) == [text.NOW_IN.format(room="dev", count=2)]
    assert alice.read_lines(1) == [text.JOINED.format(name="bob")]
    assert carol.read_lines(1) == [text.LEFT.format(name="bob")]
    carol.send("/join Dev")
    assert carol.read_lines(1) == [text.NOW_IN.format(room="dev", count=3)]
    for client in (alice, bob):
        assert client.read_lines(1) == [text.JOINED.format(name="carol")]
    alice.send("/join lobby")
    assert alice.read_lines(1) == [text.NOW_IN.format(room="lobby", count=1)]
    for client in (bob, carol):
        assert client.read_lines(1) == [text.LEFT.format(name="alice")]
    for client in (alice, bob, carol):
        assert_nothing_more(client)


def test_join_refusals_are_one_line_and_leave_you_where_you_were(
    daemon: ChatDaemon,
) -> None:
    """
    /join of the room you are in, of an invalid name, or without a name,
    is refused with one "! " line; nobody is told anything, and the
    refused one still talks in its room.
    """
    alice, bob = person(daemon, "alice"), person(daemon, "bob")
    move(alice, "dev", 1)
    move(bob, "dev", 2)
    for client in (alice, bob):
        caught_up(client)
    refusals = {
        "/join dev": "You are already in #dev.",
        "/join #DEV": "You are already in #dev.",
        "/join bad!name": f"Invalid room name 'bad!name': use {ROOM_HELP}.",
        f"/join {'x' * 33}": f"Invalid room name {'x' * 33!r}: use {ROOM_HELP}.",
        "/join #": f"Invalid room name '#': use {ROOM_HELP}.",
        "/join": "Usage: /join ROOM",
        "/join two words": "Usage: /join ROOM",
    }
    for command, reason in refusals.items():
        alice.send(command)
        assert alice.read_lines(1) == [text.ERROR.format(text=reason)], command
    alice.send("still in dev")
    assert bob.read_lines(1) == [text.MESSAGE.format(name="alice", text="still in dev")]
    alice.send("/rooms")
    assert alice.read_lines(3) == [
        text.ROOMS.format(count=2),
        text.ROOM_ENTRY.format(room="dev", count=2),
        text.ROOM_ENTRY.format(room="lobby", count=0),
    ]


def test_max_rooms_refuses_a_new_room_and_the_user_stays(
    start_daemon: StartDaemon,
) -> None:
    """
    With --max-rooms 2 (the lobby and one more), a /join that would make a
    third room is refused with one line saying so; the user stays in its
    room (its next line reaches that room, not the refused one), while a
    /join of a room that exists still works.
    """
    chat = start_daemon("--max-rooms", "2")
    alice, bob, carol = (person(chat, name) for name in ("alice", "bob", "carol"))
    move(alice, "dev", 1)
    for client in (alice, bob, carol):
        caught_up(client)
    bob.send("/join ops")
    assert bob.read_lines(1) == [
        text.ERROR.format(
            text="No room #ops, and no more can be made (at most 2); "
            "join one of /rooms."
        )
    ]
    bob.send("bob is still in the lobby")
    assert carol.read_lines(1) == [
        text.MESSAGE.format(name="bob", text="bob is still in the lobby")
    ]
    assert_nothing_more(alice)
    assert room_list(bob) == [
        text.ROOMS.format(count=2),
        text.ROOM_ENTRY.format(room="dev", count=1),
        text.ROOM_ENTRY.format(room="lobby", count=2),
    ]
    bob.send("/join dev")
    assert bob.read_lines(1) == [text.NOW_IN.format(room="dev", count=2)]


def test_private_message_reaches_another_room_and_no_one_else(
    daemon: ChatDaemon,
) -> None:
    """
    /msg reaches its one recipient in whatever room, as "*alice* text";
    the sender is told "-> *bob* text"; no one else, in either room, sees it.
    """
    alice, dave = person(daemon, "alice"), person(daemon, "dave")
    bob, carol = person(daemon, "bob"), person(daemon, "carol")
    move(alice, "dev", 1)
    move(dave, "dev", 2)
    for client in (alice, bob, carol, dave):
        caught_up(client)
    alice.send("/msg bob psst, over here")
    assert bob.read_lines(1) == [
        text.PRIVATE.format(name="alice", text="psst, over here")
    ]
    assert alice.read_lines(1) == [
        text.PRIVATE_SENT.format(name="bob", text="psst, over here")
    ]
    bob.send("/msg ALICE heard you")
    assert alice.read_lines(1) == [text.PRIVATE.format(name="bob", text="heard you")]
    assert bob.read_lines(1) == [
        text.PRIVATE_SENT.format(name="alice", text="heard you")
    ]
    for client in (alice, bob, carol, dave):
        assert_nothing_more(client)


def test_rooms_lists_every_room_with_its_count_and_topic(daemon: ChatDaemon) -> None:
    """/rooms: a head with the number of rooms, then each by name, count, topic."""
    alice, bob, carol = (person(daemon, name) for name in ("alice", "bob", "carol"))
    move(alice, "dev", 1)
    move(bob, "dev", 2)
    alice.send("/topic the 0.2 release")
    alice.expect(exactly(text.TOPIC_SET, name="alice", text="the 0.2 release"))
    move(carol, "Art", 1)
    assert room_list(carol) == [
        text.ROOMS.format(count=3),
        text.ROOM_ENTRY.format(room="Art", count=1),
        text.ROOM_ENTRY_TOPIC.format(room="dev", count=2, text="the 0.2 release"),
        text.ROOM_ENTRY.format(room="lobby", count=0),
    ]


def test_who_room_names_who_is_in_another_room_or_your_own(
    daemon: ChatDaemon,
) -> None:
    """
    /who ROOM lists another room as "N in #room: names", your own as
    "N here: names" (sorted ignoring case), and refuses a room there is not.
    """
    alice, bob, carol = (person(daemon, name) for name in ("alice", "Bob", "carol"))
    move(carol, "dev", 1)
    move(bob, "dev", 2)
    caught_up(alice)
    alice.send("/who #dev")
    assert alice.read_lines(1) == [
        text.WHO_IN.format(count=2, room="dev", text="Bob, carol")
    ]
    alice.send("/who lobby")
    assert alice.read_lines(1) == [text.WHO.format(count=1, text="alice")]
    caught_up(carol)
    carol.send("/who")
    assert carol.read_lines(1) == [text.WHO.format(count=2, text="Bob, carol")]
    alice.send("/who nowhere")
    assert alice.read_lines(1) == [text.ERROR.format(text="No such room: nowhere")]


def test_topic_is_announced_shown_to_a_newcomer_and_cleared(
    daemon: ChatDaemon,
) -> None:
    """
    /topic TEXT is announced to everyone in the room, the setter too, and
    no one elsewhere; someone joining later is told it right after NOW_IN;
    /topic asks for it; /topic - clears it, announced.
    """
    alice, bob, carol = (person(daemon, name) for name in ("alice", "bob", "carol"))
    move(alice, "dev", 1)
    move(bob, "dev", 2)
    for client in (alice, bob, carol):
        caught_up(client)
    bob.send("/topic  release   day ")
    for client in (alice, bob):
        assert client.read_lines(1) == [
            text.TOPIC_SET.format(name="bob", text="release day")
        ]
    assert_nothing_more(carol)
    carol.send("/join dev")
    assert carol.read_lines(2) == [
        text.NOW_IN.format(room="dev", count=3),
        text.TOPIC_IS.format(room="dev", text="release day"),
    ]
    assert_nothing_more(carol)
    carol.send("/topic")
    assert carol.read_lines(1) == [text.TOPIC_IS.format(room="dev", text="release day")]
    caught_up(alice)
    caught_up(bob)
    alice.send("/topic -")
    for client in (alice, bob, carol):
        assert client.read_lines(1) == [text.TOPIC_CLEARED.format(name="alice")]
    carol.send("/topic")
    assert carol.read_lines(1) == [text.NOTICE.format(text="#dev has no topic.")]


def test_an_empty_room_goes_unless_it_has_a_topic(daemon: ChatDaemon) -> None:
    """
    A room nobody is in and with no topic is gone from /rooms; one with a
    topic stays, with 0 here, until its topic is cleared and it is empty.
    """
    alice = person(daemon, "alice")
    move(alice, "scratch", 1)
    move(alice, "kept", 1)
    alice.send("/topic still here")
    alice.expect(exactly(text.TOPIC_SET, name="alice", text="still here"))
    move(alice, "lobby", 1)
    assert room_list(alice) == [
        text.ROOMS.format(count=2),
        text.ROOM_ENTRY_TOPIC.format(room="kept", count=0, text="still here"),
        text.ROOM_ENTRY.format(room="lobby", count=1),
    ]
    move(alice, "kept", 1)
    alice.expect(exactly(text.TOPIC_IS, room="kept", text="still here"))
    alice.send("/topic -")
    alice.expect(exactly(text.TOPIC_CLEARED, name="alice"))
    move(alice, "lobby", 1)
    assert room_list(alice) == [
        text.ROOMS.format(count=1),
        text.ROOM_ENTRY.format(room="lobby", count=1),
    ]


def test_rooms_option_rooms_exist_from_the_start_and_stay_when_empty(
    start_daemon: StartDaemon,
) -> None:
    """
    --rooms a,b: those rooms are listed before anyone has been in them, and
    still after the last one in them has left.
    """
    chat = start_daemon("--rooms", "ops,help")
    alice = person(chat, "alice")
    assert room_list(alice) == [
        text.ROOMS.format(count=3),
        text.ROOM_ENTRY.format(room="help", count=0),
        text.ROOM_ENTRY.format(room="lobby", count=1),
        text.ROOM_ENTRY.format(room="ops", count=0),
    ]
    move(alice, "ops", 1)
    move(alice, "lobby", 1)
    assert room_list(alice) == [
        text.ROOMS.format(count=3),
        text.ROOM_ENTRY.format(room="help", count=0),
        text.ROOM_ENTRY.format(room="lobby", count=1),
        text.ROOM_ENTRY.format(room="ops", count=0),
    ]


def test_rooms_of_the_configuration_file_exist_from_the_start(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """
    rooms = ["dev", "ops"] in the TOML --config file: both rooms exist at
    start-up, can be joined, and stay once empty.
    """
    config = tmp_path / "chat.toml"
    config.write_text('rooms = ["dev", "ops"]\n')
    chat = start_daemon("--config", str(config))
    alice = person(chat, "alice")
    expected = [
        text.ROOMS.format(count=3),
        text.ROOM_ENTRY.format(room="dev", count=0),
        text.ROOM_ENTRY.format(room="lobby", count=1),
        text.ROOM_ENTRY.format(room="ops", count=0),
    ]
    assert room_list(alice) == expected
    move(alice, "dev", 1)
    move(alice, "lobby", 1)
    assert room_list(alice) == expected


def test_default_room_is_where_everyone_starts(start_daemon: StartDaemon) -> None:
    """
    --default-room hall: the greeting puts everyone in #hall, and there is
    no lobby; #hall stays when empty.
    """
    chat = start_daemon("--default-room", "hall")
    first = LineClient(chat.port)
    assert first.read_lines(2) == [
        text.WELCOME.format(server="testhost", name="guest1", count=1),
        text.NOW_IN.format(room="hall", count=1),
    ]
    first.nick("alice")
    move(first, "dev", 1)
    second = LineClient(chat.port)
    assert second.read_lines(2) == [
        text.WELCOME.format(server="testhost", name="guest2", count=2),
        text.NOW_IN.format(room="hall", count=1),
    ]
    assert room_list(second) == [
        text.ROOMS.format(count=2),
        text.ROOM_ENTRY.format(room="dev", count=1),
        text.ROOM_ENTRY.format(room="hall", count=1),
    ]
