"""
Names people own: /register, /login, /logout and /password, with password
hashing off the reactor thread and guessing made slow.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat.core import events, passwords
from twisted_chat.core.room import Member
from twisted_chat.names import name_key
from twisted_chat.store import Account

if TYPE_CHECKING:
    from twisted_chat.core.hub import Hub

log = Logger()

T = TypeVar("T")
#: Runs blocking work (a password hash) somewhere it cannot stall the chat.
RunBlocking = Callable[[Callable[[], T]], "Deferred[T]"]

#: Failed logins allowed per address and per account in L{WINDOW_SECONDS}.
MOST_FAILURES = 5
WINDOW_SECONDS = 60.0
#: How long a failed login waits before it is answered.
FAILURE_DELAY_SECONDS = 1.0
#: Names one address may register in L{REGISTRATION_WINDOW_SECONDS}: a
#: script cannot fill the database (and the hashing threads) with names.
MOST_REGISTRATIONS = 3
REGISTRATION_WINDOW_SECONDS = 3600.0
#: Password checks under way at once, over everyone; more are refused.
MOST_AT_ONCE = 16

_GUEST = re.compile(r"guest\d+", re.IGNORECASE)


def run_here(work: Callable[[], T]) -> Deferred[T]:
    """L{RunBlocking} for tests: the work is done at once, in this thread."""
    return maybeDeferred(work)


def is_guest_name(name: str) -> bool:
    """Whether C{name} is one the server hands out (C{guest7})."""
    return _GUEST.fullmatch(name) is not None


class LoginGuard:
    """
    Failed logins, by address and by account.

    Guarantees: once C{most} failures from one address, or for one account,
    fall within C{window} seconds, L{wait} is positive until the oldest of
    them is C{window} old; memory is bounded by the failures of the last
    window (old ones are dropped when looked at).
    """

    def __init__(
        self,
        now: Callable[[], float],
        most: int = MOST_FAILURES,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self._now = now
        self.most = most
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def wait(self, *keys: str | None) -> float:
        """Seconds until C{keys} may try again; 0 when they may now."""
        now = self._now()
        wait = 0.0
        for key in keys:
            times = self._recent(key, now)
            if times is not None and len(times) >= self.most:
                wait = max(wait, times[0] + self.window - now)
        return wait

    def failed(self, *keys: str | None) -> int:
        """Count a failure for each of C{keys}; the most recent count among them."""
        now = self._now()
        counts = [0]
        for key in keys:
            if key is None:
                continue
            times = self._recent(key, now)
            if times is None:
                times = self._failures[key] = deque()
            times.append(now)
            counts.append(len(times))
        if len(self._failures) > 10_000:
            # An attack from very many addresses: forget what has expired.
            for key in list(self._failures):
                self._recent(key, now)
        return max(counts)

    def forgive(self, *keys: str | None) -> None:
        """Take back the last failure counted for each of C{keys}."""
        for key in keys:
            times = self._failures.get(key) if key is not None else None
            if times:
                times.pop()
                if not times:
                    del self._failures[key]  # type: ignore[arg-type]

    def _recent(self, key: str | None, now: float) -> deque[float] | None:
        if key is None:
            return None
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times


class AccountDesk:
    """
    Registering, logging in and out, and changing passwords.

    Guarantees: a password is hashed or checked only through C{run_blocking}
    (never on the caller's thread in the daemon), never logged and never
    sent back; a failed login is answered only after
    L{FAILURE_DELAY_SECONDS}, the same for an unknown name and a wrong
    password, and logged with who tried from where; after L{MOST_FAILURES}
    failures a minute from an address or for an account, logins from it or
    for it are refused at once until the minute is over.
    """

    def __init__(
        self,
        hub: Hub,
        run_blocking: RunBlocking[object] = run_here,
        clock: IReactorTime | None = None,
        enabled: bool = True,
    ) -> None:
        self._hub = hub
        self._run = run_blocking
        self._clock = clock
        #: With accounts off, names are first come, first served.
        self.enabled = enabled
        self.guard = LoginGuard(hub.now)
        self.registrations = LoginGuard(
            hub.now, MOST_REGISTRATIONS, REGISTRATION_WINDOW_SECONDS
        )
        self.failure_delay = FAILURE_DELAY_SECONDS
        self._busy: set[Member] = set()
        # Members whose failed login waits for its answer: not a check under
        # way (they do not count against MOST_AT_ONCE), but not free to try.
        self._answering: set[Member] = set()
        self._dummy_hash: str | None = None

    # The commands

    def register(self, member: Member, password: str) -> None:
        """Claim C{member}'s current name with C{password}."""
        if not self._ready(member):
            return
        hub = self._hub
        name = member.name
        if member.account is not None:
            self._refuse(member, f"You are logged in as {name} already.")
            return
        if is_guest_name(name):
            self._refuse(member, "Choose your name first (/nick NAME), then /register.")
            return
        if hub.moderation.account(name) is not None:
            self._refuse(member, f"{name} is registered already.")
            return
        reason = passwords.check_new_password(password)
        if reason is not None:
            self._refuse(member, _sentence(reason))
            return
        address = member.address
        wait = self.registrations.wait(address)
        if wait:
            self._refuse(
                member,
                f"Enough names were registered from your address; try again in "
                f"{math.ceil(wait / 60)} min.",
            )
            return

        def hashed(password_hash: object) -> None:
            if member not in hub or member.name != name or member.account:
                return
            if hub.moderation.account(name) is not None:
                self._refuse(member, f"{name} is registered already.")
                return
            assert isinstance(password_hash, str)
            key = name_key(name)
            hub.moderation.save_account(Account(key, name, password_hash, hub.now()))
            self.registrations.failed(address)
            member.account = key
            hub.tell(
                member,
                events.Notice(
                    f"{name} is yours now: /login {name} PASSWORD takes it "
                    "back, from any connection."
                ),
            )
            log.info("{peer} registered {name}", peer=_peer(member), name=name)

        self._work(member, lambda: passwords.hash_password(password), hashed)

    def login(self, member: Member, name: str, password: str) -> None:
        """Log C{member} in as C{name}, taking the name from whoever has it."""
        if not self._ready(member):
            return
        key = name_key(name)
        address = member.address
        wait = self.guard.wait(address, f"account:{key}")
        if wait:
            self._refuse(
                member, f"Too many failed logins; try again in {math.ceil(wait)} s."
            )
            return
        account = self._hub.moderation.account(name)
        stored = account.password_hash if account is not None else None
        # Counted as a failure until it proves right, so that checks under
        # way at once cannot try more than the limit between them.
        count = self.guard.failed(address, f"account:{key}")

        def checked(right: object) -> None:
            if right is True and account is not None:
                self.guard.forgive(address, f"account:{key}")
            if member not in self._hub:
                return
            if right is not True or account is None:
                self._failed(member, name, count)
                return
            self._log_in(member, account)
            if passwords.needs_rehash(account.password_hash):
                self._rehash(account, password)

        self._work(
            member,
            lambda: passwords.verify_password(password, stored or self._dummy()),
            checked,
        )

    def logout(self, member: Member) -> None:
        """C{member} is a guest again."""
        if not self._ready(member, busy_ok=True):
            return
        if member.account is None:
            self._refuse(member, "You are not logged in.")
            return
        member.account = None
        self._hub.rename_to_guest(member)
        self._hub.tell(member, events.Notice(f"Logged out; you are {member.name} now."))

    def change_password(self, member: Member, old: str, new: str) -> None:
        """A new password for the account C{member} is logged in as."""
        self.change_password_from(member, [(old, new)])

    def change_password_from(
        self, member: Member, candidates: list[tuple[str, str]]
    ) -> None:
        """
        L{change_password} with the first of C{candidates} (old, new) whose
        old password is right: C{/password OLD NEW} with spaces in them is
        read every way it can be split.
        """
        if not self._ready(member):
            return
        key = member.account
        account = self._hub.moderation.accounts.get(key) if key else None
        if account is None:
            self._refuse(member, "Log in first: /login NAME PASSWORD.")
            return
        candidates = [
            (old, new)
            for old, new in candidates
            if passwords.check_new_password(new) is None
        ] or candidates[:1]
        reason = passwords.check_new_password(candidates[0][1])
        if reason is not None:
            self._refuse(member, _sentence(reason))
            return
        stored = account.password_hash

        def change() -> str | None:
            for old, new in candidates:
                if passwords.verify_password(old, stored):
                    return passwords.hash_password(new)
            return None

        address = member.address
        count = self.guard.failed(address, f"account:{account.key}")

        def changed(new_hash: object) -> None:
            if isinstance(new_hash, str):
                self.guard.forgive(address, f"account:{account.key}")
            if member not in self._hub:
                return
            if not isinstance(new_hash, str):
                self._failed(member, account.name, count)
                return
            current = self._hub.moderation.accounts.get(account.key)
            if current is None:
                return
            self._hub.moderation.save_account(
                Account(current.key, current.name, new_hash, current.created)
            )
            self._hub.tell(member, events.Notice("Password changed."))
            log.info("{name} changed their password", name=account.name)

        self._work(member, change, changed)

    # Internals

    def _ready(self, member: Member, busy_ok: bool = False) -> bool:
        if not self.enabled:
            self._refuse(member, "Accounts are off on this server.")
            return False
        if (member in self._busy or member in self._answering) and not busy_ok:
            self._refuse(member, "Wait: your last password is still being checked.")
            return False
        if len(self._busy) >= MOST_AT_ONCE and not busy_ok:
            self._refuse(member, "The server is busy checking passwords; try again.")
            return False
        return True

    def _work(
        self,
        member: Member,
        work: Callable[[], object],
        done: Callable[[object], None],
    ) -> None:
        self._busy.add(member)

        def finished(result: object) -> None:
            self._busy.discard(member)
            done(result)

        def broke(failure: Failure) -> None:
            self._busy.discard(member)
            log.failure("checking a password failed", failure)
            if member in self._hub:
                self._refuse(member, "The password could not be checked; try again.")

        self._run(work).addCallbacks(finished, broke)

    def _failed(self, member: Member, name: str, count: int) -> None:
        log.warn(
            "failed login as {name} from {peer} ({count} in the last minute)",
            name=name,
            peer=_peer(member),
            count=count,
        )
        hub = self._hub

        def answer() -> None:
            self._answering.discard(member)
            if member in hub:
                hub.tell(member, events.Refused("Wrong name or password."))

        if self._clock is not None and self.failure_delay:
            # Busy until answered: one connection tries once a second at most.
            self._answering.add(member)
            self._clock.callLater(self.failure_delay, answer)
        else:
            answer()

    def _log_in(self, member: Member, account: Account) -> None:
        hub = self._hub
        ban = hub.moderation.in_force("ban", ("",), account.key, None, None)
        if ban is not None:
            self._refuse(member, f"{account.name} is banned from this server.")
            return
        for other in hub.members:
            if other is not member and other.account == account.key:
                # One login per account: the older one is a guest now.
                other.account = None
                if hub.moderation.account(other.name) is not None:
                    hub.rename_to_guest(other)
                hub.tell(
                    other,
                    events.Notice(
                        f"You logged in as {account.name} elsewhere; "
                        f"this connection is {other.name}, logged out."
                    ),
                )
        holder = hub.find(account.name)
        if holder is not None and holder is not member:
            holder.account = None
            hub.rename_to_guest(holder)
            hub.tell(
                holder,
                events.Notice(
                    f"{account.name} is registered and has logged in; you are "
                    f"{holder.name} now."
                ),
            )
        member.account = account.key
        if member.name != account.name:
            hub.take_name(member, account.name)
        hub.tell(member, events.Notice(f"You are logged in as {account.name}."))
        log.info("{peer} logged in as {name}", peer=_peer(member), name=account.name)

    def _rehash(self, account: Account, password: str) -> None:
        """A hash made with older parameters is made again with today's."""
        moderation = self._hub.moderation

        def rehashed(new_hash: object) -> None:
            current = moderation.accounts.get(account.key)
            if isinstance(new_hash, str) and current == account:
                moderation.save_account(
                    Account(account.key, account.name, new_hash, account.created)
                )

        self._run(lambda: passwords.hash_password(password)).addCallbacks(
            rehashed, lambda failure: log.failure("rehashing failed", failure)
        )

    def _dummy(self) -> str:
        # A real hash to check an unknown name against, so that it costs the
        # same time as a wrong password and tells a guesser nothing. Made in
        # the worker, the first time it is needed.
        if self._dummy_hash is None:
            self._dummy_hash = passwords.hash_password("not a password of anyone")
        return self._dummy_hash

    def _refuse(self, member: Member, reason: str) -> None:
        self._hub.tell(member, events.Refused(reason))


def _sentence(reason: str) -> str:
    """C{"a password needs ..."} as the server's other lines read: a sentence."""
    return reason[:1].upper() + reason[1:].rstrip(".") + "."


def _peer(member: Member) -> str:
    return str(getattr(member, "peer", None) or member.address or "?")
