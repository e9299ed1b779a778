"""
Helpers for the end-to-end tests: the real twistd daemon as a child
process, and plain-socket clients that wait on conditions with deadlines;
and, for tests in memory, members of a hub that type commands.
"""

from __future__ import annotations

import itertools
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from twisted.internet.task import Clock

from twisted_chat import text
from twisted_chat.core import commands
from twisted_chat.core.hub import Hub
from twisted_chat.testing import FakeMember

T = TypeVar("T")

#: The longest any single wait in a test may take before it fails.
DEADLINE_SECONDS = 15.0


def wait_for(
    condition: Callable[[], T | None],
    timeout: float = DEADLINE_SECONDS,
    what: str = "condition",
    interval: float = 0.01,
) -> T:
    """
    Poll C{condition}, every C{interval} seconds, until it returns something
    truthy, or fail at the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def bin_command(name: str) -> str:
    """A console script of this Python's environment (twistd, ...)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found beside {sys.executable} or on PATH")
    return found


#: Where a L{ChatDaemon} listens unless told otherwise: a free loopback port.
LOOPBACK_PORT = "tcp:0:interface=127.0.0.1:backlog=1024"


class ChatDaemon:
    """
    C{twistd -n chat} as a child process, listening on a free loopback port.

    It is given C{--port default_port} unless its options name a port;
    with C{default_port=None}, only where the options (or the configuration
    file they name) say.
    """

    def __init__(
        self,
        workdir: Path,
        *options: str,
        descriptor_limit: int | None = None,
        env: dict[str, str] | None = None,
        prefix: Sequence[str] = (),
        default_port: str | None = LOOPBACK_PORT,
    ) -> None:
        self.workdir = workdir
        self.default_port = default_port
        #: A command twistd runs under (it must exec it), e.g. ip netns exec.
        self.prefix = tuple(prefix)
        self.descriptor_limit = descriptor_limit
        self.env = env or {}
        self.log_path = workdir / "twistd.log"
        self.options = options
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> ChatDaemon:
        has_port = any(o == "--port" or o.startswith("--port=") for o in self.options)
        port_options = (
            ("--port", self.default_port)
            if self.default_port is not None and not has_port
            else ()
        )
        command = [
            *self.prefix,
            bin_command("twistd"),
            "-n",
            "--pidfile=",
            "--logfile",
            str(self.log_path),
            "chat",
            "--server-name",
            "testhost",
            *port_options,
            *self.options,
        ]
        self.process = subprocess.Popen(
            command,
            cwd=self.workdir,
            env={**os.environ, "PYTHONFAULTHANDLER": "1", **self.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=self._limit_descriptors if self.descriptor_limit else None,
        )
        self.port = int(
            wait_for(self._listening_port, what="the daemon to listen").group(1)
        )
        return self

    def _limit_descriptors(self) -> None:
        limit = self.descriptor_limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    def _listening_port(self) -> re.Match[str] | None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"twistd exited with {self.process.returncode}: {self.log()}"
            )
        return re.search(r"listening on tcp\S* \((\d+)\)", self.log())

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        """Everything the daemon has logged so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, strict: bool = True) -> int:
        """
        Signal the daemon and wait for it to exit; returns its exit status.

        If it does not exit in time it is killed, and its stacks and log go
        into an AssertionError or, with C{strict=False} (fixture clean-up,
        where the test itself has passed), a warning.
        """
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            # Stuck: SIGABRT makes faulthandler print every thread's stack.
            self.process.send_signal(signal.SIGABRT)
            try:
                _, stacks = self.process.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                _, stacks = self.process.communicate()
            report = (
                f"twistd did not exit on signal {sig} within {DEADLINE_SECONDS}s; "
                f"its stacks:\n{stacks.decode(errors='replace')}\n"
                f"its log ends:\n{self.log()[-3000:]}"
            )
            if strict:
                raise AssertionError(report) from None
            warnings.warn(report, stacklevel=2)
            return self.process.returncode

    def wait_exit(self) -> int:
        """Wait for the daemon to exit by itself; returns its exit status."""
        assert self.process is not None
        return self.process.wait(timeout=DEADLINE_SECONDS)

    def rss_kib(self) -> int:
        """The daemon's resident memory, in KiB."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert match is not None
        return int(match.group(1))

    def connect(self, **options: object) -> LineClient:
        """A new plain-socket client, its greeting already read (up to its room)."""
        client = LineClient(self.port, **options)  # type: ignore[arg-type]
        client.expect(r"\* Welcome to ")
        client.expect(r"^\*\*\* You are in #")
        return client


