"""
Who is called what: names unique across the hub, and fresh guest names.

A claim is made here, not assumed by a room, so that a registry shared by
linked daemons can take its place later (there a claim is asynchronous).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count

from twisted_chat.core.room import Member
from twisted_chat.names import NAME_HELP, NAME_RULE, is_reserved, name_key


class NameRegistry:
    """
    Guarantees: no two members hold names with the same L{name_key}
    (ignoring case and look-alikes); a guest name is never one in use, nor
    one that C{unavailable} says is kept for someone (a registered name).
    """

    def __init__(self) -> None:
        self._by_key: dict[str, Member] = {}
        #: Members called by a name someone else holds here (a remote
        #: member whose claim lost a race while the daemons were apart),
        #: by name key: the first takes the name when its holder lets go.
        self._shadowed: dict[str, list[Member]] = {}
        self._guest_numbers = count(1)
        #: Where guest numbers come from: counted here, unless linked
        #: daemons share a counter (their guests must not collide).
        self.next_guest_number: Callable[[], int] = lambda: next(self._guest_numbers)

    def __len__(self) -> int:
        return len(self._by_key)

    def find(self, name: str) -> Member | None:
        """The member called C{name} (ignoring case and look-alikes), if any."""
        return self._by_key.get(name_key(name))

    @property
    def names(self) -> list[str]:
        """Everyone's name, sorted ignoring case."""
        return sorted((m.name for m in self._by_key.values()), key=str.casefold)

    def claim_guest(
        self, member: Member, unavailable: Callable[[str], bool] = lambda name: False
    ) -> str:
        """Give C{member} a fresh guest name (C{guest1}, C{guest2}, ...)."""
        while True:
            name = f"guest{self.next_guest_number()}"
            if name_key(name) not in self._by_key and not unavailable(name):
                self.take(member, name)
                return name

    def refusal(self, member: Member, new_name: str) -> str | None:
        """Why C{member} may not be called C{new_name}, or None if it may."""
        if not NAME_RULE.fullmatch(new_name):
            return f"Invalid name {new_name!r}: use {NAME_HELP}."
        if is_reserved(new_name):
            return f"The name {new_name} is reserved."
        holder = self.find(new_name)
        if holder is not None and holder is not member:
            if holder.name.casefold() == new_name.casefold():
                return f"The name {new_name} is taken."
            return f"{new_name} looks too much like {holder.name}, who is here."
        if member.name == new_name:
            return f"You are already known as {new_name}."
        return None

    def take(self, member: Member, name: str) -> None:
        """C{member} is called C{name} now (checked by the caller)."""
        self.release(member)
        member.name = name
        self._by_key[name_key(name)] = member

    def take_if_free(self, member: Member, name: str) -> bool:
        """
        C{member} is called C{name}, held under it unless someone else
        holds it already (a remote member whose claim lost a race while the
        daemons were apart: its own daemon renames it soon).
        """
        member.name = name
        key = name_key(name)
        holder = self._by_key.get(key)
        if holder is not None and holder is not member:
            self._shadowed.setdefault(key, []).append(member)
            return False
        self._by_key[key] = member
        return True

    def release(self, member: Member) -> None:
        """C{member}'s name is free again (for one shadowed under it, if any)."""
        key = name_key(member.name) if member.name else None
        if key is None:
            return
        shadowed = self._shadowed.get(key, [])
        if member in shadowed:
            shadowed.remove(member)
        if self._by_key.get(key) is member:
            del self._by_key[key]
            if shadowed:
                self._by_key[key] = shadowed.pop(0)
        if not shadowed:
            self._shadowed.pop(key, None)
