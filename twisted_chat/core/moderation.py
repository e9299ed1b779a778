"""
Who may do what to whom: server and room operators, and the restrictions
(bans and mutes) they set, with their durations, on the hub's clock.

Everything is held in memory; a L{ModerationStore} (the history database,
or its in-memory twin) only keeps it across restarts.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable

from twisted_chat.names import NAME_RULE, name_key
from twisted_chat.store import Account, Grant, ModerationStore, Restriction
from twisted_chat.store import Moderation as KeptModeration

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_LOOKS_NUMERIC = re.compile(r"[\d.:/]+")
_DURATION = re.compile(r"(\d{1,6})([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: The longest duration accepted; beyond it, say nothing: "until lifted".
MOST_SECONDS = 10 * 365 * 86400


def parse_duration(given: str) -> float | None:
    """
    Seconds in C{"90s"}, C{"10m"}, C{"2h"}, C{"7d"}, C{"1w"}, or None when
    C{given} is not a duration (the caller then takes it as the reason).
    """
    match = _DURATION.fullmatch(given.lower())
    if match is None:
        return None
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return float(seconds) if 0 < seconds <= MOST_SECONDS else None


def describe_duration(seconds: float) -> str:
    """C{7200} as C{"2h"}: the largest unit that divides it, else seconds."""
    whole = int(seconds)
    for unit in "wdhm":
        if whole % _UNIT_SECONDS[unit] == 0:
            return f"{whole // _UNIT_SECONDS[unit]}{unit}"
    return f"{whole}s"


def parse_target(given: str) -> str | None:
    """
    C{"name:KEY"} for a name, C{"address:NETWORK"} for an IP address or a
    CIDR network (C{10.0.0.7}, C{10.0.0.0/24}, C{fd00::/8}), None otherwise.
    """
    try:
        network = ipaddress.ip_network(given, strict=False)
    except ValueError:
        if _LOOKS_NUMERIC.fullmatch(given):
            return None  # a mistyped address (10.0.0.256), not a name
        return f"name:{name_key(given)}" if NAME_RULE.fullmatch(given) else None
    return f"address:{network.compressed}"


def address_target(address: str) -> str:
    """The target that is exactly C{address}."""
    return f"address:{ipaddress.ip_network(address).compressed}"


def describe_until(until: float | None, now: float) -> str:
    """C{"until lifted"}, C{"until 21:30"} today, else with the date."""
    if until is None:
        return "until lifted"
    moment, today = time.localtime(until), time.localtime(now)
    if moment[:3] == today[:3]:
        return time.strftime("until %H:%M", moment)
    return time.strftime("until %Y-%m-%d %H:%M", moment)


def describe(restriction: Restriction, now: float) -> str:
    """C{" until 21:30 (spamming)"}: how long, and why if a reason was given."""
    reason = f" ({restriction.reason})" if restriction.reason else ""
    return f" {describe_until(restriction.until, now)}{reason}"


def describe_target(target: str) -> str:
    """What a target looks like to people: the name key or the network."""
    return target.partition(":")[2]


class Moderation:
    """
    Accounts, operators and restrictions, and the rules over them.

    Guarantees: a restriction past its C{until} is never in force (it is
    dropped when next looked at); a server operator counts as an operator
    of every room; every change is handed to the store, if any.
    """

    def __init__(
        self,
        now: Callable[[], float],
        store: ModerationStore | None = None,
        operators: Iterable[str] = (),
    ) -> None:
        self._now = now
        self.store = store
        self.server_operators = {name_key(name) for name in operators}
        self.accounts: dict[str, Account] = {}
        self._grants: dict[str, dict[str, Grant]] = {}
        self._restrictions: dict[tuple[str, str, str], Restriction] = {}
        # How many of each kind there are: the chat's hot path asks whether
        # a speaker is muted, and with no mutes at all that must cost nothing.
        self._counts: Counter[str] = Counter()
        self._networks: dict[str, Network] = {}
        if store is not None:
            self.replace(store.moderation())

    def replace(self, kept: KeptModeration) -> None:
        """Forget everything, for what C{kept} holds (not handed to the store)."""
        self.accounts = {account.key: account for account in kept.accounts}
        self._grants = {}
        for grant in kept.grants:
            self._grants.setdefault(grant.room, {})[grant.account] = grant
        self._restrictions = {}
        self._counts = Counter()
        for restriction in kept.restrictions:
            self._put(restriction)

    def kept(self) -> KeptModeration:
        """Everything held now (restrictions past their end included)."""
        return KeptModeration(
            list(self.accounts.values()),
            [grant for grants in self._grants.values() for grant in grants.values()],
            list(self._restrictions.values()),
        )

    def apply(self, change: str, record: Account | Grant | Restriction) -> None:
        """
        A change made elsewhere (another daemon), kept in memory only: its
        store has it. C{change} is the record's kind ("account", "grant",
        "restriction"), with "-" in front for a deletion.
        """
        if isinstance(record, Account):
            if change.startswith("-"):
                self.accounts.pop(record.key, None)
                for grants in self._grants.values():
                    grants.pop(record.key, None)
            else:
                self.accounts[record.key] = record
        elif isinstance(record, Grant):
            if change.startswith("-"):
                self._grants.get(record.room, {}).pop(record.account, None)
            else:
                self._grants.setdefault(record.room, {})[record.account] = record
        elif change.startswith("-"):
            self._drop(_key_of(record))
        else:
            self._put(record)

    # Accounts

    def account(self, name: str) -> Account | None:
        """The account registered under C{name} (ignoring case, look-alikes)."""
        return self.accounts.get(name_key(name))

    def save_account(self, account: Account) -> None:
        """A new account, or a new password for one."""
        self.accounts[account.key] = account
        if self.store is not None:
            self.store.save_account(account)

    # Operators

    def is_server_operator(self, account: str | None) -> bool:
        """Whether the account C{account} (a key) is a server operator."""
        return account is not None and account in self.server_operators

    def is_room_operator(self, account: str | None, room: str) -> bool:
        """Whether C{account} may moderate the room C{room} (a key)."""
        if account is None:
            return False
        return self.is_server_operator(account) or account in self._grants.get(room, {})

    def grant(self, room: str, account: str, by: str) -> None:
        """Make C{account} an operator of C{room}."""
        grant = Grant(room, account, by, self._now())
        self._grants.setdefault(room, {})[account] = grant
        if self.store is not None:
            self.store.save_grant(grant)

    def revoke(self, room: str, account: str) -> bool:
        """C{account} is no longer an operator of C{room}; False if it was not."""
        grants = self._grants.get(room, {})
        if grants.pop(account, None) is None:
            return False
        if self.store is not None:
            self.store.delete_grant(room, account)
        return True

    # Restrictions

    def restrict(
        self,
        what: str,
        scope: str,
        target: str,
        duration: float | None,
        reason: str,
        by: str,
    ) -> Restriction:
        """Ban or mute C{target} in C{scope} ("" for the server), replacing any."""
        now = self._now()
        until = None if duration is None else now + duration
        restriction = Restriction(what, scope, target, until, reason, by, now)
        self._put(restriction)
        if self.store is not None:
            self.store.save_restriction(restriction)
        return restriction

    def lift(self, what: str, scope: str, target: str) -> bool:
        """Lift a restriction; False if there was none in force."""
        restriction = self._drop((what, scope, target))
        if restriction is None:
            return False
        if self.store is not None:
            self.store.delete_restriction(what, scope, target)
        return not self._expired(restriction)

    def in_force(
        self,
        what: str,
        scopes: Iterable[str],
        account: str | None,
        name: str | None,
        address: str | None,
    ) -> Restriction | None:
        """
        The restriction C{what} in force in any of C{scopes} on someone
        logged in as C{account} (a key), called C{name}, from C{address};
        the one lasting longest if several.
        """
        if not self._counts[what]:
            return None
        targets = {f"name:{key}" for key in (account, name and name_key(name)) if key}
        ip = _ip(address)
        found: list[Restriction] = []
        for scope in scopes:
            for restriction in self.listing(what, scope):
                target = restriction.target
                if target in targets or (
                    ip is not None
                    and target.startswith("address:")
                    and ip in self._network(target)
                ):
                    found.append(restriction)
        if not found:
            return None
        return max(found, key=lambda r: float("inf") if r.until is None else r.until)

    def listing(self, what: str, scope: str) -> list[Restriction]:
        """The restrictions C{what} in force in C{scope}, oldest first."""
        result = []
        for key, restriction in list(self._restrictions.items()):
            if key[0] != what or key[1] != scope:
                continue
            if self._expired(restriction):
                self._drop(key)
                if self.store is not None:
                    self.store.delete_restriction(*key)
                continue
            result.append(restriction)
        return sorted(result, key=lambda r: r.created)

    def _put(self, restriction: Restriction) -> None:
        key = _key_of(restriction)
        if key not in self._restrictions:
            self._counts[restriction.what] += 1
        self._restrictions[key] = restriction

    def _drop(self, key: tuple[str, str, str]) -> Restriction | None:
        restriction = self._restrictions.pop(key, None)
        if restriction is not None:
            self._counts[restriction.what] -= 1
        return restriction

    def _expired(self, restriction: Restriction) -> bool:
        return restriction.until is not None and restriction.until <= self._now()

    def network(self, target: str) -> Network:
        """The network an C{address:} target stands for."""
        return self._network(target)

    @staticmethod
    def covers(network: Network, address: str) -> bool:
        """Whether C{address} is in C{network}."""
        ip = _ip(address)
        return ip is not None and ip in network

    def _network(self, target: str) -> Network:
        network = self._networks.get(target)
        if network is None:
            network = self._networks[target] = ipaddress.ip_network(
                describe_target(target)
            )
        return network


def _key_of(restriction: Restriction) -> tuple[str, str, str]:
    return restriction.what, restriction.scope, restriction.target


def _ip(
    address: str | None,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if address is None:
        return None
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None
