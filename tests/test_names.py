"""Names: which are allowed, and which count as the same name."""

from __future__ import annotations

import pytest

from tests.support import ChatDaemon
from twisted_chat.core.commands import run_command, split_command
from twisted_chat.core.hub import Hub
from twisted_chat.names import is_reserved, name_key
from twisted_chat.testing import FakeMember, joined_members


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("alice", "ALICE"),
        ("alice", "aIice"),
        ("alice", "al1ce"),
        ("alice", "a|ice"),
        ("alice", "AL1CE"),
        ("bob", "B0B"),
        ("r00t", "root"),
        ("guest1", "guestl"),
        ("guest1", "guestI"),
    ],
)
def test_look_alikes_have_one_key(one: str, other: str) -> None:
    assert name_key(one) == name_key(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [("alice", "alicia"), ("bob", "bop"), ("guest1", "guest2"), ("a.b", "a-b")],
)
def test_different_names_have_different_keys(one: str, other: str) -> None:
    assert name_key(one) != name_key(other)


def test_compatibility_forms_fold_too() -> None:
    """Names are ASCII today; if that changes, fullwidth forms still fold."""
    assert name_key("\uff41\uff4c\uff49\uff43\uff45") == name_key("alice")


def test_reserved_names() -> None:
    for name in ("server", "SERVER", "SeRvEr", "you", "You", "Y0U"):
        assert is_reserved(name), name
    assert not is_reserved("servers")
    assert not is_reserved("yours")


def test_a_look_alike_of_someone_here_is_refused() -> None:
    room = Hub()
    alice, bob = joined_members(room, 2)
    assert room.rename(alice, "alice") is None
    for look_alike in ("aIice", "al1ce", "AL1CE", "a|ice"):
        expected = (
            f"Invalid name {look_alike!r}: use 1 to 24 letters, digits, "
            "'_', '-' or '.'."
            if "|" in look_alike
            else f"{look_alike} looks too much like alice, who is here."
        )
        assert room.rename(bob, look_alike) == expected
    assert room.rename(bob, "Alice") == "The name Alice is taken."
    assert bob.name == "guest2"
    assert bob.take_lines() == ["*** guest1 is now known as alice"]


def test_renaming_to_a_look_alike_of_ones_own_name_is_allowed() -> None:
    room = Hub()
    alice, bob = joined_members(room, 2)
    assert room.rename(alice, "alice") is None
    assert room.rename(alice, "Al1ce") is None
    assert room.names == ["Al1ce", "guest2"]
    assert bob.lines[-1] == "*** alice is now known as Al1ce"
    assert room.rename(alice, "Al1ce") == "You are already known as Al1ce."


def test_reserved_names_are_refused() -> None:
    room = Hub()
    (alice,) = joined_members(room, 1)
    for name in ("server", "Server", "you", "You", "Y0u"):
        assert room.rename(alice, name) == f"The name {name} is reserved."
    assert alice.name == "guest1"


def test_msg_finds_a_name_by_its_look_alike() -> None:
    """One key for every lookup: /msg al1ce reaches alice, whoever types it."""
    room = Hub()
    alice, bob = joined_members(room, 2)
    assert room.rename(alice, "alice") is None
    alice.take_lines()
    bob.take_lines()
    command = split_command("/msg AL1CE hi")
    assert command is not None
    run_command(bob, room, *command)
    assert alice.lines == ["*guest2* hi"]
    assert bob.lines == ["-> *alice* hi"]


def test_guest_numbers_skip_a_look_alike_of_the_next_guest_name() -> None:
    room = Hub()
    (first,) = joined_members(room, 1)
    assert room.rename(first, "guestI") is None  # looks like guest1
    second, third = FakeMember(), FakeMember()
    room.connect(second)
    assert second.name == "guest2"
    assert room.rename(second, "guest3") is None
    room.connect(third)
    # guest1 and guest3 look taken, guest2 was given: the next free is guest4.
    assert third.name == "guest4"
    assert room.find("GUEST1") is first


def test_a_look_alike_is_refused_by_the_daemon(daemon: ChatDaemon) -> None:
    alice, bob = daemon.connect(), daemon.connect()
    alice.nick("alice")
    for look_alike in ("aIice", "al1ce"):
        bob.send(f"/nick {look_alike}")
        bob.expect(rf"^! {look_alike} looks too much like alice, who is here\.$")
    bob.send("/nick server")
    bob.expect(r"^! The name server is reserved\.$")
    bob.send("/nick You")
    bob.expect(r"^! The name You is reserved\.$")
    alice.nick("Al1ce")
    bob.expect(r"^\*\*\* alice is now known as Al1ce$")
    bob.send("/who")
    bob.expect(r"^\*\*\* 2 here: Al1ce, guest\d+$")
