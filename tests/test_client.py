"""
The terminal client as a child process, piped stdin, against the real daemon.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import (
    DEADLINE_SECONDS,
    ChatDaemon,
    LineClient,
    kill_quietly,
    run_command,
    wait_for,
)
from twisted_chat import text

StartDaemon = Callable[..., ChatDaemon]


def client_command(*arguments: object) -> list[str]:
    return [sys.executable, "-m", "twisted_chat.client", *map(str, arguments)]


def line_pattern(line_format: text.LineFormat, **fields: str) -> str:
    """A regex for lines of C{line_format}, each field matching its regex."""
    pieces = re.split(r"\{(\w+)\}", line_format.template)
    return (
        "^"
        + "".join(
            fields[piece] if index % 2 else re.escape(piece)
            for index, piece in enumerate(pieces)
        )
        + "$"
    )


WELCOME = text.WELCOME.format(server="testhost", name="guest1", count=1)
GUEST = r"guest\d+"


class RunningClient:
    """A client child process whose stdout and stderr are collected line by line."""

    def __init__(self, *arguments: object) -> None:
        self.process = subprocess.Popen(
            client_command(*arguments),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.output: list[str] = []
        self.errors: list[tuple[float, str]] = []  # with when each arrived
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_errors, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            with self._changed:
                self.output.append(raw.decode("utf-8").rstrip("\n"))
                self._changed.notify_all()

    def _read_errors(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            with self._changed:
                self.errors.append((time.monotonic(), raw.decode().rstrip("\n")))
                self._changed.notify_all()

    def wait_for_line(self, wanted: str) -> None:
        with self._changed:
            if not self._changed.wait_for(
                lambda: wanted in self.output, timeout=DEADLINE_SECONDS
            ):
                raise AssertionError(f"{wanted!r} not printed; got {self.output!r}")

    def wait_for_error(self, wanted: str, timeout: float = DEADLINE_SECONDS) -> float:
        """When the line C{wanted} reached stderr."""
        with self._changed:
            if not self._changed.wait_for(
                lambda: wanted in self.error_lines(), timeout=timeout
            ):
                raise AssertionError(f"{wanted!r} not on stderr; got {self.errors!r}")
            return next(when for when, line in self.errors if line == wanted)

    def error_lines(self) -> list[str]:
        return [line for _, line in self.errors]

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode("utf-8") + b"\n")
        self.process.stdin.flush()

    def end_input(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def finish(self) -> tuple[int, str]:
        """Wait for exit; the exit status and stderr."""
        try:
            self.process.wait(timeout=DEADLINE_SECONDS)
        finally:
            kill_quietly(self.process)
        for reader in self._readers:
            reader.join(DEADLINE_SECONDS)
        return self.process.returncode, "".join(f"{e}\n" for e in self.error_lines())


def run_piped(
    port: int, data: bytes, *options: str
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        client_command("127.0.0.1", port, *options),
        input=data,
        capture_output=True,
        timeout=DEADLINE_SECONDS * 2,
    )


def test_piped_line_is_sent_and_end_of_input_exits_zero(daemon: ChatDaemon) -> None:
    """printf 'hi\\n' | python -m twisted_chat.client HOST PORT sends "hi"."""
    listener = daemon.connect()
    result = run_piped(daemon.port, b"hi\n")
    assert result.returncode == 0, result.stderr
    listener.expect(line_pattern(text.MESSAGE, name=GUEST, text="hi"))
    listener.expect(line_pattern(text.LEFT, name=GUEST))
    assert result.stderr == b""


def test_piped_lines_beyond_the_burst_all_arrive_paced_and_exit_zero(
    start_daemon: StartDaemon,
) -> None:
    """
    Thirty lines at once, to a server that takes bursts of ten: the client
    paces them itself, so none is refused, and exits 0. (Unpaced, twenty
    were lost, the notice went unseen, and it still exited 0.)
    """
    daemon = start_daemon("--rate", "10", "--burst", "10")
    listener = daemon.connect()
    lines = [f"line {n}" for n in range(30)]
    started = time.monotonic()
    result = run_piped(daemon.port, "".join(f"{x}\n" for x in lines).encode())
    assert (result.returncode, result.stderr) == (0, b"")
    for line in lines:
        listener.expect(line_pattern(text.MESSAGE, name=GUEST, text=re.escape(line)))
    assert b"Slow down" not in result.stdout
    # At 8 lines a second after 5 at once (4/5 of the rate, half the burst).
    assert time.monotonic() - started > (30 - 5) / 8


def test_a_last_line_without_a_newline_is_sent(daemon: ChatDaemon) -> None:
    listener = daemon.connect()
    result = run_piped(daemon.port, b"first\nno newline")
    assert (result.returncode, result.stderr) == (0, b"")
    listener.expect(line_pattern(text.MESSAGE, name=GUEST, text="first"))
    listener.expect(line_pattern(text.MESSAGE, name=GUEST, text="no newline"))


def test_lines_the_server_refuses_are_counted_and_exit_one(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """
    The server's rate drops (a reload) under a script paced for the old
    one: the lines refused are counted exactly, from the server's notices,
    and the client exits 1 saying how many.
    """
    config = tmp_path / "chat.toml"
    config.write_text("rate = 100\nburst = 100\n")
    daemon = start_daemon("--config", str(config))
    listener = daemon.connect()
    client = RunningClient("127.0.0.1", daemon.port)
    client.type("before")
    listener.expect(line_pattern(text.MESSAGE, name=GUEST, text="before"))
    config.write_text("rate = 1\nburst = 1\n")
    daemon.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
    wait_for(lambda: "reloaded" in daemon.log(), what="the reload")
    for n in range(10):
        client.type(f"after {n}")
    client.end_input()
    status, errors = client.finish()
    arrived = 1 + sum(
        re.fullmatch(line_pattern(text.MESSAGE, name=GUEST, text=r"after \d"), line)
        is not None
        for line in _drain(listener)
    )
    missing = 11 - arrived
    assert missing >= 1
    assert (status, errors) == (
        1,
        f"twisted_chat.client: {missing} of 11 lines not sent "
        f"({missing} refused for the rate)\n",
    )
    assert any(text.ERROR.parse(line) for line in client.output)  # the notice shown


def _drain(listener: LineClient) -> list[str]:
    """Every line the listener gets until the client has left."""
    listener.expect(line_pattern(text.LEFT, name=GUEST))
    return listener.lines


def test_a_line_over_the_length_limit_is_counted_and_exit_one(
    start_daemon: StartDaemon,
) -> None:
    daemon = start_daemon("--max-line-length", "100")
    listener = daemon.connect()
    result = run_piped(daemon.port, b"short\n" + b"x" * 150 + b"\nalso short\n")
    assert result.returncode == 1
    assert result.stderr == (
        b"twisted_chat.client: 1 of 3 lines not sent (1 too long)\n"
    )
    listener.expect(line_pattern(text.MESSAGE, name=GUEST, text="short"))
    listener.expect(line_pattern(text.MESSAGE, name=GUEST, text="also short"))


def test_many_piped_lines_all_arrive_before_the_client_leaves(
    start_daemon: StartDaemon,
) -> None:
    daemon = start_daemon("--rate", "0")
    listener = daemon.connect()
    lines = "".join(f"line {n}\n" for n in range(500)).encode()
    result = run_piped(daemon.port, lines)
    assert result.returncode == 0, result.stderr
    for number in range(500):
        listener.expect(line_pattern(text.MESSAGE, name=GUEST, text=f"line {number}"))


def test_received_lines_are_printed(daemon: ChatDaemon) -> None:
    client = RunningClient("127.0.0.1", daemon.port)
    client.wait_for_line(WELCOME)
    other = daemon.connect()
    other.nick("bob")
    other.send("hello client")
    client.wait_for_line("<bob> hello client")
    client.type("hello bob")
    other.expect(r"^<guest1> hello bob$")
    client.end_input()
    status, errors = client.finish()
    assert (status, errors) == (0, "")
    assert client.output == [
        WELCOME,
        text.NOW_IN.format(room="lobby", count=1),
        text.JOINED.format(name="guest2"),
        text.RENAMED.format(old="guest2", new="bob"),
        "<bob> hello client",
    ]  # the answers to its own /limits are not printed


def test_server_closing_is_reported_and_exits_zero(daemon: ChatDaemon) -> None:
    client = RunningClient("127.0.0.1", daemon.port)
    client.wait_for_line(WELCOME)
    daemon.stop()
    status, errors = client.finish()
    assert status == 0
    assert text.NOTICE.format(text="server shutting down") in client.output
    assert errors == "-- connection closed by the server\n"


def test_quit_command_ends_the_client(daemon: ChatDaemon) -> None:
    listener = daemon.connect()
    client = RunningClient("127.0.0.1", daemon.port)
    client.type("bye\n/quit\nafter quit")
    client.wait_for_line(text.GOODBYE.format(name="guest2"))
    status, errors = client.finish()
    assert (status, errors) == (0, "")  # the person left; the server did not drop them
    listener.expect(line_pattern(text.MESSAGE, name="guest2", text="bye"))
    listener.expect(line_pattern(text.LEFT, name="guest2"))
    assert not any("after quit" in line for line in listener.lines)


def test_refused_connection_is_one_line_and_status_one() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    result = run_command(client_command("127.0.0.1", free_port))
    assert result.returncode == 1
    assert result.stderr == (
        f"twisted_chat.client: cannot connect to 127.0.0.1:{free_port}: "
        "connection refused\n"
    )


def test_bad_arguments_are_one_line() -> None:
    result = run_command(client_command("127.0.0.1", "notaport"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "invalid port 'notaport'" in result.stderr


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (["--ca", "ca.pem"], "--ca needs --tls"),
        (["--insecure"], "--insecure needs --tls"),
        (
            ["--tls", "--ca", "ca.pem", "--insecure"],
            "--ca and --insecure contradict each other: choose one",
        ),
    ],
    ids=["ca", "insecure", "both"],
)
def test_tls_options_without_tls_are_a_usage_error(
    options: list[str], problem: str
) -> None:
    """Not silently ignored: the client would talk plain text instead."""
    result = run_command(client_command("127.0.0.1", *options))
    assert (result.returncode, result.stderr) == (
        2,
        f"python -m twisted_chat.client: {problem} (see --help)\n",
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"root:x:0:0:root:/root:/bin/bash\n", "not a PEM certificate"),
        (b"", "not a PEM certificate"),
        (None, "no such file or directory"),
        ("directory", "is a directory"),
    ],
    ids=["not-pem", "empty", "missing", "directory"],
)
def test_a_bad_ca_file_is_one_line_and_status_one(
    tmp_path: Path, content: bytes | str | None, reason: str
) -> None:
    ca = tmp_path / "ca.pem"
    if isinstance(content, bytes):
        ca.write_bytes(content)
    elif content == "directory":
        ca.mkdir()
    result = run_command(client_command("localhost", "--tls", "--ca", ca))
    assert (result.returncode, result.stderr) == (
        1,
        f"twisted_chat.client: cannot use --ca {ca}: {reason}\n",
    )


def test_a_refusing_server_is_retried_less_and_less_often(
    start_daemon: StartDaemon,
) -> None:
    """
    '! Server full' and a close, again and again: the waits grow 1, 2, 4 s
    (they used to stay at 1 s for ever); the end of input ends it at once.
    """
    daemon = start_daemon("--max-clients", "1")
    holder = daemon.connect()
    client = RunningClient("127.0.0.1", daemon.port, "--reconnect")
    notices = [
        client.wait_for_error(f"-- connection lost; reconnecting in {delay} s", 10)
        for delay in (1, 2, 4)
    ]
    assert notices[1] - notices[0] > 1 and notices[2] - notices[1] > 2
    refused = text.ERROR.format(text="Server full (1 clients); try again later.")
    wait_for(lambda: client.output.count(refused) == 3, what="three refusals")
    ended = time.monotonic()
    client.end_input()
    status, _errors = client.finish()
    assert time.monotonic() - ended < 2  # not after the 4 s wait
    assert status == 0
    holder.close()


def test_ctrl_c_exits_cleanly(daemon: ChatDaemon) -> None:
    client = RunningClient("127.0.0.1", daemon.port)
    client.wait_for_line(WELCOME)
    client.process.send_signal(signal.SIGINT)
    status, errors = client.finish()
    assert (status, errors) == (0, "")


def test_ctrl_c_counts_the_lines_it_leaves_unsent(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--rate", "1", "--burst", "2")
    client = RunningClient("127.0.0.1", daemon.port)
    for n in range(10):
        client.type(f"line {n}")
    client.wait_for_line(WELCOME)
    client.process.send_signal(signal.SIGINT)
    status, errors = client.finish()
    assert status == 1
    # Paced at 0.8 lines a second, few can have gone (and none was confirmed).
    sent = re.fullmatch(
        r"twisted_chat\.client: 10 of 10 lines not sent or not confirmed "
        r"\((\d) never sent, (\d) sent but not confirmed before the connection "
        r"closed\)\n",
        errors,
    )
    if sent is None:
        assert (
            errors == "twisted_chat.client: 10 of 10 lines not sent (10 never sent)\n"
        )
    else:
        assert int(sent.group(1)) + int(sent.group(2)) == 10


def test_module_help(tmp_path: Path) -> None:
    result = run_command(client_command("--help"), cwd=tmp_path)
    assert result.returncode == 0
    assert "host" in result.stdout and "port" in result.stdout


def test_server_lines_are_printed_before_the_closed_notice(daemon: ChatDaemon) -> None:
    """With stdout and stderr on one terminal, the notice comes last."""
    process = subprocess.Popen(
        client_command("127.0.0.1", daemon.port),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the greeting: it is connected
        assert first.decode().rstrip("\n") == WELCOME
        daemon.stop()
        output, _ = process.communicate(timeout=DEADLINE_SECONDS)
    finally:
        kill_quietly(process)
    assert output.decode().splitlines()[-2:] == [
        text.NOTICE.format(text="server shutting down"),
        "-- connection closed by the server",
    ]
