"""
Signal handlers that do their work in the reactor, never in signal context.

A Python signal handler runs in the main thread between two bytecodes of
whatever it interrupted. Twisted's own SIGTERM and SIGINT handlers log
("Received SIGTERM") right there; if the signal lands while the log
observer is half-way through taking its lock (Twisted's synchronized
methods use a pure-Python RLock), the handler waits for a lock its own
thread holds and the daemon never stops (Twisted issue 7736). We saw
exactly that: one SIGTERM in some fifty left twistd hung.

So every handler installed here only queues its work with
C{callFromThread}, which appends to a list and writes a byte to the
reactor's waker pipe: no lock, no logging, nothing that can deadlock.

A signal left at its default action kills the process, so a routine one
(SIGUSR1 from a logrotate hook) must always have a handler:
L{handle_unless_handled}.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Protocol


class _ThreadCalls(Protocol):
    def callFromThread(self, f: Callable[..., object], *args: object) -> None: ...


SignalHandler = Callable[[int, FrameType | None], object]


def in_reactor(reactor: _ThreadCalls, handler: SignalHandler) -> SignalHandler:
    """
    A signal handler that runs C{handler(number, None)} in the reactor's next
    iteration instead of in signal context.
    """

    def on_signal(number: int, frame: FrameType | None) -> None:
        reactor.callFromThread(handler, number, None)

    return on_signal


def move_shutdown_handlers(reactor: _ThreadCalls) -> None:
    """
    Make the reactor's SIGTERM and SIGINT handlers run in the reactor.

    Call it once the reactor has installed them (C{callWhenRunning}). What
    they do is unchanged (log, stop, and have twistd end by re-raising the
    signal); only where they run changes. A signal whose handler is not a
    Python callable (ignored, or the default) is left alone.
    """
    for number in (signal.SIGTERM, signal.SIGINT):
        current = signal.getsignal(number)
        if callable(current) and current is not signal.default_int_handler:
            signal.signal(number, in_reactor(reactor, current))


def handle_unless_handled(
    reactor: _ThreadCalls, number: int, handler: SignalHandler
) -> bool:
    """
    Run C{handler} in the reactor on signal C{number}, unless the signal
    already has a handler or is ignored (twistd's C{--logfile} installs its
    own SIGUSR1 rotation, which stays). True if C{handler} was installed.
    """
    if signal.getsignal(number) not in (signal.SIG_DFL, None):
        return False
    signal.signal(number, in_reactor(reactor, handler))
    return True
