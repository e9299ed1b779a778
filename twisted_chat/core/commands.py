"""
Slash commands: parsed apart from dispatch, each a small function over
(member, hub, arguments) that answers with events.

L{split_command} (in L{twisted_chat.syntax}, shared with the client)
decides whether a line is a command at all; L{run_command} runs one.
Every answer goes, through the hub, to the member who typed it, in order
with everything else that member is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from twisted_chat.core import events
from twisted_chat.core.hub import Hub
from twisted_chat.core.room import Member, Room, room_name
from twisted_chat.syntax import may_hold_commands, split_command, unescape_text

CommandFunction = Callable[[Member, Hub, str], None]


class LineLimits(Protocol):
    """What C{/limits} reports; 0 means no limit."""

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


def _refuse(member: Member, hub: Hub, reason: str) -> None:
    hub.tell(member, events.Refused(reason))


def _help(member: Member, hub: Hub, arguments: str) -> None:
    hub.tell(member, events.Notice("Commands:"))
    for command in COMMANDS.values():
        hub.tell(member, events.Notice(f"  {command.usage:<18} {command.summary}"))
    hub.tell(
        member, events.Notice("  //text             send a line that starts with /")
    )


def _nick(member: Member, hub: Hub, arguments: str) -> None:
    if not arguments:
        _refuse(member, hub, "Usage: /nick NAME")
        return
    refusal = hub.rename(member, arguments)
    if refusal is not None:
        _refuse(member, hub, refusal)


def _who(member: Member, hub: Hub, arguments: str) -> None:
    own = hub.room_of(member)
    if not arguments:
        if own is not None:
            hub.tell(member, hub.who(own))
        return
    room = _existing_room(member, hub, arguments)
    if room is not None:
        hub.tell(member, hub.who(room, own=room is own))


def _existing_room(member: Member, hub: Hub, given: str) -> Room | None:
    """The room C{given} names, or None after telling C{member} why not."""
    name = room_name(given)
    room = hub.room(name) if name is not None else None
    if room is None:
        _refuse(member, hub, f"No such room: {given}")
    return room


def _join(member: Member, hub: Hub, arguments: str) -> None:
    if not arguments or " " in arguments:
        _refuse(member, hub, "Usage: /join ROOM")
        return
    refusal = hub.move(member, arguments)
    if refusal is not None:
        _refuse(member, hub, refusal)


def _rooms(member: Member, hub: Hub, arguments: str) -> None:
    hub.tell(member, hub.room_list())


def _topic(member: Member, hub: Hub, arguments: str) -> None:
    room = hub.room_of(member)
    if room is None:
        return
    if not arguments:
        if room.topic:
            hub.tell(member, events.TopicIs(room.name, room.topic))
        else:
            hub.tell(member, events.Notice(f"#{room.name} has no topic."))
        return
    # "/topic -" clears it: an empty argument is the question, not the answer.
    hub.set_topic(member, "" if arguments == "-" else arguments)


def _history(member: Member, hub: Hub, arguments: str) -> None:
    room = hub.room_of(member)
    if room is None:
        return
    if arguments and not (arguments.isdigit() and arguments.isascii()):
        _refuse(member, hub, "Usage: /history [N]")
        return
    hub.tell(member, hub.backlog(room, int(arguments) if arguments else None))


def _me(member: Member, hub: Hub, arguments: str) -> None:
    if not arguments:
        _refuse(member, hub, "Usage: /me ACTION")
        return
    hub.act(member, arguments)


def _msg(member: Member, hub: Hub, arguments: str) -> None:
    name, _, message = arguments.partition(" ")
    message = message.strip()
    if not name or not message:
        _refuse(member, hub, "Usage: /msg NAME TEXT")
        return
    if hub.whisper(member, name, message) is None:
        _refuse(member, hub, f"No such name: {name}")


def _limits(member: Member, hub: Hub, arguments: str) -> None:
    if not isinstance(member, Limited):
        _refuse(member, hub, "No limits are known here.")
        return
    limits = member.limits
    hub.tell(member, events.Limits(limits.rate, limits.burst, limits.max_line_length))


def _quit(member: Member, hub: Hub, arguments: str) -> None:
    hub.tell(member, events.Goodbye(member.name))
    member.close()


COMMANDS: dict[str, Command] = {
    "help": Command(_help, "/help", "this list"),
    "nick": Command(_nick, "/nick NAME", "change your name"),
    "who": Command(_who, "/who [ROOM]", "who is here (or in ROOM)"),
    "join": Command(_join, "/join ROOM", "go to ROOM (made if there is none)"),
    "rooms": Command(_rooms, "/rooms", "every room, with counts and topics"),
    "topic": Command(_topic, "/topic [TEXT]", "show or set the topic (- clears)"),
    "history": Command(_history, "/history [N]", "the last N lines said here"),
    "me": Command(_me, "/me ACTION", "describe an action: * you ACTION"),
    "msg": Command(_msg, "/msg NAME TEXT", "a private message to NAME only"),
    "limits": Command(_limits, "/limits", "how fast and how long lines may be"),
    "quit": Command(_quit, "/quit", "leave"),
}


def run_command(member: Member, hub: Hub, word: str, arguments: str) -> None:
    """Run the command C{word}; an unknown one gets a one-line refusal."""
    command = COMMANDS.get(word)
    if command is None:
        hub.tell(member, events.UnknownCommand(word))
        return
    command.run(member, hub, arguments)


__all__ = [
    "COMMANDS",
    "Command",
    "may_hold_commands",
    "run_command",
    "split_command",
    "unescape_text",
]
