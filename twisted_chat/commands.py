"""
Slash commands: each a small function over (member, room, arguments).

L{split_command} decides whether a line is a command at all; L{run_command}
runs one. Every reply goes to the member who typed the command, as one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from twisted_chat import text
from twisted_chat.room import Member, Room

CommandFunction = Callable[[Member, Room, str], None]


class LineLimits(Protocol):
    """What C{/limits} reports (L{text.LIMITS}); 0 means no limit."""

    @property
    def rate(self) -> float: ...

    @property
    def burst(self) -> int: ...

    @property
    def max_line_length(self) -> int: ...


@runtime_checkable
class Limited(Protocol):
    """A member that knows the limits it is held to."""

    @property
    def limits(self) -> LineLimits: ...


@dataclass(frozen=True)
class Command:
    """A slash command: what it does, and how /help describes it."""

    run: CommandFunction
    usage: str
    summary: str


def split_command(line: str) -> tuple[str, str] | None:
    """
    Split C{"/nick  alice"} into C{("nick", "alice")}.

    @return: L{None} when C{line} is not a command: it does not start with
        C{/}, or it starts with C{//} (text that begins with a slash).
    """
    if not line.startswith("/") or line.startswith("//"):
        return None
    word, _, arguments = line[1:].partition(" ")
    return word.lower(), arguments.strip()


def may_hold_commands(block: bytes) -> bool:
    """
    Whether some line of C{block} (lines separated by LF) starts with C{/}:
    a command, or text that L{unescape_text} must change.
    """
    return block.startswith(b"/") or b"\n/" in block


def unescape_text(line: str) -> str:
    """The text a non-command line stands for: C{//x} means C{/x}."""
    return line[1:] if line.startswith("//") else line


def _reply(member: Member, line: text.LineFormat, **fields: object) -> None:
    member.send(line.encode(**fields))


def _help(member: Member, room: Room, arguments: str) -> None:
    lines = [text.NOTICE.format(text="Commands:")]
    for command in COMMANDS.values():
        lines.append(
            text.NOTICE.format(text=f"  {command.usage:<18} {command.summary}")
        )
    lines.append(
        text.NOTICE.format(text="  //text             send a line that starts with /")
    )
    member.send(b"".join(text.encode_line(line) for line in lines))


def _nick(member: Member, room: Room, arguments: str) -> None:
    if not arguments:
        _reply(member, text.ERROR, text="Usage: /nick NAME")
        return
    refusal = room.rename(member, arguments)
    if refusal is not None:
        _reply(member, text.ERROR, text=refusal)


def _who(member: Member, room: Room, arguments: str) -> None:
    member.send(room.describe_members())


def _me(member: Member, room: Room, arguments: str) -> None:
    if not arguments:
        _reply(member, text.ERROR, text="Usage: /me ACTION")
        return
    room.act(member, arguments)


def _msg(member: Member, room: Room, arguments: str) -> None:
    name, _, message = arguments.partition(" ")
    message = message.strip()
    if not name or not message:
        _reply(member, text.ERROR, text="Usage: /msg NAME TEXT")
        return
    target = room.whisper(member, name, message)
    if target is None:
        _reply(member, text.ERROR, text=f"No such name: {name}")
    else:
        _reply(member, text.PRIVATE_SENT, name=target.name, text=message)


def _limits(member: Member, room: Room, arguments: str) -> None:
    if not isinstance(member, Limited):
        _reply(member, text.ERROR, text="No limits are known here.")
        return
    limits = member.limits
    _reply(
        member,
        text.LIMITS,
        rate=text.plain_number(limits.rate),
        burst=limits.burst,
        length=limits.max_line_length,
    )


def _quit(member: Member, room: Room, arguments: str) -> None:
    _reply(member, text.GOODBYE, name=member.name)
    member.close()


COMMANDS: dict[str, Command] = {
    "help": Command(_help, "/help", "this list"),
    "nick": Command(_nick, "/nick NAME", "change your name"),
    "who": Command(_who, "/who", "who is here"),
    "me": Command(_me, "/me ACTION", "describe an action: * you ACTION"),
    "msg": Command(_msg, "/msg NAME TEXT", "a private message to NAME only"),
    "limits": Command(_limits, "/limits", "how fast and how long lines may be"),
    "quit": Command(_quit, "/quit", "leave"),
}


def run_command(member: Member, room: Room, word: str, arguments: str) -> None:
    """Run the command C{word}; an unknown one gets a one-line error."""
    command = COMMANDS.get(word)
    if command is None:
        _reply(member, text.UNKNOWN_COMMAND, word=word)
        return
    command.run(member, room, arguments)
