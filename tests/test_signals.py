"""
Signal handlers never do their work in signal context (Twisted issue 7736:
a SIGTERM that lands while the log is busy used to hang twistd for good),
and a routine signal always has a handler.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from twisted_chat.daemon.signals import handle_unless_handled, in_reactor

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


@pytest.fixture
def usr1_restored() -> Iterator[None]:
    """SIGUSR1's handler in this process is put back after the test."""
    before = signal.getsignal(signal.SIGUSR1)
    yield
    signal.signal(signal.SIGUSR1, before)


@pytest.mark.usefixtures("usr1_restored")
def test_a_signal_left_at_its_default_gets_a_handler_that_only_queues() -> None:
    """A signal whose default action kills gets our handler, run in the reactor."""
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    reactor = QueueingReactor()
    ran: list[int] = []
    assert handle_unless_handled(
        reactor, signal.SIGUSR1, lambda number, frame: ran.append(number)
    )
    installed = signal.getsignal(signal.SIGUSR1)
    assert callable(installed)
    installed(signal.SIGUSR1, None)
    assert ran == []  # nothing ran in signal context
    [(function, args)] = reactor.calls
    function(*args)  # type: ignore[operator]
    assert ran == [signal.SIGUSR1]


@pytest.mark.usefixtures("usr1_restored")
def test_a_signal_already_handled_or_ignored_is_left_alone() -> None:
    """twistd's own --logfile rotation on SIGUSR1 (or an ignore) stays in place."""

    def twistd_rotation(number: int, frame: FrameType | None) -> None:
        pass

    for existing in (twistd_rotation, signal.SIG_IGN):
        signal.signal(signal.SIGUSR1, existing)
        reactor = QueueingReactor()
        assert not handle_unless_handled(
            reactor, signal.SIGUSR1, lambda number, frame: None
        )
        assert signal.getsignal(signal.SIGUSR1) is existing
