"""
Signal handlers never do their work in signal context (Twisted issue 7736:
a SIGTERM that lands while the log is busy used to hang twistd for good).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from twisted_chat.signals import in_reactor

PROBE = Path(__file__).with_name("signal_probe.py")


class QueueingReactor:
    def __init__(self) -> None:
        self.calls: list[tuple[object, tuple[object, ...]]] = []

    def callFromThread(self, f: object, *args: object) -> None:
        self.calls.append((f, args))


def test_in_reactor_only_queues_the_handler() -> None:
    reactor = QueueingReactor()
    ran: list[int] = []
    handler = in_reactor(reactor, lambda number, frame: ran.append(number))
    handler(signal.SIGTERM, None)
    assert ran == []
    [(function, args)] = reactor.calls
    function(*args)  # type: ignore[operator]
    assert ran == [signal.SIGTERM]


def probe(*arguments: str) -> dict[str, list[str]]:
    result = subprocess.run(
        [sys.executable, str(PROBE), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, list[str]] = json.loads(result.stdout)
    return report


def test_sigterm_while_logging_is_handled_after_the_log_event() -> None:
    twisted_own = probe()
    if not twisted_own["inside"]:
        pytest.skip("Twisted's own handler no longer logs in signal context")
    ours = probe("--ours")
    assert ours["inside"] == []
    # Still handled: logged, and the reactor stopped.
    assert "Received SIGTERM, shutting down." in ours["after"]
    assert "Main loop terminated." in ours["after"]