class LineClient:
    """A blocking socket client that reads CRLF lines with deadlines."""

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        source: str | None = None,
        receive_buffer: int | None = None,
    ) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if receive_buffer is not None:
            # Set before connecting, so the window stays small.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        if source is not None:
            self.sock.bind((source, 0))
        self.sock.settimeout(DEADLINE_SECONDS)
        self.sock.connect((host, port))
        self.buffer = b""
        self.lines: list[str] = []  # every line received, in order
        self._seen = 0  # how far expect() has consumed self.lines
        self.name = ""

    def send(self, data: bytes | str) -> None:
        """Send raw bytes, or a str followed by CRLF."""
        if isinstance(data, str):
            data = data.encode("utf-8") + b"\r\n"
        self.sock.sendall(data)

    def _read_some(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return False
        if not chunk:
            raise ConnectionError("server closed the connection")
        self._take(chunk)
        return True

    def _take(self, chunk: bytes) -> None:
        """Add a received chunk to L{lines}, keeping any unfinished line."""
        self.buffer += chunk
        *complete, self.buffer = self.buffer.split(b"\r\n")
        self.lines.extend(line.decode("utf-8") for line in complete)

    def poll(self) -> bool:
        """Take in what has arrived, hardly waiting; False once it is closed."""
        try:
            self._read_some(time.monotonic() + 0.001)
        except ConnectionError:
            return False
        return True

    def expect(self, pattern: str, timeout: float = DEADLINE_SECONDS) -> re.Match[str]:
        """
        Read until a line not yet consumed matches C{pattern} (re.search);
        lines before it are consumed too.
        """
        deadline = time.monotonic() + timeout
        while True:
            while self._seen < len(self.lines):
                line = self.lines[self._seen]
                self._seen += 1
                match = re.search(pattern, line)
                if match:
                    return match
            if not self._read_some(deadline):
                raise AssertionError(
                    f"no line matching {pattern!r} within {timeout}s; "
                    f"last lines: {[line[:120] for line in self.lines[-5:]]!r}"
                )

    def count_lines(
        self,
        predicate: Callable[[str], bool],
        count: int,
        timeout: float = DEADLINE_SECONDS,
    ) -> None:
        """Read until C{count} lines received in all satisfy C{predicate}."""
        deadline = time.monotonic() + timeout
        while sum(map(predicate, self.lines)) < count:
            if not self._read_some(deadline):
                raise AssertionError(f"fewer than {count} matching lines in {timeout}s")

    def read_lines(self, count: int, timeout: float = DEADLINE_SECONDS) -> list[str]:
        """The next C{count} lines not yet consumed."""
        deadline = time.monotonic() + timeout
        while len(self.lines) - self._seen < count:
            if not self._read_some(deadline):
                raise AssertionError(
                    f"wanted {count} lines within {timeout}s; "
                    f"got {self.lines[self._seen :]!r}"
                )
        taken = self.lines[self._seen : self._seen + count]
        self._seen += count
        return taken

    def expect_closed(self, timeout: float = DEADLINE_SECONDS) -> None:
        """Read until the server closes the connection."""
        deadline = time.monotonic() + timeout
        try:
            while self._read_some(deadline):
                pass
        except ConnectionError:
            return
        raise AssertionError(f"connection still open after {timeout}s")

    def nick(self, name: str) -> None:
        """Rename and wait for the confirmation."""
        self.send(f"/nick {name}")
        self.expect(rf"^\*\*\* You are now known as {re.escape(name)}$")
        self.name = name

    def reset(self) -> None:
        """Close abruptly with a TCP RST."""
        self.sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
        )
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


