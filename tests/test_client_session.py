"""
The client's session in memory: connections to the fake server of
L{twisted_chat.client.testing}, time on a Clock. Reconnection's back-off,
quitting at once, and whose word our name is.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, task

from twisted_chat import text
from twisted_chat.client.session import (
    STABLE_SECONDS,
    Backoff,
    ChatSession,
    NameTracker,
)
from twisted_chat.client.testing import FakeServer, RecordingScreen

WELCOME = text.WELCOME.format(server="Team Chat", name="guest1", count=1)


def start(
    nick: str | None = None, reconnect: bool = True
) -> tuple[ChatSession, FakeServer, task.Clock, RecordingScreen, defer.Deferred[Any]]:
    clock = task.Clock()
    server = FakeServer()
    session = ChatSession(
        clock, "chat-host", 5000, nick, reconnect, endpoint=server.endpoint
    )
    notes = RecordingScreen()
    session.screen = notes
    connected = defer.ensureDeferred(session.connect())
    assert connected.called
    return session, server, clock, notes, defer.ensureDeferred(session.converse())


def delays(notes: RecordingScreen) -> list[str]:
    return [note.rsplit(" in ", 1)[1] for note in notes.notices if " in " in note]


def test_backoff_doubles_up_to_thirty_seconds_and_stays() -> None:
    backoff = Backoff()
    assert [backoff.next_delay() for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    backoff.reset()
    assert backoff.next_delay() == 1


def test_a_server_that_refuses_us_is_asked_less_and_less_often() -> None:
    """'! Server full' then a close, before any welcome: a failed attempt."""
    _session, server, clock, notes, _ = start()
    for _ in range(6):
        server.say("! Server full (1 clients); try again later.")
        server.close()
        attempts = len(server.connections)
        delay = float(delays(notes)[-1].removesuffix(" s"))
        clock.advance(delay - 0.01)
        assert len(server.connections) == attempts  # not a moment early
        clock.advance(0.01)
        assert len(server.connections) == attempts + 1
    assert delays(notes) == ["1 s", "2 s", "4 s", "8 s", "16 s", "30 s"]


def test_failed_connects_and_refusals_share_one_backoff() -> None:
    _session, server, clock, notes, _ = start()
    server.close()
    server.refusing = True
    for delay in (1, 2, 4):
        clock.advance(delay)
    server.refusing = False
    clock.advance(8)
    server.say("! Too many connections from 127.0.0.1 (at most 20); try again later.")
    server.close()
    assert delays(notes) == ["1 s", "2 s", "4 s", "8 s", "16 s"]
    assert (
        notes.notices[1] == "-- cannot reconnect (connection refused); retrying in 2 s"
    )


def test_only_a_connection_admitted_and_kept_resets_the_backoff() -> None:
    _session, server, clock, notes, _ = start()
    server.close()  # 1 s
    clock.advance(1)
    server.say(WELCOME)
    clock.advance(STABLE_SECONDS - 1)
    server.close()  # admitted, then dropped (a kick) within 10 s: 2 s
    clock.advance(2)
    server.say(WELCOME)
    assert notes.notices[-1] == "-- reconnected to chat-host:5000"
    clock.advance(STABLE_SECONDS)
    server.close()  # it stayed: back to 1 s
    assert delays(notes) == ["1 s", "2 s", "1 s"]


def test_quitting_during_the_wait_ends_at_once() -> None:
    session, server, clock, notes, conversation = start()
    server.close()
    clock.advance(1)
    server.close()
    assert delays(notes)[-1] == "2 s"
    session.quit()
    assert conversation.called and conversation.result is False
    assert clock.getDelayedCalls() == []  # the wait was cancelled, not left to run
    clock.advance(60)
    assert len(server.connections) == 2


def test_quitting_during_a_connection_attempt_ends_at_once() -> None:
    session, server, clock, _notes, conversation = start()
    server.hanging = True
    server.close()
    clock.advance(1)
    assert not conversation.called
    session.quit()
    assert server.cancelled == 1
    assert conversation.called and conversation.result is False


def test_typing_quit_while_disconnected_ends_at_once() -> None:
    session, server, clock, _, conversation = start()
    server.close()
    session.typed("/quit")
    assert conversation.called and conversation.result is False
    assert clock.getDelayedCalls() == []


def test_our_name_comes_only_from_the_welcome_and_the_servers_renames() -> None:
    """
    A line that looks like the server's but is not (someone's action, a
    second welcome) is shown, and our name stays; the server's own rename
    (a shape no one else can send: on /logout, or when someone logs in as
    the name we had) renames us, but only a name we asked for is the one
    asked for again after a reconnection.
    """
    session, server, _clock, notes, _ = start(nick="alice")
    assert server.sent() == ["/nick alice"]
    server.say(WELCOME, text.WELCOME.format(server="x", name="mallory", count=2))
    assert session.name == "guest1"
    server.say(
        text.YOUR_NAME.format(name="alice"),
        "* You are now known as eve",  # the old format, from anyone's /me
    )
    assert (session.name, notes.names) == ("alice", ["guest1", "alice"])
    server.say(text.YOUR_NAME.format(name="guest7"))  # renamed by the server
    assert (session.name, session.names.wanted) == ("guest7", "alice")
    session.typed("/nick bob")
    server.say(text.YOUR_NAME.format(name="bob"))
    assert (session.name, session.names.wanted) == ("bob", "bob")
    session.typed("/login carol some password")
    assert server.sent()[-1] == "/login carol some password"
    server.say(text.YOUR_NAME.format(name="carol"))
    assert (session.name, session.names.wanted) == ("carol", "carol")


def test_after_a_reconnection_we_ask_for_the_name_last_confirmed() -> None:
    session, server, clock, _, _ = start(nick="alice")
    server.say(WELCOME, text.YOUR_NAME.format(name="alice"))
    session.typed("/nick eve")
    server.say("! The name eve is taken.")
    server.close()
    clock.advance(1)
    assert server.sent() == ["/nick alice"]


def test_the_welcome_counts_only_as_the_first_line() -> None:
    tracker = NameTracker(None)
    assert tracker.line_received(WELCOME, first=True)
    assert not tracker.line_received(
        text.WELCOME.format(server="x", name="eve", count=1), first=False
    )
    assert not tracker.line_received("<guest1> hi", first=True)
    assert tracker.name == "guest1"


def test_a_session_that_may_not_reconnect_says_the_server_ended_it() -> None:
    _, server, _, notes, conversation = start(reconnect=False)
    server.close()
    assert conversation.called and conversation.result is True
    assert notes.notices == []
