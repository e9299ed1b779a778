"""
What a daemon does for its own people each time its link comes up: their
names claimed again, and the roster the other daemons take them from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted_chat.core import events
from twisted_chat.core.room import Member

if TYPE_CHECKING:
    from twisted_chat.backplane.bridge import LinkedChat


def reclaim(chat: LinkedChat, member: Member) -> None:
    """
    Claim C{member}'s name again. A registered name it is not logged in as,
    or one another daemon gave out while the link was down, costs it the
    name: it becomes a guest, and is told why.
    """
    name = member.name
    hub = chat.hub
    account = hub.moderation.account(name) if hub.accounts.enabled else None
    if account is not None and member.account != account.key:
        hub.rename_to_guest(member)
        hub.tell(
            member,
            events.Notice(f"{name} is registered: you are {member.name} now."),
        )
        return

    def claimed(won: bool) -> None:
        if not won and member in hub and member.name == name:
            hub.rename_to_guest(member)
            hub.tell(
                member,
                events.Notice(
                    f"{name} was taken on another server while the link "
                    f"was down: you are {member.name} now."
                ),
            )

    chat.claim(member, name, claimed)


def roster(chat: LinkedChat) -> list[list[Any]]:
    """Everyone here, as the other daemons need to know them."""
    hub = chat.hub
    return [
        [
            chat.ident(m),
            m.name,
            m.account,
            m.address,
            [room.name for room in hub.rooms_of(m)],
        ]
        for m in hub.local_members()
    ]
