"""
In-memory stand-ins for testing code built on L{twisted_chat.room}.

L{FakeMember} joins a real L{Room} without any transport and records what
the room sends it, decoded into lines, so tests (ours, or those of anyone
embedding the room) can assert on the conversation in microseconds.
"""

from __future__ import annotations

from twisted_chat.room import Room


class FakeMember:
    """A room member that keeps every line sent to it."""

    def __init__(self) -> None:
        self.name = ""
        self.received = bytearray()
        self.closed = False

    def send(self, data: bytes) -> None:
        self.received += data

    def close(self) -> None:
        self.closed = True

    @property
    def lines(self) -> list[str]:
        """Everything received, split into lines without their CRLF."""
        return self.received.decode("utf-8").split("\r\n")[:-1]

    def take_lines(self) -> list[str]:
        """L{lines}, then forget them, so the next call shows only what is new."""
        lines = self.lines
        self.received.clear()
        return lines


def joined_members(room: Room, count: int) -> list[FakeMember]:
    """C{count} fake members joined to C{room}, their greetings cleared."""
    members = [FakeMember() for _ in range(count)]
    for member in members:
        room.join(member)
    for member in members:
        member.received.clear()
    return members
