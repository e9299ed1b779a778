"""
Piped mode in memory: the lines a script gives, what reaches the server and
when (on a Clock), and what the client reports at the end.
"""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer, task
from twisted.internet.testing import StringTransport

from twisted_chat import text
from twisted_chat.client.pacing import (
    LIMITS,
    SLOW_DOWN,
    UNKNOWN_LIMITS,
    LineBudget,
    ServerLimits,
)
from twisted_chat.client.script import (
    LIMITS_ANSWER_SECONDS,
    SYNC_RETRY_SECONDS,
    ScriptLines,
)
from twisted_chat.client.session import ChatSession
from twisted_chat.client.testing import FakeServer
from twisted_chat.core.limits import FloodControl, Verdict

WELCOME = text.WELCOME.format(server="testhost", name="guest1", count=1)


def limits_line(rate: object = 5, burst: object = 20, length: object = 2048) -> str:
    return LIMITS.format(rate=rate, burst=burst, length=length)


class Script:
    """ScriptLines over a fake server and a fake stdio, on a Clock."""

    def __init__(self, nick: str | None = None, reconnect: bool = False) -> None:
        self.clock = task.Clock()
        self.server = FakeServer()
        self.session = ChatSession(
            self.clock, "h", 1, nick, reconnect, endpoint=self.server.endpoint
        )
        self.errors = io.StringIO()
        self.lines = ScriptLines(self.session, self.clock, self.errors)
        self.session.screen = self.session.observer = self.lines
        assert defer.ensureDeferred(self.session.connect()).called
        self.stdout = StringTransport()
        self.lines.makeConnection(self.stdout)
        self.conversation = defer.ensureDeferred(self.session.converse())

    def type(self, data: bytes) -> None:
        self.lines.dataReceived(data)

    def end_input(self) -> None:
        self.lines.readConnectionLost()

    def printed(self) -> list[str]:
        return self.stdout.value().decode().splitlines()

    def said(self) -> list[str]:
        """What the server got, but the /limits the client asks itself."""
        return [line for line in self.server.sent() if line != "/limits"]


def test_it_asks_for_the_limits_first_and_waits_for_the_answer() -> None:
    script = Script(nick="alice")
    script.type(b"hello\n")
    assert script.server.sent() == ["/limits"]
    script.server.say(WELCOME, limits_line())
    assert script.server.sent() == ["/limits", "/nick alice", "hello"]
    assert script.printed() == [WELCOME]  # the answer to its own /limits: not


def test_lines_are_paced_inside_the_servers_rate() -> None:
    """Rate 5, bursts of 20: ours is 4 a second after bursts of 10."""
    script = Script()
    script.type(b"".join(b"line %d\n" % n for n in range(20)))
    script.server.say(WELCOME, limits_line(5, 20))
    assert len(script.said()) == 9  # 10, less its /limits
    script.clock.advance(0.25)
    assert len(script.said()) == 10
    script.clock.advance(0.24)
    assert len(script.said()) == 10
    script.clock.advance(0.01)
    assert len(script.said()) == 11
    script.clock.advance(10)
    assert script.said() == [f"line {n}" for n in range(20)]


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from([0.5, 1, 2, 5, 10, 100]),
    burst=st.integers(1, 40),
    count=st.integers(1, 60),
    gaps=st.lists(st.floats(0, 2), max_size=10),
)
def test_the_server_never_refuses_a_paced_line(
    rate: float, burst: int, count: int, gaps: list[float]
) -> None:
    """The daemon's own flood control, on the same clock, accepts every line."""
    script = Script()
    flood = FloodControl(rate, burst, script.clock)
    seen = 0

    def judge() -> None:
        nonlocal seen
        sent = script.server.sent()
        for _ in sent[seen:]:
            assert flood.check() is Verdict.ACCEPT
        seen = len(sent)

    judge()
    script.server.say(WELCOME, limits_line(text.plain_number(rate), burst))
    expected = [f"x {n}" for n in range(count)]
    chunk = count // (len(gaps) + 1) + 1
    for start, gap in zip(range(0, count, chunk), [*gaps, 0.0], strict=False):
        script.type(
            "".join(f"{line}\n" for line in expected[start : start + chunk]).encode()
        )
        judge()
        script.clock.advance(gap)
        judge()
    script.end_input()
    while not (script.said() == expected and script.server.sent()[-1] == "/limits"):
        next_call = min(c.getTime() for c in script.clock.getDelayedCalls())
        script.clock.advance(next_call - script.clock.seconds())
        judge()


