"""
RedisLink against a real redis-server: each test runs tests/redis_link_probe.py
(a RedisLink on the real reactor, in a child process) and reads the JSON
lines it prints as things happen, with a deadline on each.
"""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import RedisServer
from tests.support import DEADLINE_SECONDS, kill_quietly

PROBE = Path(__file__).with_name("redis_link_probe.py")
StartRedis = Callable[..., RedisServer]


class Probe:
    """The probe as a child process, its events read one by one."""

    def __init__(self, scenario: str, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(PROBE), scenario, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Unbuffered: a line read must not hide the next one from select.
            bufsize=0,
        )
        self.events: list[dict[str, Any]] = []
        self._selector = selectors.DefaultSelector()
        assert self.process.stdout is not None
        self._selector.register(self.process.stdout, selectors.EVENT_READ)

    def next_event(self, *kinds: str) -> dict[str, Any]:
        """The next event of one of C{kinds} (others are kept in L{events})."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        assert self.process.stdout is not None
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._selector.select(left):
                raise AssertionError(f"no {kinds} event in {DEADLINE_SECONDS}s")
            line = self.process.stdout.readline()
            if not line:
                assert self.process.stderr is not None
                raise AssertionError(
                    f"probe ended before {kinds}: {self.process.stderr.read()!r}"
                )
            event = json.loads(line)
            self.events.append(event)
            if event["event"] in kinds:
                return event

    def finish(self) -> list[dict[str, Any]]:
        """Every event up to the end; the probe must exit with status 0."""
        self.next_event("end")
        assert self.process.wait(timeout=DEADLINE_SECONDS) == 0
        return self.events

    def logs(self) -> list[str]:
        return [e["text"] for e in self.events if e["event"] == "log"]


@pytest.fixture
def probes() -> Iterator[Callable[[str, str], Probe]]:
    started: list[Probe] = []

    def start(scenario: str, url: str) -> Probe:
        started.append(Probe(scenario, url))
        return started[-1]

    yield start
    for probe in started:
        kill_quietly(probe.process)


def test_publish_reaches_the_subscriber_and_a_batch_of_50_lines_arrives_whole(
    redis_server: RedisServer, probes: Callable[[str, str], Probe]
) -> None:
    """One PUBLISH of 50 joined lines is one message, byte for byte."""
    events = probes("roundtrip", redis_server.url).finish()
    batch = "\n".join(f"line {i:02d} " + "x" * 72 for i in range(50))
    assert [e["receivers"] for e in events if e["event"] == "published"] == [1, 1]
    assert [e["payload"] for e in events if e["event"] == "message"] == [
        "hello",
        batch,
    ]


def test_commands_set_nx_ex_expire_eval_get_del(
    redis_server: RedisServer, probes: Callable[[str, str], Probe]
) -> None:
    """SET NX EX sets once and refuses the second; the rest as Redis says."""
    [results] = [
        e for e in probes("setnx", redis_server.url).finish() if e["event"] == "results"
    ]
    assert results["inflight"] == 0
    set_first, set_again, get, ttl, expire, ttl_after, evaluated, *rest = results[
        "results"
    ]
    assert (set_first, set_again, get) == ("OK", None, "v")
    assert ttl in (4, 5)
    assert (expire, ttl_after, evaluated) == (1, 60, "v")
    assert rest == [1, 0, None]


def test_auth_with_the_right_password(
    start_redis: StartRedis, probes: Callable[[str, str], Probe]
) -> None:
    """With --requirepass, the link authenticates and comes up; no log shows it."""
    server = start_redis("--requirepass", "s3cret-pw")
    url = f"redis://:s3cret-pw@127.0.0.1:{server.port}/1"
    probe = probes("auth", url)
    events = probe.finish()
    assert {"event": "ping", "ok": True} in events
    shown = f"redis://:***@127.0.0.1:{server.port}/1"
    assert {"event": "repr", "text": f"<RedisLink {shown} up>"} in events
    assert probe.logs() == [f"redis at {shown}: link up"]


def test_a_wrong_password_logs_one_line_and_retries_only_with_back_off(
    start_redis: StartRedis, probes: Callable[[str, str], Probe]
) -> None:
    """
    Refused, the link stays down, says so once, and tries each of its two
    connections at 0, 0.25, 0.75 and 1.75 s in 2.75 s (back-off from 0.25 s):
    8 connections. A command meanwhile fails at once with LinkDown.
    """
    server = start_redis("--requirepass", "right")
    before = server.connections_received()
    probe = probes("wrongpass", f"redis://:wrong@127.0.0.1:{server.port}")
    events = probe.finish()
    assert {"event": "fast", "called": True} in events
    assert {"event": "failed", "error": "LinkDown"} in events
    assert {"event": "attempts", "attempts": 8, "up": False} in events
    assert server.connections_received() - before == 8 + 1  # +1: this INFO
    shown = f"redis://:***@127.0.0.1:{server.port}/0"
    assert probe.logs() == [
        f"redis at {shown}: the handshake was refused: WRONGPASS invalid "
        "username-password pair or user is disabled; retrying with back-off"
    ]


def test_after_redis_is_killed_and_restarted_the_link_resubscribes(
    redis_server: RedisServer, probes: Callable[[str, str], Probe]
) -> None:
    """
    Down when Redis dies (a publish then fails at once with LinkDown), up
    again when it is back on the same port, subscribed again by itself.
    """
    probe = probes("reconnect", redis_server.url)
    probe.next_event("up")
    redis_server.kill()
    probe.next_event("down")
    assert probe.next_event("failed") == {"event": "failed", "error": "LinkDown"}
    redis_server.start()
    probe.next_event("up")
    assert redis_server.command(b"PUBLISH", b"room", b"after") == 1
    events = probe.finish()
    assert [e["event"] for e in events if e["event"] in ("up", "down")] == [
        "up",
        "down",
        "up",
        "down",  # close()
    ]
    assert {"event": "fast", "called": True} in events
    assert [e["payload"] for e in events if e["event"] == "message"] == ["after"]


def test_a_half_open_link_is_closed_when_ping_goes_unanswered(
    redis_server: RedisServer, probes: Callable[[str, str], Probe]
) -> None:
    """Redis stopped (SIGSTOP): no PONG in 0.5 s closes the link; back on SIGCONT."""
    probe = probes("halfopen", redis_server.url)
    probe.next_event("up")
    redis_server.signal(signal.SIGSTOP)
    try:
        probe.next_event("down")
    finally:
        redis_server.signal(signal.SIGCONT)
    probe.finish()
    shown = f"redis://127.0.0.1:{redis_server.port}/0"
    assert (
        f"redis at {shown}: no answer in 0.5 s; closing the connection" in probe.logs()
    )
    assert [e["event"] for e in probe.events if e["event"] in ("up", "down")] == [
        "up",
        "down",
        "up",
        "down",  # close()
    ]
