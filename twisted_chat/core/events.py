"""
What happens in the chat, as small frozen values.

The core says everything it has to say as one of these, and each front end
renders them in its own format (the line format of telnet and nc is in
L{twisted_chat.frontends.line.render}). An event holds only cleaned text:
names are valid names, what people said went through L{text.clean_text}.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Said:
    """Lines C{name} said in a room, in order (one read's worth, often one)."""

    name: str
    texts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Acted:
    """C{/me waves}: C{name} did C{text}."""

    name: str
    text: str


@dataclass(frozen=True, slots=True)
class Whispered:
    """A private line from C{name}, to its one recipient."""

    name: str
    text: str


@dataclass(frozen=True, slots=True)
class WhisperSent:
    """What the sender of a private line sees: it went to C{name}."""

    name: str
    text: str


@dataclass(frozen=True, slots=True)
class Joined:
    """C{name} came into the room."""

    name: str


@dataclass(frozen=True, slots=True)
class Left:
    """C{name} left the room (or the server)."""

    name: str


@dataclass(frozen=True, slots=True)
class Renamed:
    """C{old} is now known as C{new}."""

    old: str
    new: str


@dataclass(frozen=True, slots=True)
class YourName:
    """Your name is now C{name} (the answer to your own /nick)."""

    name: str


@dataclass(frozen=True, slots=True)
class Welcome:
    """The greeting: you are C{name} on C{server}, with C{count} people here."""

    server: str
    name: str
    count: int


@dataclass(frozen=True, slots=True)
class NowIn:
    """You are in the room C{room} now, with C{count} people in it."""

    room: str
    count: int


@dataclass(frozen=True, slots=True)
class TopicIs:
    """The topic of C{room} (shown on joining it and on /topic)."""

    room: str
    topic: str


@dataclass(frozen=True, slots=True)
class TopicSet:
    """C{name} set the topic of the room to C{topic}; empty: cleared it."""

    name: str
    topic: str


@dataclass(frozen=True, slots=True)
class NoHistory:
    """The answer to /history when C{room} has nothing to replay."""

    room: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One line said earlier: C{kind} is C{"said"} or C{"acted"}."""

    time: float
    kind: str
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class Backlog:
    """
    The last lines said in C{room}, oldest first, replayed at C{now} (so a
    renderer can show times relative to the day of the replay).
    """

    room: str
    lines: tuple[HistoryLine, ...]
    now: float


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """One room as /rooms lists it."""

    name: str
    count: int
    topic: str


@dataclass(frozen=True, slots=True)
class Rooms:
    """The answer to /rooms: C{count} rooms, of which C{rooms} the first part."""

    count: int
    rooms: tuple[RoomInfo, ...]


@dataclass(frozen=True, slots=True)
class Who:
    """
    The answer to /who: C{count} names, of which C{names} is the first
    part (sorted, ignoring case); C{room} is empty for your own room;
    C{quiet_over} is the announce limit of a room too big to announce
    joins (0 when it is not).
    """

    room: str
    count: int
    names: tuple[str, ...]
    quiet_over: int


@dataclass(frozen=True, slots=True)
class Quiet:
    """The room has over C{limit} people: joins and leaves go unannounced."""

    limit: int


@dataclass(frozen=True, slots=True)
class Limits:
    """The answer to /limits; 0 is no limit."""

    rate: float
    burst: int
    length: int


@dataclass(frozen=True, slots=True)
class SlowDown:
    """C{count} lines were refused by the rate (C{rate} a second, C{burst})."""

    rate: float
    burst: int
    count: int


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """A line over C{length} bytes was refused."""

    length: int


@dataclass(frozen=True, slots=True)
class UnknownCommand:
    """C{/word} is not a command."""

    word: str


@dataclass(frozen=True, slots=True)
class Goodbye:
    """The answer to /quit."""

    name: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Anything else the server tells you: help, the MOTD, shutting down."""

    text: str


@dataclass(frozen=True, slots=True)
class Refused:
    """Something you asked for was refused, and why (one line)."""

    text: str


#: Every kind of event: a renderer must render each of them.
EVENT_TYPES: tuple[type, ...] = (
    Said,
    Acted,
    Whispered,
    WhisperSent,
    Joined,
    Left,
    Renamed,
    YourName,
    Welcome,
    NowIn,
    TopicIs,
    TopicSet,
    Backlog,
    NoHistory,
    Rooms,
    Who,
    Quiet,
    Limits,
    SlowDown,
    LineTooLong,
    UnknownCommand,
    Goodbye,
    Notice,
    Refused,
)

Event = (
    Said
    | Acted
    | Whispered
    | WhisperSent
    | Joined
    | Left
    | Renamed
    | YourName
    | Welcome
    | NowIn
    | TopicIs
    | TopicSet
    | Backlog
    | NoHistory
    | Rooms
    | Who
    | Quiet
    | Limits
    | SlowDown
    | LineTooLong
    | UnknownCommand
    | Goodbye
    | Notice
    | Refused
)
