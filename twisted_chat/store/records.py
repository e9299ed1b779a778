"""
What the store keeps besides history: accounts, room operator grants, and
restrictions (bans and mutes). Small frozen values; the daemon holds all
of them in memory and the store only persists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Account:
    """A registered name: C{key} is its L{twisted_chat.names.name_key}."""

    key: str
    name: str
    #: The salted, memory-hard hash (L{twisted_chat.core.passwords}); never
    #: the password.
    password_hash: str
    created: float


@dataclass(frozen=True, slots=True)
class Grant:
    """The account C{account} (a key) is an operator of the room C{room} (a key)."""

    room: str
    account: str
    #: Who made it one (a name), empty for the room's creator.
    by: str
    created: float


@dataclass(frozen=True, slots=True)
class Restriction:
    """
    A ban or a mute: C{what} is C{"ban"} or C{"mute"}; C{scope} is empty for
    the whole server, else a room key; C{target} is C{"name:KEY"} (a name
    key) or C{"address:CIDR"} (an IP address or network, as text).
    C{until} is when it ends (unix seconds), None for until lifted.
    """

    what: str
    scope: str
    target: str
    until: float | None
    reason: str
    by: str
    created: float


@dataclass(frozen=True, slots=True)
class Moderation:
    """Everything of the above a store holds, read at start-up."""

    accounts: list[Account] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    restrictions: list[Restriction] = field(default_factory=list)
