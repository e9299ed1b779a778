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

from twisted_chat.core import events, moderation_commands
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
    #: What /help COMMAND adds to the usage and summary.
    details: str = ""


def _refuse(member: Member, hub: Hub, reason: str) -> None:
    hub.tell(member, events.Refused(reason))


def _help(member: Member, hub: Hub, arguments: str) -> None:
    if arguments:
        command = _EVERY_COMMAND.get(arguments.removeprefix("/").lower())
        if command is None:
            hub.tell(member, events.UnknownCommand(arguments.removeprefix("/")))
            return
        hub.tell(member, events.Notice(f"{command.usage}: {command.summary}"))
        for line in command.details.splitlines():
            hub.tell(member, events.Notice(f"  {line}"))
        return
    hub.tell(member, events.Notice("Commands:"))
    for command in COMMANDS.values():
        hub.tell(member, events.Notice(f"  {command.usage:<18} {command.summary}"))
    escape = "//text"
    hub.tell(member, events.Notice(f"  {escape:<18} send a line that starts with /"))
    if hub.accounts.enabled:
        hub.tell(member, events.Notice("Accounts (/help register first):"))
        for command in ACCOUNT_COMMANDS.values():
            hub.tell(member, events.Notice(f"  {command.usage:<18} {command.summary}"))
    hub.tell(member, events.Notice("Operators (@ in /who):"))
    for command in OPERATOR_COMMANDS.values():
        hub.tell(member, events.Notice(f"  {command.usage:<18} {command.summary}"))
    hub.tell(member, events.Notice("/help COMMAND tells more about one."))


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
    if arguments in ("--lock", "--unlock"):
        if not hub.moderation.is_room_operator(member.account, room.key):
            _refuse(member, hub, "Only an operator of this room can do that.")
            return
        room.topic_locked = arguments == "--lock"
        state = "locked" if room.topic_locked else "unlocked"
        notice = f"{member.name} {state} the topic"
        hub.turn.to_room(room, events.Notice(notice))
        if hub.peers is not None:
            hub.peers.topic_lock_set(room)
            hub.peers.announced(room, notice)
        moderation_commands.audit(member, state, "the topic", room.key)
        return
    if arguments and hub.muted(member, room):
        return
    locked = room.topic_locked and not hub.moderation.is_room_operator(
        member.account, room.key
    )
    if arguments and locked:
        _refuse(member, hub, f"The topic of #{room.name} is locked.")
        return
    if not arguments:
        if room.topic:
            hub.tell(member, events.TopicIs(room.name, room.topic))
        else:
            hub.tell(member, events.Notice(f"#{room.name} has no topic."))
        return
    # "/topic -" clears it: an empty argument is the question, not the answer.
    if arguments == "-" and not room.topic:
        hub.tell(member, events.Notice(f"#{room.name} has no topic."))
        return
    hub.set_topic(member, "" if arguments == "-" else arguments)


def _history(member: Member, hub: Hub, arguments: str) -> None:
    room = hub.room_of(member)
    if room is None:
        return
    if arguments and not (
        arguments.isdigit() and arguments.isascii() and int(arguments) > 0
    ):
        _refuse(member, hub, "Usage: /history [N], N from 1 up")
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

PLAIN_WARNING = (
    "Over telnet or nc a password crosses the network in clear text: where\n"
    "the server has an ssl: port, connect there (the terminal client's --tls)."
)


def _register(member: Member, hub: Hub, arguments: str) -> None:
    if not arguments:
        _refuse(member, hub, "Usage: /register PASSWORD")
        return
    hub.accounts.register(member, arguments)


def _login(member: Member, hub: Hub, arguments: str) -> None:
    name, _, password = arguments.partition(" ")
    if not name or not password.strip():
        _refuse(member, hub, "Usage: /login NAME PASSWORD")
        return
    hub.accounts.login(member, name, password.strip())


def _logout(member: Member, hub: Hub, arguments: str) -> None:
    hub.accounts.logout(member)


#: The most ways /password OLD NEW is tried, split at each of its spaces.
MOST_PASSWORD_SPLITS = 8


def _password(member: Member, hub: Hub, arguments: str) -> None:
    # Passwords may hold spaces: each split of OLD from NEW is tried (in
    # the hashing threads), the first whose OLD is right wins.
    spaces = [i for i, character in enumerate(arguments) if character == " "]
    candidates = [
        (arguments[:i], arguments[i + 1 :].strip())
        for i in spaces[:MOST_PASSWORD_SPLITS]
        if arguments[:i] and arguments[i + 1 :].strip()
    ]
    if not candidates:
        _refuse(member, hub, "Usage: /password OLD NEW")
        return
    hub.accounts.change_password_from(member, candidates)


ACCOUNT_COMMANDS: dict[str, Command] = {
    "register": Command(
        _register,
        "/register PASSWORD",
        "make your name yours",
        "No one else can then take your name; /login NAME PASSWORD takes it\n"
        "back from any connection. At least 8 characters.\n" + PLAIN_WARNING,
    ),
    "login": Command(
        _login,
        "/login NAME PASSWORD",
        "take your registered name",
        "Whoever has the name now is renamed to a guest. Five failures a\n"
        "minute, from one address or for one name, and logins wait.\n" + PLAIN_WARNING,
    ),
    "logout": Command(_logout, "/logout", "be a guest again"),
    "password": Command(
        _password, "/password OLD NEW", "change your password", PLAIN_WARNING
    ),
}

OPERATOR_COMMANDS: dict[str, Command] = {
    "op": Command(moderation_commands.op, "/op NAME", "make NAME an operator here"),
    "deop": Command(moderation_commands.deop, "/deop NAME", "NAME is one no more"),
    "kick": Command(
        moderation_commands.kick,
        "/kick NAME [WHY]",
        "send NAME to the default room",
        "From the default room, or with --server (server operators), off\n"
        "the server: /kick --server NAME [WHY].",
    ),
    "ban": Command(
        moderation_commands.ban,
        "/ban WHO [TIME] [WHY]",
        "keep WHO out of this room",
        "WHO is a name, an address or a network (10.0.0.0/24); a guest's\n"
        "name bans its address. TIME: 30m, 2h, 7d (none: until /unban).\n"
        "--server (server operators): out of the server, at connect time.",
    ),
    "unban": Command(moderation_commands.unban, "/unban WHO", "lift a ban"),
    "bans": Command(moderation_commands.bans, "/bans", "this room's bans and mutes"),
    "mute": Command(
        moderation_commands.mute,
        "/mute NAME [TIME] [WHY]",
        "NAME reads but cannot speak here",
        "--server (server operators): in every room.",
    ),
    "unmute": Command(moderation_commands.unmute, "/unmute NAME", "lift a mute"),
}

_EVERY_COMMAND = {**COMMANDS, **ACCOUNT_COMMANDS, **OPERATOR_COMMANDS}


def run_command(member: Member, hub: Hub, word: str, arguments: str) -> None:
    """Run the command C{word}; an unknown one gets a one-line refusal."""
    if hub.hold(member, lambda: run_command(member, hub, word, arguments)):
        return
    command = _EVERY_COMMAND.get(word)
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