def exactly(line_format: text.LineFormat, **fields: object) -> str:
    """A pattern for exactly this line, for L{LineClient.expect}."""
    return f"^{re.escape(line_format.format(**fields))}$"


def person(daemon: ChatDaemon, name: str, **options: object) -> LineClient:
    """A client greeted (up to its room) and renamed to C{name}."""
    client = daemon.connect(**options)
    client.nick(name)
    return client


def register_client(
    daemon: ChatDaemon, name: str, password: str, **options: object
) -> LineClient:
    """A client called C{name} that registered it, so is logged in as it."""
    client = person(daemon, name, **options)
    client.send(f"/register {password}")
    client.expect(
        exactly(
            text.NOTICE,
            text=f"{name} is yours now: /login {name} PASSWORD takes it back,"
            " from any connection.",
        )
    )
    return client


def guest_name(client: LineClient) -> str:
    """The name the greeting gave C{client}."""
    fields = text.WELCOME.parse(client.lines[0])
    assert fields is not None, client.lines[0]
    return fields["name"]


_probes = itertools.count(1)


def _probe(client: LineClient) -> str:
    """Send an unknown command; return the one line that answers it."""
    word = f"probe-{next(_probes)}"
    client.send(f"/{word}")
    return text.UNKNOWN_COMMAND.format(word=word)


def caught_up(client: LineClient) -> None:
    """
    Consume everything the daemon sent C{client} before it read a probe
    sent now: the daemon answers each member in order, so what it had
    already addressed to C{client} comes before the answer.
    """
    client.expect(f"^{re.escape(_probe(client))}$")


def assert_nothing_more(client: LineClient) -> None:
    """C{client} was sent nothing since it last read: a probe's answer is next."""
    answer = _probe(client)
    assert client.read_lines(1) == [answer]


def run_command(
    command: Sequence[str], timeout: float = 60, **options: object
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, text output captured."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        list(command),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **options.pop("env", {})},  # type: ignore[dict-item]
        **options,
    )


def kill_quietly(process: subprocess.Popen[bytes]) -> None:
    """End a child we started, if it is still running."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait()


# In memory: a hub and fake members typing commands


def run_line(hub: Hub, member: FakeMember, line: str) -> None:
    """Run C{line}, a slash command, as typed by C{member}."""
    command = commands.split_command(line)
    assert command is not None, line
    commands.run_command(member, hub, *command)


def hub_on_clock(**options: object) -> tuple[Hub, Clock]:
    """A L{Hub} on a L{Clock} of its own, set well past 0; C{options} for the hub."""
    clock = Clock()
    clock.advance(1_000_000)
    return Hub(clock=clock, **options), clock  # type: ignore[arg-type]


def connected(hub: Hub, address: str, name: str = "") -> FakeMember:
    """A member from C{address}, renamed to C{name} if given, its lines cleared."""
    member = FakeMember(address=address)
    hub.connect(member)
    if name:
        run_line(hub, member, f"/nick {name}")
        assert member.lines[-1] == f"*** You are now known as {name}"
    member.received.clear()
    return member


def registered(hub: Hub, name: str, address: str, password: str) -> FakeMember:
    """A member called C{name} that registered it (so is logged in as it)."""
    owner = connected(hub, address, name)
    run_line(hub, owner, f"/register {password}")
    assert owner.take_lines()[-1].startswith(f"*** {name} is yours now"), name
    return owner


def clear(*members: FakeMember) -> None:
    """Forget what C{members} were sent so far."""
    for member in members:
        member.received.clear()
