"""
Accounts in memory: /register, /login, /logout and /password on a L{Hub}
with a L{Clock}, fake members with addresses, and passwords hashed in this
thread (the default C{run_blocking}) unless a test hands out the work
itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.logger import LogEvent, capturedLogs, formatEvent

from tests import support
from tests.support import clear, connected, hub_on_clock, run_line
from twisted_chat.core.accounts import (
    FAILURE_DELAY_SECONDS,
    MOST_AT_ONCE,
    MOST_FAILURES,
    WINDOW_SECONDS,
)
from twisted_chat.core.hub import Hub
from twisted_chat.store.memory import MemoryStore
from twisted_chat.testing import FakeMember

PASSWORD = "correct-horse"
WRONG = "not-the-password"
REGISTERED = (
    "*** alice is yours now: /login alice PASSWORD takes it back, from any connection."
)
WRONG_ANSWER = "! Wrong name or password."
ACCOUNTS_OFF = "! Accounts are off on this server."


def registered(
    hub: Hub, name: str = "alice", address: str = "10.0.0.1", password: str = PASSWORD
) -> FakeMember:
    """A member called C{name} (alice) that registered it with PASSWORD."""
    return support.registered(hub, name, address, password)


def failure_lines(events: Iterable[LogEvent]) -> list[str]:
    """The failed-login lines among the logged C{events}, formatted."""
    return [
        formatEvent(event)
        for event in events
        if formatEvent(event).startswith("failed login as ")
    ]


class HeldChecks:
    """
    A C{run_blocking} that runs nothing until told: each piece of work
    waits, as in the daemon's thread pool, until L{finish} runs it.
    """

    def __init__(self) -> None:
        self.waiting: list[tuple[Deferred[object], Callable[[], object]]] = []

    def __call__(self, work: Callable[[], object]) -> Deferred[object]:
        done: Deferred[object] = Deferred()
        self.waiting.append((done, work))
        return done

    def finish(self, count: int | None = None) -> None:
        """Run the first C{count} pieces of work waiting (all by default)."""
        count = len(self.waiting) if count is None else count
        for done, work in self.waiting[:count]:
            done.callback(work())
        del self.waiting[:count]


# /register


def test_register_makes_your_name_yours_and_tells_only_you() -> None:
    """
    /register PASSWORD with a chosen name answers the registrant alone and
    logs it in: the name is its account from then on.
    """
    hub, _ = hub_on_clock()
    owner = connected(hub, "10.0.0.1", "alice")
    other = connected(hub, "10.0.0.2")
    clear(owner)
    run_line(hub, owner, f"/register {PASSWORD}")
    assert owner.take_lines() == [REGISTERED]
    assert other.lines == []
    assert hub.moderation.account("alice") is not None
    run_line(hub, owner, "/register another password")
    assert owner.lines == ["! You are logged in as alice already."]


def test_register_refuses_a_guest_name() -> None:
    """A guestN name cannot be registered: the server hands those out."""
    hub, _ = hub_on_clock()
    guest = connected(hub, "10.0.0.1")
    run_line(hub, guest, f"/register {PASSWORD}")
    assert guest.lines == ["! Choose your name first (/nick NAME), then /register."]
    assert hub.moderation.accounts == {}


def test_register_refuses_a_password_under_eight_characters() -> None:
    """Seven characters are refused, saying why; eight are enough."""
    hub, _ = hub_on_clock()
    owner = connected(hub, "10.0.0.1", "alice")
    run_line(hub, owner, "/register 7chars!")
    assert owner.take_lines() == ["! A password needs at least 8 characters."]
    assert hub.moderation.accounts == {}
    run_line(hub, owner, "/register 8chars!!")
    assert owner.take_lines() == [REGISTERED]


def test_a_name_registered_already_cannot_be_registered_again() -> None:
    """
    Someone who came by a registered name while accounts were off (a
    reload turns them on again) cannot register it over its owner's.
    """
    hub, _ = hub_on_clock()
    owner = registered(hub)
    hub.disconnect(owner)
    hub.accounts.enabled = False
    squatter = connected(hub, "10.0.0.2", "alice")
    hub.accounts.enabled = True
    stored = hub.moderation.account("alice")
    run_line(hub, squatter, "/register a new password")
    assert squatter.lines == ["! alice is registered already."]
    assert hub.moderation.account("alice") == stored


# The name is kept for its owner


def test_a_registered_name_and_its_look_alikes_are_refused_to_others() -> None:
    """
    Once alice is registered (and gone), /nick alice, ALICE or aIice from
    anyone not logged in as alice gets the README's line, and no rename
    happens.
    """
    hub, _ = hub_on_clock()
    hub.disconnect(registered(hub))
    guest = connected(hub, "10.0.0.2")
    watcher = connected(hub, "10.0.0.3")
    clear(guest)
    for wanted in ("alice", "ALICE", "aIice", "al1ce"):
        run_line(hub, guest, f"/nick {wanted}")
        assert guest.take_lines() == ["! alice is registered: /login alice PASSWORD"]
    assert guest.name == "guest2"
    assert watcher.lines == []


def test_a_login_takes_the_name_from_a_guest_holding_it_and_tells_both() -> None:
    """
    A guest that holds alice (taken while accounts were off) is renamed to
    a fresh guest name when alice logs in; the room sees both renames.
    """
    hub, _ = hub_on_clock()
    hub.disconnect(registered(hub))
    hub.accounts.enabled = False
    holder = connected(hub, "10.0.0.2", "alice")
    hub.accounts.enabled = True
    owner = connected(hub, "10.0.0.3")
    watcher = connected(hub, "10.0.0.4")
    clear(holder, owner)
    run_line(hub, owner, f"/login alice {PASSWORD}")
    assert holder.lines == [
        "*** You are now known as guest5",
        "*** alice is registered and has logged in; you are guest5 now.",
        "*** guest3 is now known as alice",
    ]
    assert owner.lines == [
        "*** alice is now known as guest5",
        "*** You are now known as alice",
        "*** You are logged in as alice.",
    ]
    assert watcher.lines == [
        "*** alice is now known as guest5",
        "*** guest3 is now known as alice",
    ]


def test_logging_in_on_a_second_connection_renames_the_first() -> None:
    """
    alice logged in on one connection logs in on another: the first is a
    guest now (told so, and no longer logged in), the second is alice.
    """
    hub, _ = hub_on_clock()
    first = registered(hub)
    second = connected(hub, "10.0.0.2")
    clear(first)
    run_line(hub, second, f"/login alice {PASSWORD}")
    assert first.take_lines() == [
        "*** You are now known as guest3",
        "*** You logged in as alice elsewhere; this connection is guest3, logged out.",
        "*** guest2 is now known as alice",
    ]
    assert second.take_lines() == [
        "*** alice is now known as guest3",
        "*** You are now known as alice",
        "*** You are logged in as alice.",
    ]
    run_line(hub, first, "/logout")
    assert first.lines == ["! You are not logged in."]


def test_login_ignores_the_case_of_the_name() -> None:
    """/login ALICE logs in as alice, spelled as registered."""
    hub, _ = hub_on_clock()
    hub.disconnect(registered(hub))
    member = connected(hub, "10.0.0.2")
    run_line(hub, member, f"/login ALICE {PASSWORD}")
    assert member.lines == [
        "*** You are now known as alice",
        "*** You are logged in as alice.",
    ]


# Guessing is slow


def test_a_wrong_password_is_answered_only_after_the_delay() -> None:
    """
    A wrong password gets "! Wrong name or password." once the failure
    delay has passed on the hub's clock, not a moment before; the guesser
    keeps its guest name and nobody else hears of it.
    """
    hub, clock = hub_on_clock()
    owner = registered(hub)
    guesser = connected(hub, "10.0.0.2")
    clear(owner)
    run_line(hub, guesser, f"/login alice {WRONG}")
    clock.advance(FAILURE_DELAY_SECONDS - 0.001)
    assert guesser.lines == []
    clock.advance(0.001)
    assert guesser.lines == [WRONG_ANSWER]
    assert guesser.name == "guest2"
    assert owner.lines == []


def test_an_unknown_name_is_answered_like_a_wrong_password() -> None:
    """/login of a name nobody registered: the same line, after the same delay."""
    hub, clock = hub_on_clock()
    guesser = connected(hub, "10.0.0.2")
    run_line(hub, guesser, f"/login nobody {PASSWORD}")
    clock.advance(FAILURE_DELAY_SECONDS - 0.001)
    assert guesser.lines == []
    clock.advance(0.001)
    assert guesser.lines == [WRONG_ANSWER]


def fail_logins(
    hub: Hub, clock: Clock, members: list[FakeMember], names: list[str]
) -> None:
    """Each of C{members} fails to log in as the matching name, one a second."""
    for member, name in zip(members, names, strict=True):
        run_line(hub, member, f"/login {name} {WRONG}")
        clock.advance(FAILURE_DELAY_SECONDS)
        assert member.take_lines() == [WRONG_ANSWER]


def test_five_failures_from_one_address_refuse_the_sixth_at_once() -> None:
    """
    After 5 failures in a minute from one address (for 5 different names),
    a 6th login from it, even with the right password, is refused at once
    with how long to wait; another address may still log in.
    """
    hub, clock = hub_on_clock()
    hub.disconnect(registered(hub))
    guesser = connected(hub, "10.0.0.2")
    names = [f"name{number}" for number in range(MOST_FAILURES)]
    fail_logins(hub, clock, [guesser] * MOST_FAILURES, names)
    # The first failure was 5 s ago: 55 s of its minute are left.
    run_line(hub, guesser, f"/login alice {PASSWORD}")
    assert guesser.take_lines() == ["! Too many failed logins; try again in 55 s."]
    other = connected(hub, "10.0.0.3")
    run_line(hub, other, f"/login alice {PASSWORD}")
    assert other.lines[-1] == "*** You are logged in as alice."


def test_five_failures_for_one_account_refuse_the_sixth_at_once() -> None:
    """
    After 5 failures in a minute for one name, from 5 different addresses,
    a login for it from a 6th address is refused at once; a login for
    another name from that address is not.
    """
    hub, clock = hub_on_clock()
    hub.disconnect(registered(hub))
    hub.disconnect(registered(hub, "bob", "10.0.0.9"))
    guessers = [connected(hub, f"10.0.1.{number}") for number in range(MOST_FAILURES)]
    clear(*guessers)
    fail_logins(hub, clock, guessers, ["alice"] * MOST_FAILURES)
    owner = connected(hub, "10.0.2.1")
    run_line(hub, owner, f"/login alice {PASSWORD}")
    assert owner.take_lines() == ["! Too many failed logins; try again in 55 s."]
    run_line(hub, owner, f"/login bob {PASSWORD}")
    assert owner.lines[-1] == "*** You are logged in as bob."


def test_logins_are_allowed_again_once_the_minute_is_over() -> None:
    """
    The refusal lasts until the oldest of the 5 failures is a minute old:
    a moment before, "try again in 1 s."; then the right password works.
    """
    hub, clock = hub_on_clock()
    hub.disconnect(registered(hub))
    guesser = connected(hub, "10.0.0.2")
    fail_logins(hub, clock, [guesser] * MOST_FAILURES, ["alice"] * MOST_FAILURES)
    clock.advance(WINDOW_SECONDS - MOST_FAILURES * FAILURE_DELAY_SECONDS - 0.5)
    run_line(hub, guesser, f"/login alice {PASSWORD}")
    assert guesser.take_lines() == ["! Too many failed logins; try again in 1 s."]
    clock.advance(0.5)
    run_line(hub, guesser, f"/login alice {PASSWORD}")
    assert guesser.take_lines() == [
        "*** You are now known as alice",
        "*** You are logged in as alice.",
    ]


def test_every_failure_is_logged_and_no_password_is_logged_or_sent() -> None:
    """
    Each failed login is logged with the name tried, the address and the
    count of the last minute; no logged event and no line sent to anyone
    holds any of the passwords typed (registering, logging in right and
    wrong, changing it).
    """
    secrets = ["first-secret-1", "guess-secret-2", "guess-secret-3", "new-secret-4"]
    hub, clock = hub_on_clock()
    with capturedLogs() as events:
        owner = registered(hub, password=secrets[0])
        guesser = connected(hub, "10.0.0.2")
        for guess in secrets[1:3]:
            run_line(hub, guesser, f"/login alice {guess}")
            clock.advance(FAILURE_DELAY_SECONDS)
        run_line(hub, guesser, f"/login nobody {secrets[1]}")
        clock.advance(FAILURE_DELAY_SECONDS)
        run_line(hub, owner, f"/password {secrets[0]} {secrets[3]}")
        run_line(hub, owner, "/logout")
        run_line(hub, owner, f"/login alice {secrets[3]}")
    assert failure_lines(events) == [
        "failed login as alice from 10.0.0.2 (1 in the last minute)",
        "failed login as alice from 10.0.0.2 (2 in the last minute)",
        "failed login as nobody from 10.0.0.2 (3 in the last minute)",
    ]
    assert owner.lines[-1] == "*** You are logged in as alice."
    for secret in secrets:
        for event in events:
            assert secret not in repr(event)
            assert secret not in formatEvent(event)
        for member in (owner, guesser):
            assert secret.encode() not in member.received


# /logout and /password


def test_logout_makes_you_a_guest_and_keeps_the_name_for_you() -> None:
    """
    /logout: a fresh guest name, announced like a rename; the name stays
    registered, so /nick back to it is refused until /login.
    """
    hub, _ = hub_on_clock()
    owner = registered(hub)
    watcher = connected(hub, "10.0.0.2")
    clear(owner)
    run_line(hub, owner, "/logout")
    assert owner.take_lines() == [
        "*** You are now known as guest3",
        "*** Logged out; you are guest3 now.",
    ]
    assert watcher.lines == ["*** alice is now known as guest3"]
    run_line(hub, owner, "/nick alice")
    assert owner.take_lines() == ["! alice is registered: /login alice PASSWORD"]
    run_line(hub, owner, "/logout")
    assert owner.take_lines() == ["! You are not logged in."]


def test_password_change_needs_the_old_one_and_the_new_one_works_next() -> None:
    """
    /password OLD NEW: a wrong OLD is a failed login (answered after the
    delay, logged) and changes nothing; with the right one, the next login
    takes NEW, and OLD no longer works.
    """
    hub, clock = hub_on_clock()
    owner = registered(hub)
    with capturedLogs() as events:
        run_line(hub, owner, f"/password {WRONG} a new password")
        assert owner.take_lines() == []
        clock.advance(FAILURE_DELAY_SECONDS)
    assert owner.take_lines() == [WRONG_ANSWER]
    assert failure_lines(events) == [
        "failed login as alice from 10.0.0.1 (1 in the last minute)"
    ]
    run_line(hub, owner, f"/password {PASSWORD} short")
    assert owner.take_lines() == ["! A password needs at least 8 characters."]
    run_line(hub, owner, f"/password {PASSWORD} a new password")
    assert owner.take_lines() == ["*** Password changed."]
    hub.disconnect(owner)
    member = connected(hub, "10.0.0.2")
    run_line(hub, member, f"/login alice {PASSWORD}")
    clock.advance(FAILURE_DELAY_SECONDS)
    assert member.take_lines() == [WRONG_ANSWER]
    run_line(hub, member, "/login alice a new password")
    assert member.take_lines()[-1] == "*** You are logged in as alice."


def test_password_change_needs_a_login() -> None:
    """/password from a guest is refused, saying how to log in."""
    hub, _ = hub_on_clock()
    guest = connected(hub, "10.0.0.1")
    run_line(hub, guest, f"/password {PASSWORD} a new password")
    assert guest.lines == ["! Log in first: /login NAME PASSWORD."]


# Accounts off, and the password checks themselves


def test_with_accounts_off_the_commands_are_refused_and_names_are_free() -> None:
    """
    Hub(accounts=False): every account command gets the README's line; a
    name registered in the store is first come, first served, and so is
    any other; /help lists no account commands.
    """
    store = MemoryStore()
    with_accounts, _ = hub_on_clock(store=store)
    registered(with_accounts)
    hub, _ = hub_on_clock(store=store, accounts=False)
    member = connected(hub, "10.0.0.1")
    for command in (
        f"/register {PASSWORD}",
        f"/login alice {PASSWORD}",
        "/logout",
        f"/password {PASSWORD} a new password",
    ):
        run_line(hub, member, command)
        assert member.take_lines() == [ACCOUNTS_OFF], command
    run_line(hub, member, "/nick alice")
    assert member.take_lines() == ["*** You are now known as alice"]
    other = connected(hub, "10.0.0.2")
    run_line(hub, other, "/nick alice")
    assert other.take_lines() == ["! The name alice is taken."]
    run_line(hub, other, "/help")
    assert "*** Accounts (/help register first):" not in other.lines


def test_a_check_that_fails_is_answered_plainly_and_logged() -> None:
    """
    When hashing or checking a password fails (a failed Deferred from
    C{run_blocking}), the member gets one clear line, no traceback; the
    failure is logged; the member may try again at once.
    """
    hub, _ = hub_on_clock(
        run_blocking=lambda work: fail(RuntimeError("no threads left"))
    )
    member = connected(hub, "10.0.0.1", "alice")
    with capturedLogs() as events:
        run_line(hub, member, f"/register {PASSWORD}")
        run_line(hub, member, f"/login alice {PASSWORD}")
    assert member.lines == ["! The password could not be checked; try again."] * 2
    failures = [event for event in events if "log_failure" in event]
    assert [formatEvent(event) for event in failures] == [
        "checking a password failed"
    ] * 2
    assert all(
        failure["log_failure"].getErrorMessage() == "no threads left"
        for failure in failures
    )


def test_at_most_sixteen_checks_wait_at_once() -> None:
    """
    With 16 password checks under way, a 17th member's /login is refused
    at once; one member cannot start a second check before its first is
    done; once a check is done, another may start.
    """
    checks = HeldChecks()
    hub, clock = hub_on_clock(run_blocking=checks)
    members = [connected(hub, f"10.0.0.{number}") for number in range(MOST_AT_ONCE + 1)]
    clear(*members)
    # Each for another name: the limit on failures per account stays out of it.
    for number, member in enumerate(members[:MOST_AT_ONCE]):
        run_line(hub, member, f"/login nobody{number} {WRONG}")
    assert len(checks.waiting) == MOST_AT_ONCE
    last = members[MOST_AT_ONCE]
    run_line(hub, last, f"/login somebody {WRONG}")
    assert last.take_lines() == ["! The server is busy checking passwords; try again."]
    run_line(hub, members[0], f"/login nobody0 {WRONG}")
    assert members[0].take_lines() == [
        "! Wait: your last password is still being checked."
    ]
    assert len(checks.waiting) == MOST_AT_ONCE
    checks.finish(1)
    run_line(hub, last, f"/login somebody {WRONG}")
    assert len(checks.waiting) == MOST_AT_ONCE
    assert last.lines == []
    checks.finish()
    clock.advance(FAILURE_DELAY_SECONDS)
    assert last.lines == [WRONG_ANSWER]


def test_overlapping_logins_from_one_address_try_at_most_five_passwords() -> None:
    """
    Sixteen connections from one address each send /login before any
    check has finished: still at most 5 passwords are tried that minute
    from the address (README: after 5 failures in a minute from one
    address, further logins from it are refused at once).
    """
    checks = HeldChecks()
    hub, clock = hub_on_clock(run_blocking=checks)
    guessers = [connected(hub, "10.0.0.7") for _ in range(MOST_AT_ONCE)]
    clear(*guessers)
    for number, guesser in enumerate(guessers):
        run_line(hub, guesser, f"/login alice guess-{number}")
    checks.finish()
    clock.advance(FAILURE_DELAY_SECONDS)
    answers = [line for guesser in guessers for line in guesser.lines]
    assert answers.count(WRONG_ANSWER) <= MOST_FAILURES


def test_a_password_with_a_space_can_be_changed() -> None:
    """
    A password /register accepted, spaces and all, can be given as OLD to
    /password.
    """
    hub, _ = hub_on_clock()
    owner = registered(hub, password="correct horse battery")
    run_line(hub, owner, "/password correct horse battery staple-and-more")
    assert owner.lines == ["*** Password changed."]


def test_a_login_elsewhere_ends_the_first_login_whatever_it_is_called() -> None:
    """
    alice, logged in, renames herself ally; alice's /login on another
    connection leaves ally a guest, no longer logged in as alice.
    """
    hub, _ = hub_on_clock(operators=["alice"])
    first = registered(hub)
    run_line(hub, first, "/nick ally")
    second = connected(hub, "10.0.0.2")
    run_line(hub, second, f"/login alice {PASSWORD}")
    clear(first)
    run_line(hub, first, "/logout")
    assert first.lines == ["! You are not logged in."]
