"""Slash commands in memory."""

from __future__ import annotations

from twisted_chat.commands import COMMANDS, run_command, split_command
from twisted_chat.room import Room
from twisted_chat.testing import joined_members


def test_split_command() -> None:
    assert split_command("/nick   alice ") == ("nick", "alice")
    assert split_command("/WHO") == ("who", "")
    assert split_command("hello") is None
    assert split_command("//not a command") is None


def run(room: Room, member: object, line: str) -> None:
    command = split_command(line)
    assert command is not None
    run_command(member, room, *command)  # type: ignore[arg-type]


def test_help_lists_every_command() -> None:
    room = Room()
    (alice,) = joined_members(room, 1)
    run(room, alice, "/help")
    listing = "\n".join(alice.lines)
    for command in COMMANDS.values():
        assert command.usage in listing


def test_msg_to_one_member_only() -> None:
    room = Room()
    alice, bob, carol = joined_members(room, 3)
    run(room, alice, "/msg guest2 psst, hi")
    assert bob.lines == ["*guest1* psst, hi"]
    assert alice.lines == ["-> *guest2* psst, hi"]
    assert carol.lines == []
    run(room, alice, "/msg nobody x")
    run(room, alice, "/msg guest2")
    assert alice.lines[-2:] == ["! No such name: nobody", "! Usage: /msg NAME TEXT"]


def test_me_and_quit() -> None:
    room = Room()
    alice, bob = joined_members(room, 2)
    run(room, alice, "/me waves")
    assert bob.lines == ["* guest1 waves"]
    run(room, alice, "/me")
    assert alice.lines == ["! Usage: /me ACTION"]
    run(room, alice, "/quit")
    assert alice.lines[-1] == "* Goodbye, guest1."
    assert alice.closed


def test_unknown_command_answers_only_the_sender() -> None:
    room = Room()
    alice, bob = joined_members(room, 2)
    run(room, alice, "/bogus")
    assert alice.lines == ["! Unknown command /bogus; type /help"]
    assert bob.lines == []
