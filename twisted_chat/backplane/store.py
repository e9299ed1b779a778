"""
The store of a linked daemon: L{SharedStore}.

History and topics live in memory, as a copy of what the daemons share
(the bus loads it when the link comes up, and the hub keeps it current);
accounts, grants and restrictions are handed to the bus (C{forward}), which
keeps them in Redis and tells the other daemons.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted_chat.store.memory import MemoryStore
from twisted_chat.store.records import Account, Grant, Moderation, Restriction

#: (what changed, e.g. "account" or "-grant"; the record)
Forward = Callable[[str, Account | Grant | Restriction], None]


class SharedStore(MemoryStore):
    """
    Guarantees: as L{MemoryStore}, but L{moderation} is empty at start (the
    shared records come with the link) and every change of an account,
    grant or restriction reaches C{forward}, in order.
    """

    def __init__(self, per_room: int) -> None:
        super().__init__(per_room)
        self.forward: Forward = lambda change, record: None

    def moderation(self) -> Moderation:
        return Moderation()

    def save_account(self, account: Account) -> None:
        super().save_account(account)
        self.forward("account", account)

    def delete_account(self, key: str) -> None:
        super().delete_account(key)
        self.forward("-account", Account(key, "", "", 0.0))

    def save_grant(self, grant: Grant) -> None:
        super().save_grant(grant)
        self.forward("grant", grant)

    def delete_grant(self, room: str, account: str) -> None:
        super().delete_grant(room, account)
        self.forward("-grant", Grant(room, account, "", 0.0))

    def save_restriction(self, restriction: Restriction) -> None:
        super().save_restriction(restriction)
        self.forward("restriction", restriction)

    def delete_restriction(self, what: str, scope: str, target: str) -> None:
        super().delete_restriction(what, scope, target)
        self.forward(
            "-restriction", Restriction(what, scope, target, None, "", "", 0.0)
        )