def test_refused_lines_are_counted_from_the_notices_up_to_the_last_answer() -> None:
    script = Script()
    script.server.say(limits_line(100, 200))
    script.type(b"".join(b"l%d\n" % n for n in range(10)))
    script.end_input()
    assert script.server.sent()[-1] == "/limits"
    slow_down = SLOW_DOWN.format(rate=1, burst=1, count=3)
    script.server.say(slow_down, SLOW_DOWN.format(rate=1, burst=1, count=4))
    assert not script.conversation.called  # waiting for the answer
    script.server.say(limits_line(1, 1))
    script.server.close()
    assert script.conversation.called
    assert script.printed() == [slow_down, SLOW_DOWN.format(rate=1, burst=1, count=4)]
    assert script.lines.report() == (
        "twisted_chat.client: 7 of 10 lines not sent (7 refused for the rate)"
    )


def test_every_line_accepted_reports_nothing() -> None:
    script = Script()
    script.server.say(limits_line())
    script.type(b"a\nb\n\n   \nlast, with no newline")
    script.end_input()
    assert script.said() == ["a", "b", "last, with no newline"]
    script.server.say(limits_line())
    script.server.close()
    assert script.lines.report() is None


def test_a_line_over_the_length_limit_is_not_sent_and_counted() -> None:
    script = Script()
    script.server.say(limits_line(length=10))
    script.type("short\n0123456789\n012345678é\nlong enough\n".encode())
    script.end_input()
    assert script.said() == ["short", "0123456789"]
    script.server.say(limits_line(length=10))
    script.server.close()
    assert script.lines.report() == (
        "twisted_chat.client: 2 of 4 lines not sent (2 too long)"
    )


def test_a_server_without_limits_gets_the_documented_defaults() -> None:
    """'! Unknown command /limits': rate 5, bursts of 20; the server judges length."""
    script = Script()
    script.type(b"".join(b"l%d\n" % n for n in range(12)) + b"x" * 5000 + b"\n")
    script.server.say(WELCOME, UNKNOWN_LIMITS.format())
    assert len(script.said()) == 9
    assert script.printed() == [WELCOME]
    script.clock.advance(10)
    script.end_input()
    assert len(script.said()) == 13
    script.server.say("! Line too long (over 2048 bytes); not sent.")
    script.server.say(UNKNOWN_LIMITS.format())
    script.server.close()
    assert script.lines.report() == (
        "twisted_chat.client: 1 of 13 lines not sent (1 too long)"
    )


def test_a_count_free_slow_down_notice_counts_at_least_one() -> None:
    """An older server says 'lines not sent.' without a number."""
    script = Script()
    script.server.say(UNKNOWN_LIMITS.format())
    script.type(b"a\nb\n")
    script.end_input()
    script.server.say(
        "! Slow down: at most 1 lines a second (bursts of 1); lines not sent."
    )
    script.server.say(UNKNOWN_LIMITS.format())
    script.server.close()
    assert script.lines.report() == (
        "twisted_chat.client: 1 of 2 lines not sent (at least 1 refused for the rate)"
    )


def test_after_a_slow_down_it_paces_by_the_rate_the_notice_gives() -> None:
    script = Script()
    script.server.say(limits_line(100, 200))
    script.type(b"a\n")
    script.server.say(SLOW_DOWN.format(rate=1, burst=2, count=1))
    script.type(b"b\n")
    assert script.said() == ["a"]
    script.clock.advance(1 / 0.8)
    assert script.said() == ["a", "b"]


def test_a_server_that_never_answers_limits_gets_lines_after_a_while() -> None:
    script = Script()
    script.type(b"hi\n")
    script.clock.advance(LIMITS_ANSWER_SECONDS - 0.01)
    assert script.said() == []
    script.clock.advance(0.01)
    assert script.said() == ["hi"]
    script.end_input()  # no closing /limits: it would never be answered
    assert script.server.sent() == ["/limits", "hi"]
    assert script.server.last.hung_up


