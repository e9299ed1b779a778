"""
The terminal client as a child process, piped stdin, against the real daemon.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from tests.support import DEADLINE_SECONDS, ChatDaemon, kill_quietly, run_command


def client_command(*arguments: object) -> list[str]:
    return [sys.executable, "-m", "twisted_chat.client", *map(str, arguments)]


class RunningClient:
    """A client child process whose stdout is collected line by line."""

    def __init__(self, *arguments: object) -> None:
        self.process = subprocess.Popen(
            client_command(*arguments),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.output: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            with self._changed:
                self.output.append(raw.decode("utf-8").rstrip("\n"))
                self._changed.notify_all()

    def wait_for_line(self, wanted: str) -> None:
        with self._changed:
            if not self._changed.wait_for(
                lambda: wanted in self.output, timeout=DEADLINE_SECONDS
            ):
                raise AssertionError(f"{wanted!r} not printed; got {self.output!r}")

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode("utf-8") + b"\n")
        self.process.stdin.flush()

    def finish(self) -> tuple[int, str]:
        """Wait for exit; the exit status and stderr."""
        try:
            self.process.wait(timeout=DEADLINE_SECONDS)
        finally:
            kill_quietly(self.process)
        self._reader.join(DEADLINE_SECONDS)
        assert self.process.stderr is not None
        return self.process.returncode, self.process.stderr.read().decode()


def test_piped_line_is_sent_and_end_of_input_exits_zero(daemon: ChatDaemon) -> None:
    """printf 'hi\\n' | python -m twisted_chat.client HOST PORT sends "hi"."""
    listener = daemon.connect()
    result = subprocess.run(
        client_command("127.0.0.1", daemon.port),
        input=b"hi\n",
        capture_output=True,
        timeout=DEADLINE_SECONDS * 2,
    )
    assert result.returncode == 0, result.stderr
    listener.expect(r"^<guest\d+> hi$")
    listener.expect(r"^\* guest\d+ has left$")
    assert b"Traceback" not in result.stderr


def test_many_piped_lines_all_arrive_before_the_client_leaves(
    start_daemon: Callable[..., ChatDaemon],
) -> None:
    daemon = start_daemon("--rate", "0")
    listener = daemon.connect()
    lines = "".join(f"line {n}\n" for n in range(500)).encode()
    result = subprocess.run(
        client_command("127.0.0.1", daemon.port),
        input=lines,
        capture_output=True,
        timeout=DEADLINE_SECONDS * 2,
    )
    assert result.returncode == 0, result.stderr
    for number in range(500):
        listener.expect(rf"^<guest\d+> line {number}$")


def test_received_lines_are_printed(daemon: ChatDaemon) -> None:
    client = RunningClient("127.0.0.1", daemon.port)
    client.wait_for_line(
        "* Welcome to testhost, guest1! 1 here now. Type /help for commands."
    )
    other = daemon.connect()
    other.nick("bob")
    other.send("hello client")
    client.wait_for_line("<bob> hello client")
    client.type("hello bob")
    other.expect(r"^<guest1> hello bob$")
    assert client.process.stdin is not None
    client.process.stdin.close()
    status, errors = client.finish()
    assert status == 0
    assert errors == ""


def test_server_closing_is_reported_and_exits_zero(daemon: ChatDaemon) -> None:
    client = RunningClient("127.0.0.1", daemon.port)
    client.wait_for_line(
        "* Welcome to testhost, guest1! 1 here now. Type /help for commands."
    )
    daemon.stop()
    status, errors = client.finish()
    assert status == 0
    assert "* server shutting down" in client.output
    assert errors == "* connection closed by the server\n"


def test_quit_command_ends_the_client(daemon: ChatDaemon) -> None:
    client = RunningClient("127.0.0.1", daemon.port)
    client.type("/quit")
    client.wait_for_line("* Goodbye, guest1.")
    status, errors = client.finish()
    assert status == 0
    assert errors == ""  # the person left; the server did not drop them


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


def test_ctrl_c_exits_cleanly(daemon: ChatDaemon) -> None:
    client = RunningClient("127.0.0.1", daemon.port)
    client.wait_for_line(
        "* Welcome to testhost, guest1! 1 here now. Type /help for commands."
    )
    client.process.send_signal(signal.SIGINT)
    status, errors = client.finish()
    assert status == 0
    assert "Traceback" not in errors


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
        assert first.startswith(b"* Welcome")
        daemon.stop()
        output, _ = process.communicate(timeout=DEADLINE_SECONDS)
    finally:
        kill_quietly(process)
    assert output.decode().splitlines()[-2:] == [
        "* server shutting down",
        "* connection closed by the server",
    ]
