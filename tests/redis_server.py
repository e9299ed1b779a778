"""
A real redis-server for the tests: a child process on a free loopback port,
in a temporary directory, saving nothing; stopped (or killed) by its PID,
and started again on the same port for the reconnect tests.

There is no skip: without redis-server the fixture fails and says so (CI
installs it, see .ci/run).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.support import DEADLINE_SECONDS
from twisted_chat.backplane.resp import (
    Arg,
    RedisError,
    Reply,
    ReplyParser,
    encode_command,
)


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def blocking_command(
    port: int, *args: Arg, password: str | None = None, timeout: float = 2.0
) -> Reply:
    """One command on a fresh blocking connection; raises on an error reply."""
    parser = ReplyParser()
    commands: list[Sequence[Arg]] = [args]
    if password is not None:
        commands.insert(0, (b"AUTH", password))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"".join(encode_command(c) for c in commands))
        replies: list[Reply] = []
        while len(replies) < len(commands):
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("redis closed the connection")
            replies += parser.feed(data)
    for reply in replies:
        if isinstance(reply, RedisError):
            raise reply
    return replies[-1]


class RedisServer:
    """C{redis-server} as a child process; L{start} may be called again."""

    def __init__(self, workdir: Path, *options: str) -> None:
        self.workdir = workdir
        self.options = options
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "redis.log"
        self.password: str | None = None
        if "--requirepass" in options:
            self.password = options[options.index("--requirepass") + 1]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.fail(
                "redis-server is not installed: the backplane tests need it "
                "(apt-get install redis-server; .ci/run installs it)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [
            executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
            *self.options,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        self._wait_for_pong()
        return self

    def _wait_for_pong(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            if self.process.poll() is not None:
                log = self.log_path.read_text(errors="replace")[-2000:]
                raise AssertionError(f"redis-server exited at start:\n{log}")
            try:
                if self.command(b"PING") == "PONG":
                    return
            except (OSError, RedisError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"redis-server on {self.port} never answered")
            time.sleep(0.02)

    def command(self, *args: Arg) -> Reply:
        """One command, authenticated if the server wants a password."""
        return blocking_command(self.port, *args, password=self.password)

    def connections_received(self) -> int:
        """INFO's total_connections_received (ours included)."""
        info = self.command(b"INFO", b"stats")
        assert isinstance(info, bytes)
        for line in info.decode().splitlines():
            if line.startswith("total_connections_received:"):
                return int(line.split(":", 1)[1])
        raise AssertionError("INFO stats has no total_connections_received")

    def signal(self, number: int) -> None:
        """Send C{number} to our redis-server (SIGSTOP, SIGCONT, ...)."""
        assert self.process is not None and self.process.poll() is None
        self.process.send_signal(number)

    def kill(self) -> None:
        """SIGKILL by PID, and reap it: the port is free once this returns."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=DEADLINE_SECONDS)

    def stop(self) -> None:
        """SIGTERM by PID; SIGKILL if it has not exited by the deadline."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)  # in case a test stopped it
        process.terminate()
        try:
            process.wait(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server on a free loopback port, stopped after the test."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def start_redis(tmp_path: Path) -> Iterator[type[RedisServer]]:
    """Start redis-servers with chosen options; all are stopped after the test."""
    started: list[RedisServer] = []

    def start(*options: str) -> RedisServer:
        server = RedisServer(tmp_path / f"redis{len(started)}", *options)
        started.append(server)
        return server.start()

    yield start  # type: ignore[misc]
    for server in started:
        server.stop()