def test_the_closing_question_is_asked_again_if_unanswered() -> None:
    """
    The rate dropped under the script: its closing /limits was refused with
    its lines. Asked again, the answer comes after the count that includes
    that first question, which is not a line of the script.
    """
    script = Script()
    script.server.say(limits_line(100, 200))
    script.type(b"".join(b"l%d\n" % n for n in range(10)))
    script.end_input()
    assert script.server.sent()[-1] == "/limits"
    script.server.say(SLOW_DOWN.format(rate=1, burst=1, count=1))
    script.clock.advance(SYNC_RETRY_SECONDS - 0.01)
    assert script.server.sent()[-2:] == ["l9", "/limits"]
    script.clock.advance(0.01)
    assert script.server.sent()[-3:] == ["l9", "/limits", "/limits"]
    # Refused: 8 more lines and the first question.
    script.server.say(SLOW_DOWN.format(rate=1, burst=1, count=9), limits_line(1, 1))
    assert script.server.last.hung_up
    script.server.close()
    assert script.lines.report() == (
        "twisted_chat.client: 9 of 10 lines not sent (9 refused for the rate)"
    )


def test_lines_unconfirmed_when_the_server_closes_are_not_sent() -> None:
    script = Script()
    script.server.say(limits_line(5, 6))
    script.type(b"".join(b"l%d\n" % n for n in range(8)))
    assert len(script.said()) == 2
    script.server.close()
    assert script.conversation.called
    assert script.lines.report() == (
        "twisted_chat.client: 8 of 8 lines not sent or not confirmed (6 never "
        "sent, 2 sent but not confirmed before the connection closed); input not "
        "read to the end"
    )


def test_with_reconnect_lines_wait_for_the_next_connection() -> None:
    script = Script(nick="carol", reconnect=True)
    script.server.say(WELCOME, limits_line())
    assert script.said() == ["/nick carol"]
    script.server.close()
    script.type(b"while away\n")
    script.end_input()
    script.clock.advance(1)
    assert script.server.sent() == ["/limits"]
    script.server.say(WELCOME, limits_line())
    assert script.said() == ["/nick carol", "while away"]
    script.server.say(limits_line())
    assert script.server.last.hung_up
    assert script.lines.report() is None


def test_quit_ends_the_script_once_the_lines_are_confirmed() -> None:
    script = Script()
    script.server.say(limits_line())
    script.type(b"bye all\n/quit\nnot sent\n")
    assert script.server.sent() == ["/limits", "bye all", "/limits"]
    script.server.say(limits_line())
    assert script.server.sent()[-1] == "/quit"
    script.server.say(text.GOODBYE.format(name="guest1"))
    script.server.close()
    assert script.conversation.called and script.conversation.result is False
    assert script.lines.report() is None


def test_the_scripts_own_limits_question_is_answered_on_stdout() -> None:
    script = Script()
    script.server.say(limits_line())
    script.type(b"/limits\n")
    assert script.server.sent() == ["/limits", "/limits"]
    script.server.say(limits_line())
    assert script.printed() == [limits_line()]


def test_budget_refills_at_four_fifths_of_the_rate_up_to_half_the_burst() -> None:
    clock = task.Clock()
    budget = LineBudget(clock, ServerLimits(rate=10, burst=8, length=0))
    for _ in range(4):
        assert budget.delay() == 0
        budget.spend()
    assert budget.delay() == 1 / 8
    clock.advance(100)
    for _ in range(4):
        budget.spend()
    assert budget.delay() > 0


def test_nonsense_limits_are_not_taken() -> None:
    for fields in ({"rate": "inf"}, {"rate": "nan"}, {"burst": "x"}, {"length": "-1"}):
        assert (
            ServerLimits.from_fields(
                {"rate": "1", "burst": "2", "length": "3", **fields}
            )
            is None
        )


def test_history_is_printed_as_received() -> None:
    """Without a terminal, lines replayed from history are plain text, unchanged."""
    script = Script()
    history = [
        text.HISTORY.format(count=2, room="lobby"),
        text.HISTORY_SAID.format(time="21:30", name="bob", text="hi"),
        text.HISTORY_ACTED.format(time="2026-11-30 21:31", name="bob", text="waves"),
    ]
    script.server.say(WELCOME, *history, limits_line())
    assert script.printed() == [WELCOME, *history]
