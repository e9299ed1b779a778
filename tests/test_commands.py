"""Slash commands in memory."""

from __future__ import annotations

from dataclasses import dataclass

from twisted_chat import text
from twisted_chat.core.commands import COMMANDS, run_command, split_command
from twisted_chat.core.hub import Hub
from twisted_chat.testing import FakeMember, joined_members


def test_split_command() -> None:
    assert split_command("/nick   alice ") == ("nick", "alice")
    assert split_command("/WHO") == ("who", "")
    assert split_command("hello") is None
    assert split_command("//not a command") is None


def run(room: Hub, member: object, line: str) -> None:
    command = split_command(line)
    assert command is not None
    run_command(member, room, *command)  # type: ignore[arg-type]


def test_help_lists_every_command() -> None:
    room = Hub()
    (alice,) = joined_members(room, 1)
    run(room, alice, "/help")
    listing = "\n".join(alice.lines)
    for command in COMMANDS.values():
        assert command.usage in listing


def test_msg_to_one_member_only() -> None:
    room = Hub()
    alice, bob, carol = joined_members(room, 3)
    run(room, alice, "/msg guest2 psst, hi")
    assert bob.lines == ["*guest1* psst, hi"]
    assert alice.lines == ["-> *guest2* psst, hi"]
    assert carol.lines == []
    run(room, alice, "/msg nobody x")
    run(room, alice, "/msg guest2")
    assert alice.lines[-2:] == ["! No such name: nobody", "! Usage: /msg NAME TEXT"]


def test_me_and_quit() -> None:
    room = Hub()
    alice, bob = joined_members(room, 2)
    run(room, alice, "/me waves")
    assert bob.lines == ["* guest1 waves"]  # an action, not a notice
    run(room, alice, "/me")
    assert alice.lines == ["! Usage: /me ACTION"]
    run(room, alice, "/quit")
    assert alice.lines[-1] == "*** Goodbye, guest1."
    assert alice.closed


def test_unknown_command_answers_only_the_sender() -> None:
    room = Hub()
    alice, bob = joined_members(room, 2)
    run(room, alice, "/bogus")
    assert alice.lines == ["! Unknown command /bogus; type /help"]
    assert bob.lines == []


def test_help_lines_are_notices() -> None:
    room = Hub()
    (alice,) = joined_members(room, 1)
    run(room, alice, "/help")
    assert alice.lines[:2] == [
        "*** Commands:",
        "***   /help              this list",
    ]
    assert all(text.NOTICE.parse(line) is not None for line in alice.lines)
    assert any("/limits" in line for line in alice.lines)
    assert any("/register PASSWORD" in line for line in alice.lines)


def test_help_register_warns_that_telnet_sends_the_password_in_clear() -> None:
    """/help register says a password over telnet is clear text, and where to go."""
    room = Hub()
    (alice,) = joined_members(room, 1)
    run(room, alice, "/help register")
    assert alice.lines[0] == "*** /register PASSWORD: make your name yours"
    assert any("clear text" in line for line in alice.lines)
    assert any("ssl:" in line for line in alice.lines)
    assert all(text.NOTICE.parse(line) is not None for line in alice.lines)


@dataclass(frozen=True)
class SomeLimits:
    rate: float
    burst: int
    max_line_length: int


class LimitedMember(FakeMember):
    """A fake member held to limits, as LineProtocol.limits is."""

    def __init__(self, limits: SomeLimits) -> None:
        super().__init__()
        self.limits = limits


def test_limits_answers_with_the_members_limits() -> None:
    room = Hub()
    alice = LimitedMember(SomeLimits(rate=0.5, burst=20, max_line_length=2048))
    bob = LimitedMember(SomeLimits(rate=5.0, burst=1, max_line_length=0))
    room.connect(alice)
    room.connect(bob)
    alice.take_lines()
    bob.take_lines()
    run(room, alice, "/limits")
    run(room, bob, "/LIMITS")
    assert alice.lines == [
        "*** Limits: 0.5 lines a second, bursts of 20, 2048 bytes a line"
    ]
    assert bob.lines == ["*** Limits: 5 lines a second, bursts of 1, 0 bytes a line"]
    assert text.LIMITS.parse(alice.lines[0]) == {
        "rate": "0.5",
        "burst": "20",
        "length": "2048",
    }


def test_limits_without_limits_says_so() -> None:
    room = Hub()
    (alice,) = joined_members(room, 1)
    run(room, alice, "/limits")
    assert alice.lines == ["! No limits are known here."]
