"""
Moderation against the real daemon: C{twistd -n chat} as a child process,
plain sockets from 127.0.0.1 and, for the one to ban by address, from
127.0.0.2 (Linux's loopback takes the whole of 127.0.0.0/8). A server
operator from the configuration file kicks and bans; server bans are
refused at connect time and end on the daemon's clock; mutes from both
sides; room bans follow the account; all of it survives a restart with
--history-db.
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

StartDaemon = Callable[..., ChatDaemon]

PASSWORD = "operator-password"
#: Where the client to ban connects from (the others are on 127.0.0.1).
ELSEWHERE = "127.0.0.2"


def register(daemon: ChatDaemon, name: str, **options: object) -> LineClient:
    """A client called C{name} that registered it with PASSWORD."""
    return register_client(daemon, name, PASSWORD, **options)


def with_operator(
    start_daemon: StartDaemon, tmp_path: Path, *options: str
) -> ChatDaemon:
    """A daemon whose configuration file names alice a server operator."""
    config = tmp_path / "chat.toml"
    config.write_text('operators = ["alice"]\n')
    return start_daemon("--config", str(config), *options)


def until_any(start: float, end: float, seconds: float) -> set[str]:
    """
    How the daemon may show the end of a restriction of C{seconds} set
    between C{start} and C{end} (wall clock): C{until 21:30} today, else
    with the date.
    """
    shown = set()
    for moment in (start + seconds, end + seconds):
        local = time.localtime(moment)
        dated = local[:3] != time.localtime(moment - seconds)[:3]
        shown.add(
            time.strftime("until %Y-%m-%d %H:%M" if dated else "until %H:%M", local)
        )
    return shown


def refused_at_connect(daemon: ChatDaemon, source: str) -> list[str]:
    """
    Connect from C{source}: the lines a refusal sends before closing,
    or [] when the connection is greeted instead.
    """
    client = LineClient(daemon.port, source=source)
    try:
        first = client.read_lines(1)
        if first[0].startswith("*** Welcome to "):
            return []
        client.expect_closed()
        return first + client.lines[1:]
    finally:
        client.close()


def test_a_server_operator_from_the_configuration_file_kicks(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """
    operators = ["alice"] in the file, alice logged in: /who marks her @;
    her /kick in #dev sends carol to the lobby; in the lobby, bob off the
    server, told why; the rooms see each kick; the audit is logged.
    """
    chat = with_operator(start_daemon, tmp_path)
    alice = register(chat, "alice")
    bob, carol = person(chat, "bob"), person(chat, "carol")
    for client in (alice, bob, carol):
        caught_up(client)
    alice.send("/who")
    assert alice.read_lines(1) == ["*** 3 here: @alice, bob, carol"]
    for client in (alice, carol):
        client.send("/join dev")
        client.expect(r"^\*\*\* You are in #dev: ")
    caught_up(alice)
    caught_up(bob)
    alice.send("/kick carol off topic")
    assert alice.read_lines(2) == [
        "*** alice kicked carol (off topic)",
        "*** carol has left",
    ]
    assert carol.read_lines(3) == [
        "*** alice kicked carol (off topic)",
        "! You were kicked from #dev by alice (off topic).",
        "*** You are in #lobby: 2 here",
    ]
    assert bob.read_lines(1) == [text.JOINED.format(name="carol")]
    alice.send("/join lobby")
    alice.expect(r"^\*\*\* You are in #lobby: ")
    for client in (bob, carol):
        client.expect(exactly(text.JOINED, name="alice"))
    alice.send("/kick bob spamming")
    assert bob.read_lines(2) == [
        "*** alice kicked bob (spamming)",
        "! You were kicked from #lobby by alice (spamming).",
    ]
    bob.expect_closed()
    assert carol.read_lines(2) == [
        "*** alice kicked bob (spamming)",
        "*** bob has left",
    ]
    wait_for(
        lambda: "audit: alice kicked bob in #lobby" in chat.log(), what="the audit"
    )
    assert "audit: alice kicked carol in #dev" in chat.log()


def test_a_server_ban_of_an_address_refuses_it_at_connect_time(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """
    /ban --server 127.0.0.2 spam: the client there is told and closed; a
    new connection from it gets one line, the ban, and is closed, while
    127.0.0.1 is greeted; /unban --server lets 127.0.0.2 in again.
    """
    chat = with_operator(start_daemon, tmp_path)
    alice = register(chat, "alice")
    eve = person(chat, "eve", source=ELSEWHERE)
    caught_up(alice)
    alice.send(f"/ban --server {ELSEWHERE} spam")
    assert alice.read_lines(1) == [f"*** alice banned {ELSEWHERE}/32 (spam)"]
    assert eve.read_lines(2) == [
        f"*** alice banned {ELSEWHERE}/32 (spam)",
        "! You are banned from this server until lifted (spam).",
    ]
    eve.expect_closed()
    assert refused_at_connect(chat, ELSEWHERE) == [
        "! Banned from this server until lifted (spam)."
    ]
    assert refused_at_connect(chat, "127.0.0.1") == []
    alice.send(f"/unban --server {ELSEWHERE}")
    alice.expect(f"^{re.escape(f'*** alice unbanned {ELSEWHERE}')}$")
    assert refused_at_connect(chat, ELSEWHERE) == []


def test_a_short_server_ban_ends_on_the_daemon_clock(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """
    /ban --server 127.0.0.2 3s: connections from it are refused, saying
    until when, and greeted again once 3 seconds have passed, not before.
    """
    chat = with_operator(start_daemon, tmp_path)
    alice = register(chat, "alice")
    caught_up(alice)
    start = time.time()
    alice.send(f"/ban --server {ELSEWHERE} 3s")
    alice.expect(f"^{re.escape(f'*** alice banned {ELSEWHERE}/32 for 3s')}$")
    shown = until_any(start, time.time(), 3)
    refusal = refused_at_connect(chat, ELSEWHERE)
    assert len(refusal) == 1
    assert refusal[0] in {f"! Banned from this server {end}." for end in shown}
    wait_for(
        lambda: refused_at_connect(chat, ELSEWHERE) == [],
        what="the ban to end",
        interval=0.2,
    )
    assert time.time() - start >= 3


def test_a_mute_is_seen_from_both_sides(daemon: ChatDaemon) -> None:
    """
    alice made #dev; her /mute bob 1h flood is announced; bob's lines and
    actions are refused to him, saying until when and why, and reach no
    one; /unmute bob lets them through again.
    """
    alice = register(daemon, "alice")
    bob, carol = person(daemon, "bob"), person(daemon, "carol")
    for count, client in enumerate((alice, bob, carol), start=1):
        client.send("/join dev")
        client.expect(exactly(text.NOW_IN, room="dev", count=count))
    for client in (alice, bob):
        caught_up(client)
    start = time.time()
    alice.send("/mute bob 1h flood")
    for client in (alice, bob, carol):
        client.expect(r"^\*\*\* alice muted bob for 1h \(flood\)$")
    shown = until_any(start, time.time(), 3600)
    refusals = {f"! Not sent: you are muted in #dev {end} (flood)." for end in shown}
    bob.send("can you hear me?")
    bob.send("/me shouts")
    for line in bob.read_lines(2):
        assert line in refusals
    for client in (alice, carol):
        assert_nothing_more(client)
    alice.send("/unmute bob")
    for client in (alice, bob, carol):
        assert client.read_lines(1) == ["*** alice unmuted bob"]
    bob.send("back")
    assert carol.read_lines(1) == [text.MESSAGE.format(name="bob", text="back")]


def test_a_room_ban_follows_the_account_to_another_address(daemon: ChatDaemon) -> None:
    """
    alice bans bob (logged in) from #dev: he is sent to the lobby; from
    127.0.0.2, logged in as bob, /join dev is refused; a guest from
    127.0.0.1, bob's first address, may join.
    """
    alice = register(daemon, "alice")
    bob = register(daemon, "bob")
    for count, client in enumerate((alice, bob), start=1):
        client.send("/join dev")
        client.expect(exactly(text.NOW_IN, room="dev", count=count))
    caught_up(alice)
    alice.send("/ban bob")
    assert alice.read_lines(2) == ["*** alice banned bob", "*** bob has left"]
    bob.expect(r"^\*\*\* alice banned bob$")
    assert bob.read_lines(2) == [
        "! You are banned from #dev until lifted.",
        "*** You are in #lobby: 1 here",
    ]
    bob.close()
    again = daemon.connect(source=ELSEWHERE)
    again.send(f"/login bob {PASSWORD}")
    again.expect(r"^\*\*\* You are logged in as bob\.$")
    again.send("/join dev")
    assert again.read_lines(1) == ["! You are banned from #dev until lifted."]
    guest = daemon.connect()
    guest.send("/join dev")
    guest.expect(exactly(text.NOW_IN, room="dev", count=2))


def test_accounts_and_bans_survive_a_restart_with_the_database(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """
    With --history-db, after SIGTERM and a new daemon on the same file:
    alice still logs in (and is a server operator, from the file), a guest
    still cannot take her name, the server ban still refuses 127.0.0.2 at
    connect time and is listed by /bans --server.
    """
    database = tmp_path / "chat.db"
    first = with_operator(start_daemon, tmp_path, "--history-db", str(database))
    alice = register(first, "alice")
    person(first, "eve", source=ELSEWHERE)
    caught_up(alice)
    alice.send(f"/ban --server {ELSEWHERE} spam")
    alice.expect(f"^{re.escape(f'*** alice banned {ELSEWHERE}/32 (spam)')}$")
    assert first.stop(signal.SIGTERM) == -signal.SIGTERM

    second = with_operator(start_daemon, tmp_path, "--history-db", str(database))
    assert refused_at_connect(second, ELSEWHERE) == [
        "! Banned from this server until lifted (spam)."
    ]
    guest = second.connect()
    guest.send("/nick alice")
    assert guest.read_lines(1) == ["! alice is registered: /login alice PASSWORD"]
    owner = second.connect()
    owner.send(f"/login alice {PASSWORD}")
    assert owner.read_lines(2) == [
        "*** You are now known as alice",
        "*** You are logged in as alice.",
    ]
    owner.send("/bans --server")
    assert owner.read_lines(1) == [
        f"*** ban {ELSEWHERE}/32 until lifted (spam), by alice"
    ]
    owner.send("/who")
    assert owner.read_lines(1) == [f"*** 2 here: @alice, {guest_name(guest)}"]
