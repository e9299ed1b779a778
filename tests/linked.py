"""
Helpers for the tests of linked daemons (tests/test_linking_daemon.py):
real twistd daemons linked through a real redis-server, and ways to wait
until what one daemon did is known on another.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.redis_server import RedisServer
from tests.support import DEADLINE_SECONDS, ChatDaemon, LineClient, wait_for
from twisted_chat import text

StartDaemon = Callable[..., ChatDaemon]
StartRedis = Callable[..., RedisServer]

#: A short claim expiry, so that a daemon gone is seen gone fast.
EXPIRY = 3.0
#: The loopback addresses clients connect from where it matters which one.
ELSEWHERE = "127.0.0.2"
FURTHER = "127.0.0.3"
QUIET = "127.0.0.4"

_WHO = re.compile(r"^\*\*\* \d+ (?:here|in #\S+): (.*)$")


class Net:
    """A redis-server, and the daemons linked through it."""

    def __init__(self, start_daemon: StartDaemon, redis: RedisServer) -> None:
        self.start_daemon = start_daemon
        self.redis = redis

    def node(
        self,
        name: str,
        *options: str,
        url: str | None = None,
        expiry: float = EXPIRY,
    ) -> ChatDaemon:
        """A daemon linked as C{name} (not waiting for the link to be up)."""
        return self.start_daemon(
            "--redis",
            url or self.redis.url,
            "--node-name",
            name,
            "--claim-expiry",
            f"{expiry:g}",
            *options,
        )

    def linked(self, name: str, *options: str, expiry: float = EXPIRY) -> ChatDaemon:
        """A daemon linked as C{name}, once its link is up."""
        daemon = self.node(name, *options, expiry=expiry)
        wait_link_up(daemon)
        return daemon


def link_ups(daemon: ChatDaemon) -> int:
    """How many times the daemon has logged its link coming up."""
    return daemon.log().count(": link up")


def wait_link_up(daemon: ChatDaemon, times: int = 1) -> None:
    """Wait until the daemon has logged its link up C{times} times."""
    wait_for(
        lambda: link_ups(daemon) >= times,
        what=f"{daemon.workdir.name}'s link to be up ({times})",
    )


def who(client: LineClient) -> list[str]:
    """The names /who shows C{client} (operators' @ taken off)."""
    client.send("/who")
    match = client.expect(_WHO.pattern)
    return [name.lstrip("@") for name in match.group(1).split(", ")]


def sees(client: LineClient, *names: str, gone: tuple[str, ...] = ()) -> None:
    """Wait until /who shows C{client} all of C{names} and none of C{gone}."""

    def shown() -> bool:
        here = set(who(client))
        return set(names) <= here and not here & set(gone)

    # Under the default rate (5 lines a second), whatever else is sent.
    wait_for(shown, what=f"/who to show {names} and not {gone}", interval=0.25)


def listed(client: LineClient, room: str, count: int, topic: str) -> None:
    """Wait until /rooms shows C{client} C{room} with C{count} in it and C{topic}."""
    entry = text.ROOM_ENTRY_TOPIC.format(room=room, count=count, text=topic)

    def shown() -> bool:
        client.send("/rooms")
        head = client.expect(r"^\*\*\* Rooms \((\d+)\):$")
        return entry in client.read_lines(int(head.group(1)))

    wait_for(shown, what=f"/rooms to show {entry!r}", interval=0.25)


def said(lines: list[str], name: str) -> list[str]:
    """What C{name} said (the texts), in the order received."""
    found = []
    for line in lines:
        fields = text.MESSAGE.parse(line)
        if fields is not None and fields["name"] == name:
            found.append(fields["text"])
    return found


def log_lines(daemon: ChatDaemon, pattern: str) -> list[str]:
    """The daemon's log lines that match C{pattern} (re.search)."""
    return [line for line in daemon.log().splitlines() if re.search(pattern, line)]


def ports(daemon: ChatDaemon, count: int = 2) -> list[int]:
    """The ports the daemon listens on (chat first, then metrics)."""

    def listening() -> list[str] | None:
        seen = re.findall(r"listening on tcp\S* \((\d+)\)", daemon.log())
        return seen if len(seen) >= count else None

    return [int(port) for port in wait_for(listening, what=f"{count} ports")]


def wait_connections(redis: RedisServer, before: int, count: int, what: str) -> None:
    """
    Wait until others have made C{count} connections to C{redis} since it
    had received C{before} (ours, one a look, are not counted).
    """
    looks = 0

    def made() -> bool:
        nonlocal looks
        looks += 1
        return redis.connections_received() - before - looks >= count

    wait_for(made, what=what, interval=0.1)


class CountingProxy:
    """
    A TCP relay on a loopback port to C{target_port}, counting the
    connections made through it (for what Redis does not count, such as
    TLS handshakes that fail). Stopped by L{close}.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(
                    target=self._pipe, args=(source, sink), daemon=True
                ).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            sock.close()


Samples = dict[str, float]


def scrape(port: int) -> Samples:
    """The unlabelled samples of /metrics, by name."""
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/metrics", timeout=DEADLINE_SECONDS
    ) as reply:
        body = reply.read().decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if not sample.labels
    }


def wait_metric(port: int, condition: Callable[[Samples], bool], what: str) -> Samples:
    """Scrape until C{condition} holds of the samples; the samples then."""
    found: list[Samples] = []

    def holds() -> bool:
        found.append(scrape(port))
        return condition(found[-1])

    wait_for(holds, what=what, interval=0.05)
    return found[-1]


class TimedClient(LineClient):
    """A L{LineClient} that notes when each line came (monotonic seconds)."""

    def __init__(self, port: int, **options: object) -> None:
        super().__init__(port, **options)  # type: ignore[arg-type]
        self.stamps: list[float] = []

    def _take(self, chunk: bytes) -> None:
        before = len(self.lines)
        super()._take(chunk)
        self.stamps += [time.monotonic()] * (len(self.lines) - before)


class Transcript:
    """What some clients received, and what the test did, each with when."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = time.monotonic()
        self.clients: dict[str, TimedClient] = {}
        self.events: list[tuple[float, str]] = []

    def person(self, label: str, daemon: ChatDaemon, name: str) -> TimedClient:
        """A client on C{daemon} renamed to C{name}, its lines kept as C{label}."""
        client = TimedClient(daemon.port)
        client.expect(r"^\*\*\* You are in #")
        client.nick(name)
        self.clients[label] = client
        return client

    def note(self, what: str) -> None:
        """Something the test did, now (after what had come before it)."""
        self.poll()
        self.events.append((time.monotonic(), what))

    def poll(self) -> None:
        """Take in what every client has been sent, stamped now."""
        for client in self.clients.values():
            client.poll()

    def until(self, label: str, line: str) -> None:
        """Wait until client C{label} has received C{line}, stamping all."""
        client = self.clients[label]

        def received() -> bool:
            self.poll()
            return line in client.lines

        wait_for(received, what=f"{label} to receive {line!r}", interval=0.002)

    def lines(self) -> Iterator[str]:
        """Everything, in time order, each line with its client's label."""
        merged = [(at, f"[test] {what}") for at, what in self.events]
        for label, client in self.clients.items():
            merged += [
                (at, f"[{label}] {line}")
                for at, line in zip(client.stamps, client.lines, strict=True)
            ]
        merged.sort(key=lambda item: item[0])
        return (f"{at - self.started:7.3f} s  {line}" for at, line in merged)

    def write(self) -> str:
        """Write it to L{path}; the text written."""
        written = "\n".join(self.lines()) + "\n"
        self.path.write_text(written)
        return written
