"""
What linked daemons say to each other: one JSON message per daemon per
reactor turn, defined here and only here.

A message is C{{"n": node, "i": instance, "q": seq, "o": [op, ...]}}: the
daemon's name, a token new each time it starts, a number one higher than
its last message's, and what happened in that turn, in order. Each op is a
JSON array whose first item says what it is (L{OPS}). Members are named by
C{(node, id)}: a number their daemon gave them, never reused while it runs.

Decoding checks every field's type and cleans every text again, so a
message from a broken (or hostile) daemon is refused or made harmless: it
never crashes the receiver nor reaches a screen with control characters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from twisted_chat import text
from twisted_chat.names import NAME_RULE
from twisted_chat.store.records import Account, Grant, Restriction

#: Each op's code, with the types of what follows it ("s" str, "S" str or
#: None, "i" int, "b" bool, "L" list of str, "R" the roster, "j" anything).
OPS: dict[str, str] = {
    "arrive": "isSS",  # id, name, account, address
    "leave": "i",  # id
    "rename": "is",  # id, new name
    "enter": "is",  # id, room
    "exit": "is",  # id, room
    "said": "issL",  # id, name, room, lines
    "acted": "isss",  # id, name, room, action
    "topic": "isss",  # id, name, room, topic ("" clears)
    "whisper": "ssis",  # sender's name, target's node, target's id, text
    "remove": "sibss",  # target's node, id, off the server?, room, what it is told
    "guest": "sis",  # target's node, id, what it is told
    "roster": "R",  # everyone on the sending daemon, replacing what was known
    "hello": "",  # a daemon (re)joined: everyone sends their roster
    "beat": "",  # still here
    "moderation": "sj",  # what changed ("account", "-grant", ...), the record
    "notice": "ss",  # room, a server notice put there (a ban, a kick, a lock)
    "lock": "sb",  # room, whether its topic is locked now
}

#: A roster entry: id, name, account, address, rooms (last entered last).
RosterEntry = tuple[int, str, "str | None", "str | None", tuple[str, ...]]


class WireError(ValueError):
    """A message that is not one of ours; its text says why, in one line."""


@dataclass(frozen=True, slots=True)
class Message:
    """One daemon's turn."""

    node: str
    instance: str
    seq: int
    ops: tuple[tuple[Any, ...], ...]


def encode(node: str, instance: str, seq: int, ops: Sequence[Sequence[Any]]) -> bytes:
    """The message, as the bytes published."""
    return json.dumps(
        {"n": node, "i": instance, "q": seq, "o": ops},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise WireError(f"{what} is not a string")
    # Cleaning what is clean changes nothing (and costs little: ASCII is
    # checked in one pass), and what is not cannot reach a screen.
    return text.clean_string(value)


def _name(value: object) -> str:
    name = _text(value, "a name")
    if not NAME_RULE.fullmatch(name):
        raise WireError(f"{name!r} is not a valid name")
    return name


def _field(kind: str, value: object, index: int, op: str) -> object:
    where = f"{op} field {index}"
    if kind == "s":
        return _text(value, where)
    if kind == "S":
        return None if value is None else _text(value, where)
    if kind == "i":
        if type(value) is not int:
            raise WireError(f"{where} is not a number")
        return value
    if kind == "b":
        if type(value) is not bool:
            raise WireError(f"{where} is not true or false")
        return value
    if kind == "L":
        if not isinstance(value, list) or not value:
            raise WireError(f"{where} is not a list of lines")
        return tuple(_text(line, where) for line in value)
    if kind == "R":
        if not isinstance(value, list):
            raise WireError(f"{where} is not a roster")
        return tuple(_roster_entry(entry) for entry in value)
    return value


def _roster_entry(entry: object) -> RosterEntry:
    if not isinstance(entry, list) or len(entry) != 5:
        raise WireError("a roster entry is not [id, name, account, address, rooms]")
    ident, name, account, address, rooms = entry
    if type(ident) is not int or not isinstance(rooms, list):
        raise WireError("a roster entry is not [id, name, account, address, rooms]")
    return (
        ident,
        _name(name),
        None if account is None else _text(account, "an account"),
        None if address is None else _text(address, "an address"),
        tuple(_text(room, "a room") for room in rooms),
    )


def _op(raw: object) -> tuple[Any, ...]:
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], str):
        raise WireError("an op is not a list starting with its code")
    code, *fields = raw
    kinds = OPS.get(code)
    if kinds is None:
        raise WireError(f"unknown op {code!r}")
    if len(fields) != len(kinds):
        raise WireError(f"{code} takes {len(kinds)} fields, not {len(fields)}")
    checked = [
        _field(k, v, i, code)
        for i, (k, v) in enumerate(zip(kinds, fields, strict=True))
    ]
    if code in ("arrive", "rename", "said", "acted", "topic"):
        _name(checked[1])
    return (code, *checked)


def decode(payload: bytes) -> Message:
    """
    The message in C{payload}.

    @raise WireError: if it is not JSON, or not shaped as L{encode} makes
        them, or holds a name that is not a name or text that is not clean.
    """
    try:
        raw = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as error:
        raise WireError(f"not JSON ({error})") from None
    if not isinstance(raw, dict):
        raise WireError("not a JSON object")
    node, instance, seq, ops = raw.get("n"), raw.get("i"), raw.get("q"), raw.get("o")
    if not isinstance(node, str) or not isinstance(instance, str):
        raise WireError("no node or instance")
    if type(seq) is not int or not isinstance(ops, list):
        raise WireError("no sequence number or ops")
    return Message(node, instance, seq, tuple(_op(op) for op in ops))


#: The records kept in Redis and sent in "moderation" ops, by kind.
RECORDS: dict[str, type[Account] | type[Grant] | type[Restriction]] = {
    "account": Account,
    "grant": Grant,
    "restriction": Restriction,
}


def record_key(record: Account | Grant | Restriction) -> str:
    """The record's field in its Redis hash: its key in the SQLite tables."""
    if isinstance(record, Account):
        return record.key
    if isinstance(record, Grant):
        return f"{record.room}\n{record.account}"
    return f"{record.what}\n{record.scope}\n{record.target}"


def record_kind(record: Account | Grant | Restriction) -> str:
    """C{"account"}, C{"grant"} or C{"restriction"}."""
    for kind, cls in RECORDS.items():
        if isinstance(record, cls):
            return kind
    raise TypeError(record)


def encode_record(record: Account | Grant | Restriction) -> list[Any]:
    """The record as a JSON array of its fields, in order."""
    return [getattr(record, name) for name in record.__slots__]


def decode_record(kind: str, fields: object) -> Account | Grant | Restriction:
    """
    The record of C{kind} made of C{fields}.

    @raise WireError: if C{kind} is unknown or the fields do not fit it.
    """
    cls = RECORDS.get(kind)
    if cls is None or not isinstance(fields, list):
        raise WireError(f"not a record of kind {kind!r}")
    names = cls.__slots__
    if len(fields) != len(names):
        raise WireError(f"a {kind} has {len(names)} fields, not {len(fields)}")
    for name, value in zip(names, fields, strict=True):
        wanted: tuple[type, ...] = (str,)
        if name in ("created",):
            wanted = (int, float)
        elif name == "until":
            wanted = (int, float, type(None))
        if not isinstance(value, wanted) or isinstance(value, bool):
            raise WireError(f"a {kind}'s {name} is not a {wanted[0].__name__}")
    return cls(*fields)
