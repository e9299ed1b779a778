"""
Accounts against the real daemon: C{twistd -n chat} as a child process,
plain sockets on 127.0.0.1. /register and /login across connections, a
guest on a name when its owner logs in (accounts turned off and on again by
a reload), guessing slowed then refused, what is logged, --accounts off.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.support import (
    ChatDaemon,
    LineClient,
    assert_nothing_more,
    caught_up,
    exactly,
    guest_name,
    person,
    register_client,
    wait_for,
)
from twisted_chat import text
from twisted_chat.core.accounts import (
    FAILURE_DELAY_SECONDS,
    MOST_FAILURES,
    WINDOW_SECONDS,
)

StartDaemon = Callable[..., ChatDaemon]

PASSWORD = "alice-password-1"
WRONG_ANSWER = "! Wrong name or password."
TAKEN_BACK = ["*** You are now known as alice", "*** You are logged in as alice."]


def register(daemon: ChatDaemon, name: str) -> LineClient:
    """A client called C{name} that registered it with PASSWORD."""
    return register_client(daemon, name, PASSWORD)


def reload_with(daemon: ChatDaemon, config: Path, settings: str, reloads: int) -> None:
    """Write C{settings} to C{config}, SIGHUP, and wait for the C{reloads}th reload."""
    assert daemon.process is not None
    config.write_text(settings)
    daemon.process.send_signal(signal.SIGHUP)
    wait_for(
        lambda: daemon.log().count("reloaded ") >= reloads, what=f"reload {reloads}"
    )


def test_a_registered_name_is_kept_and_taken_back_from_another_connection(
    daemon: ChatDaemon,
) -> None:
    """
    alice registers and leaves; a guest's /nick alice (or aIice) gets the
    README's line; /login from a new connection makes it alice, and the
    room sees the rename.
    """
    alice = person(daemon, "alice")
    alice.send(f"/register {PASSWORD}")
    assert alice.read_lines(1) == [
        "*** alice is yours now: /login alice PASSWORD takes it back,"
        " from any connection."
    ]
    watcher = daemon.connect()
    alice.close()
    watcher.expect(exactly(text.LEFT, name="alice"))
    guest = daemon.connect()
    for wanted in ("alice", "aIice", "ALICE"):
        guest.send(f"/nick {wanted}")
        assert guest.read_lines(1) == ["! alice is registered: /login alice PASSWORD"]
    owner = daemon.connect()
    caught_up(watcher)
    owner.send(f"/login alice {PASSWORD}")
    assert owner.read_lines(2) == TAKEN_BACK
    assert watcher.read_lines(1) == [
        text.RENAMED.format(old=guest_name(owner), new="alice")
    ]
    assert_nothing_more(watcher)


def test_logging_in_again_elsewhere_renames_the_first_connection(
    daemon: ChatDaemon,
) -> None:
    """
    alice, logged in, logs in on a second connection: the first is given
    a guest name and told why; the second is alice.
    """
    first = register(daemon, "alice")
    second = daemon.connect()
    caught_up(first)
    second.send(f"/login alice {PASSWORD}")
    renamed = first.expect(r"^\*\*\* You are now known as (guest\d+)$").group(1)
    assert first.read_lines(2) == [
        f"*** You logged in as alice elsewhere; this connection is {renamed}, "
        "logged out.",
        text.RENAMED.format(old=guest_name(second), new="alice"),
    ]
    assert second.read_lines(3) == [
        text.RENAMED.format(old="alice", new=renamed),
        *TAKEN_BACK,
    ]
    first.send("/logout")
    assert first.read_lines(1) == ["! You are not logged in."]


def test_a_guest_on_the_name_is_renamed_when_its_owner_logs_in(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """
    A guest took alice while a reload had turned accounts off; once they
    are on again, alice's /login takes the name: the guest gets a guest
    name and is told so, and both see each other's rename.
    """
    config = tmp_path / "chat.toml"
    config.write_text("accounts = true\n")
    chat = start_daemon("--config", str(config))
    register(chat, "alice").close()
    wait_for(lambda: "(alice) disconnected" in chat.log(), what="alice to leave")
    reload_with(chat, config, "accounts = false\n", 1)
    squatter = person(chat, "alice")
    reload_with(chat, config, "accounts = true\n", 2)
    owner = chat.connect()
    caught_up(squatter)
    owner.send(f"/login alice {PASSWORD}")
    renamed = owner.expect(r"^\*\*\* alice is now known as (guest\d+)$").group(1)
    assert owner.read_lines(2) == TAKEN_BACK
    assert squatter.read_lines(3) == [
        text.YOUR_NAME.format(name=renamed),
        f"*** alice is registered and has logged in; you are {renamed} now.",
        text.RENAMED.format(old=guest_name(owner), new="alice"),
    ]


def test_guessing_is_slowed_then_refused_and_logged_without_passwords(
    daemon: ChatDaemon,
) -> None:
    """
    Each wrong password is answered a second or more after it was sent;
    after 5, even the right one is refused at once, saying how long to
    wait; the log has one line a failure, with the guesser's address and
    port and the count, and none of the passwords.
    """
    register(daemon, "alice")
    guesser = daemon.connect()
    guesses = [f"guess-number-{number}" for number in range(MOST_FAILURES)]
    for guess in guesses:
        sent = time.monotonic()
        guesser.send(f"/login alice {guess}")
        assert guesser.read_lines(1) == [WRONG_ANSWER]
        assert time.monotonic() - sent >= FAILURE_DELAY_SECONDS
    sent = time.monotonic()
    guesser.send(f"/login alice {PASSWORD}")
    refusal = guesser.expect(r"^! Too many failed logins; try again in (\d+) s\.$")
    assert time.monotonic() - sent < FAILURE_DELAY_SECONDS
    # The first failure was counted 5 answers (at least 5 s) ago.
    most = WINDOW_SECONDS - MOST_FAILURES * FAILURE_DELAY_SECONDS
    assert most - 15 <= int(refusal.group(1)) <= most
    port = guesser.sock.getsockname()[1]
    assert daemon.stop(signal.SIGTERM) == -signal.SIGTERM
    logged = re.findall(r"failed login as .*", daemon.log())
    assert logged == [
        f"failed login as alice from 127.0.0.1:{port} ({count} in the last minute)"
        for count in range(1, MOST_FAILURES + 1)
    ]
    for password in (PASSWORD, *guesses):
        assert password not in daemon.log()


def test_with_accounts_off_names_are_first_come_first_served(
    start_daemon: StartDaemon,
) -> None:
    """
    --accounts off: the account commands say so, and a name is whoever's
    took it first.
    """
    chat = start_daemon("--accounts", "off")
    first = person(chat, "alice")
    for command in (f"/register {PASSWORD}", f"/login bob {PASSWORD}", "/logout"):
        first.send(command)
        assert first.read_lines(1) == ["! Accounts are off on this server."]
    second = chat.connect()
    second.send("/nick alice")
    assert second.read_lines(1) == ["! The name alice is taken."]
    first.close()
    second.expect(exactly(text.LEFT, name="alice"))
    second.nick("alice")


def test_overlapping_guesses_from_one_address_get_at_most_five_tries(
    daemon: ChatDaemon,
) -> None:
    """
    Sixteen connections from one address send /login at once: at most 5
    of them have their password tried (the others are refused at once).
    """
    register(daemon, "alice")
    guessers = [daemon.connect() for _ in range(16)]
    for number, guesser in enumerate(guessers):
        guesser.send(f"/login alice overlapping-{number}")
    answers = [guesser.expect(r"^! (Wrong|Too many)").group(0) for guesser in guessers]
    assert answers.count("! Wrong") <= MOST_FAILURES
