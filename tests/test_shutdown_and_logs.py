"""Graceful shutdown and what the log says (and never says)."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable

import pytest

from tests.support import ChatDaemon, wait_for
from twisted_chat import text

StartDaemon = Callable[..., ChatDaemon]


def exactly(line: text.LineFormat, **fields: object) -> str:
    """A pattern for exactly this line of the chat, whatever its format."""
    return f"^{re.escape(line.format(**fields))}$"


def who(count: int) -> str:
    """A pattern for the answer to /who with C{count} people here."""
    return f"^{re.escape(text.WHO.format(count=count, text=''))}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_shutdown_flushes_pending_output_first(
    start_daemon: StartDaemon, sig: signal.Signals
) -> None:
    daemon = start_daemon("--rate", "0")
    sender = daemon.connect()
    sender.nick("s")
    slow = daemon.connect()  # does not read until the daemon is told to stop
    sender.send(b"".join(b"pending %d %s\n" % (n, b"q" * 200) for n in range(1000)))
    sender.send("/who")
    sender.expect(who(2))  # the daemon has read all the sender's lines
    daemon.process.send_signal(sig)  # type: ignore[union-attr]
    slow.count_lines(lambda line: line.startswith("<s> pending "), 1000)
    slow.expect(exactly(text.NOTICE, text="server shutting down"))
    slow.expect_closed()
    numbers = [int(line.split()[2]) for line in slow.lines if line.startswith("<s> ")]
    assert numbers == list(range(1000))
    # twistd ends by re-raising the signal it got, so the parent sees why.
    assert daemon.wait_exit() == -sig


def test_shutdown_does_not_wait_forever_for_a_client_that_never_reads(
    start_daemon: StartDaemon,
) -> None:
    daemon = start_daemon("--rate", "0")
    sender = daemon.connect()
    stuck = daemon.connect(receive_buffer=4096)
    sender.send(b"".join(b"%d %s\n" % (n, b"w" * 500) for n in range(1500)))
    sender.send("/who")
    sender.expect(who(2))
    # stop() fails after DEADLINE_SECONDS; the daemon's own grace is 5 s.
    assert daemon.stop(signal.SIGTERM) == -signal.SIGTERM
    assert "shutting down: closing 2 connections" in daemon.log()
    stuck.expect_closed()


def test_log_has_connections_and_reasons_never_message_contents(
    daemon: ChatDaemon,
) -> None:
    alice, bob = daemon.connect(), daemon.connect()
    alice.nick("alice")
    secret = "the-password-is-swordfish"
    alice.send(secret)
    alice.send(f"/msg guest2 {secret}")
    alice.send(f"/me {secret}")
    bob.expect(exactly(text.ACTION, name="alice", text=secret))
    bob.reset()
    alice.expect(exactly(text.LEFT, name="guest2"))
    log = wait_for(
        lambda: daemon.log() if "(guest2) disconnected" in daemon.log() else None,
        what="the disconnect in the log",
    )
    assert secret not in log
    assert "127.0.0.1:" in log
    assert "connected as guest1" in log
    assert "(guest2) disconnected: Connection to the other side was lost" in log
