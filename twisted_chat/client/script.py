"""
The client without a terminal, for scripts: every line is sent, none is
lost silently, and the exit status says whether the server took them all.

The server refuses lines over its rate (a token bucket: so many lines a
second after a burst) and over its length, and says so in a line a script
cannot be expected to watch for. So the client watches: it asks the server
for its limits (C{/limits}) before sending anything, paces its lines safely
inside them, and at the end asks again. The server reports every refused
line before it answers a command, so when that last answer arrives the
notices seen since the first one add up to exactly the lines not sent.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable
from typing import TextIO

from twisted.internet import defer
from twisted.internet.interfaces import (
    IDelayedCall,
    IHalfCloseableProtocol,
    IReactorTime,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_chat.client.pacing import (
    ANY_SLOW_DOWN,
    DOCUMENTED_DEFAULTS,
    LINE_TOO_LONG,
    SLOW_DOWN,
    LineBudget,
    ServerLimits,
    limits_answer,
)
from twisted_chat.client.session import ChatSession
from twisted_chat.client.tls import PROGRAM
from twisted_chat.syntax import split_command

#: Until the server answers /limits, and for one that never does.
LIMITS_ANSWER_SECONDS = 5.0
#: Ask again when the closing /limits has had no answer for this long
#: (the rate may have dropped under us, and refused the question itself).
SYNC_RETRY_SECONDS = 3.0
#: After sending the script's /quit, how long the server has to close.
QUIT_GRACE_SECONDS = 5.0
#: Stop reading input while this many lines wait; read again below the low mark.
QUEUE_HIGH, QUEUE_LOW = 10_000, 1_000


# Who asked the /limits a LIMITS answer is for (answers come in order).
_START, _SYNC, _THEIRS = "start", "sync", "theirs"


@implementer(IHalfCloseableProtocol)
class ScriptLines(Protocol):
    """
    The local side without a terminal: input lines go to the server, paced
    by a L{LineBudget}; server lines are printed as they are; notices go to
    stderr; the end of input (or a C{/quit} line) ends the session once the
    server has confirmed the lines.

    Guarantees: every non-blank input line, a last one without a newline
    too, is sent in order, except a line over the server's length limit,
    which is not sent; lines after C{/quit} are ignored. L{report} is None
    only when the server is known to have accepted every line sent (or
    never answers /limits, so cannot tell); otherwise it is one line saying
    how many were not sent and why.
    """

    def __init__(
        self, session: ChatSession, clock: IReactorTime, errors: TextIO = sys.stderr
    ) -> None:
        self.session = session
        self.clock = clock
        self.errors = errors
        self.done: defer.Deferred[None] = defer.Deferred()
        self._partial = b""
        self._queue: deque[str] = deque()
        self._read = 0
        self._input_ended = False
        self._quit_read = False
        self._finished = False
        self._paused = False
        self._stdout_gone = False
        # Totals over the whole run.
        self._refused_rate = 0
        self._refused_length = 0
        self._unconfirmed = 0
        self._inexact = False
        # This connection.
        self._budget = LineBudget(clock, DOCUMENTED_DEFAULTS)
        self._ready = False
        self._answers: bool | None = None
        self._pending: deque[str] = deque()
        self._control: deque[str] = deque()
        self._sent_here = 0
        self._refused_rate_here = 0
        self._refused_length_here = 0
        # Closing questions asked and not answered; whether one is awaited.
        self._syncs = 0
        self._asking = False
        self._timers: dict[str, IDelayedCall] = {}

    # The input: Twisted's hooks

    def dataReceived(self, data: bytes) -> None:
        *lines, self._partial = (self._partial + data).split(b"\n")
        for raw in lines:
            self._take(raw)
        if len(self._queue) > QUEUE_HIGH and not self._paused:
            self._paused = True
            self.transport.pauseProducing()  # type: ignore[union-attr]
        self._pump()

    def readConnectionLost(self) -> None:
        if self._partial:
            self._take(self._partial)
            self._partial = b""
        self._input_ended = True
        self._pump()

    def writeConnectionLost(self) -> None:
        self._stdout_gone = True

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if not self.done.called:
            self.done.callback(None)

    def close(self) -> None:
        """Close stdio once what is printed has been written (fires L{done})."""
        self.transport.loseConnection()  # type: ignore[union-attr]
        if self._stdout_gone and not self.done.called:
            self.done.callback(None)

    def _take(self, raw: bytes) -> None:
        line = raw.removesuffix(b"\r").decode("utf-8", "replace")
        if self._quit_read or not line.strip():
            return  # the server ignores blank lines; after /quit, nothing
        command = split_command(line)
        if command is not None and command[0] == "quit":
            self._quit_read = True
            return
        self._read += 1
        self._queue.append(line)

    # The session's Screen

    def show(self, line: str) -> None:
        if self.transport is not None:
            self.transport.write(line.encode("utf-8") + b"\n")

    def show_own(self, line: str) -> None:
        """A script already has what it sent."""

    def notice(self, line: str) -> None:
        self.errors.write(f"{line}\n")
        self.errors.flush()

    def set_name(self, name: str) -> None:
        """Plain lines have no prompt to update."""

    # The session's ConnectionObserver

    def connection_made(self) -> None:
        self._ready, self._answers = False, None
        self._syncs, self._asking = 0, False
        self._sent_here = self._refused_rate_here = self._refused_length_here = 0
        self._pending.clear()
        self._control.clear()
        # The first line is /limits; the name waits for its answer, paced.
        self.session.send_line("/limits")
        self._pending.append(_START)
        self._budget = LineBudget(self.clock, DOCUMENTED_DEFAULTS, spent=1)
        self._later("limits", LIMITS_ANSWER_SECONDS, self._no_limits_answer)
        if self.session.names.wanted:
            self._control.append(f"/nick {self.session.names.wanted}")

    def line_received(self, line: str) -> bool:
        if (fields := SLOW_DOWN.parse(line)) is not None:
            self._refused_rate_here += int(fields["count"])
            self._drained(fields)
            return False
        if (fields := ANY_SLOW_DOWN.parse(line)) is not None:
            self._refused_rate_here += 1  # at least
            self._inexact = True
            self._drained(fields)
            return False
        if LINE_TOO_LONG.parse(line) is not None:
            self._refused_length_here += 1
            return False
        limits = limits_answer(line)
        if limits is None or not self._pending:
            return False
        asker = self._pending.popleft()
        self._budget.adopt(limits)
        if asker == _THEIRS:
            return False
        self._answers = True
        if asker == _START and not self._ready:
            self._cancel("limits")
            self._ready = True
        elif asker == _SYNC and self._syncs:
            # Answers come in order, and a refused question gets none: if we
            # had to ask again, the questions before were refused, and
            # counted in the notices.
            presumed = min(self._syncs - 1, self._refused_rate_here)
            self._refused_rate_here -= presumed
            self._confirmed()
        self._pump()
        return True

    def connection_lost(self) -> None:
        for name in list(self._timers):
            self._cancel(name)
        self._refused_rate += self._refused_rate_here
        self._refused_length += self._refused_length_here
        refused = self._refused_rate_here + self._refused_length_here
        self._unconfirmed += max(0, self._sent_here - refused)
        self._sent_here = self._refused_rate_here = self._refused_length_here = 0
        self._ready, self._syncs, self._asking = False, 0, False

    # Sending

    def _pump(self) -> None:
        """Send what may be sent now; come back when the budget allows more."""
        if self._finished:
            return
        if self.session.server is None and self._end_read() and not self._queue:
            self._finish()  # nothing left to send: no need to wait for a server
            return
        while self._ready and not self._finished and self.session.server is not None:
            if "pace" in self._timers:
                return
            if self._paused and len(self._queue) < QUEUE_LOW:
                self._paused = False
                self.transport.resumeProducing()  # type: ignore[union-attr]
            if self._control:
                line, ours = self._control[0], True
            elif self._queue:
                line, ours = self._queue[0], False
                length = self._budget.limits.length
                if length and len(line.encode("utf-8")) > length:
                    self._queue.popleft()
                    self._refused_length += 1
                    continue
            elif not self._end_read() or self._asking:
                return
            elif self._sent_here and self._answers:
                line, ours = "/limits", True
            else:
                self._finish()
                return
            delay = self._budget.delay()
            if delay > 0:
                self._later("pace", delay, self._pump)
                return
            self._budget.spend()
            self._send(line, ours)

    def _end_read(self) -> bool:
        """Whether the input is over (its end, or /quit)."""
        return self._input_ended or self._quit_read

    def _send(self, line: str, ours: bool) -> None:
        if ours and line == "/limits":
            self._syncs += 1
            self._asking = True
            self._pending.append(_SYNC)
            self._later("sync", SYNC_RETRY_SECONDS, self._sync_unanswered)
        elif ours:
            self._control.popleft()
        else:
            self._queue.popleft()
            self._sent_here += 1
            command = split_command(line)
            if command is not None and command[0] == "limits":
                self._pending.append(_THEIRS)
        self.session.send_line(line)

    def _finish(self) -> None:
        """Every line is sent and confirmed: leave, with /quit if it asked."""
        self._finished = True
        self._sent_here = 0  # confirmed, or a server that cannot tell us
        if not self._quit_read:
            self.session.quit()
            return
        delay = self._budget.delay()
        if delay > 0:
            self._later("quit", delay, self._send_quit)
        else:
            self._send_quit()

    def _send_quit(self) -> None:
        if self.session.server is None:
            self.session.quit()
            return
        self.session.typed("/quit")  # the server says goodbye and closes
        self._later("quit", QUIT_GRACE_SECONDS, self.session.quit)

    def _confirmed(self) -> None:
        """The closing /limits is answered: every line sent has been judged."""
        self._cancel("sync")
        self._syncs, self._asking = 0, False
        self._refused_rate += self._refused_rate_here
        self._refused_length += self._refused_length_here
        self._sent_here = self._refused_rate_here = self._refused_length_here = 0

    def _sync_unanswered(self) -> None:
        """Our closing /limits may itself have been refused: ask again."""
        self._asking = False
        self._pump()

    def _no_limits_answer(self) -> None:
        """No answer to /limits: go on with the documented defaults."""
        self._answers = False
        self._ready = True
        self._pump()

    def _drained(self, fields: dict[str, str]) -> None:
        limits = ServerLimits.from_fields({**fields, "length": "0"})
        if limits is not None:
            self._budget.drained(limits.rate, limits.burst)
        else:
            self._budget.drained(self._budget.limits.rate, self._budget.limits.burst)

    def _later(self, name: str, delay: float, call: Callable[[], object]) -> None:
        def run() -> None:
            self._timers.pop(name, None)
            call()

        self._cancel(name)
        self._timers[name] = self.clock.callLater(delay, run)

    def _cancel(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None and timer.active():
            timer.cancel()

    # The outcome

    def report(self) -> str | None:
        """
        None if every line is known to be accepted; otherwise one line
        saying how many were not, and why.
        """
        unsent, unconfirmed = len(self._queue), self._unconfirmed
        missing = self._refused_rate + self._refused_length + unsent + unconfirmed
        if not missing:
            return None
        reasons = []
        if self._refused_rate:
            at_least = "at least " if self._inexact else ""
            reasons.append(f"{at_least}{self._refused_rate} refused for the rate")
        if self._refused_length:
            reasons.append(f"{self._refused_length} too long")
        if unsent:
            reasons.append(f"{unsent} never sent")
        if unconfirmed:
            reasons.append(
                f"{unconfirmed} sent but not confirmed before the connection closed"
            )
        # Only worth saying when the server ended it, not the person.
        unread = not (self._end_read() or self.session.quitting)
        rest = "; input not read to the end" if unread else ""
        what = "not sent or not confirmed" if unconfirmed else "not sent"
        return (
            f"{PROGRAM}: {missing} of {self._read} lines {what} "
            f"({', '.join(reasons)}){rest}"
        )
