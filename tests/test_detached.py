"""
The daemon detached: pidfile, log file (text or JSON lines), SIGUSR1
rotation, one instance.
"""

from __future__ import annotations

import os
import re
import signal
import socket
from pathlib import Path

from tests.support import LineClient, bin_command, run_command, wait_for
from twisted_chat import text

#: The greeting's name when --server-name is not given.
HOST = socket.gethostname()


def exactly(line: text.LineFormat, **fields: object) -> str:
    """A pattern for exactly this line of the chat, whatever its format."""
    return f"^{re.escape(line.format(**fields))}$"


def stop_if_ours(pid: int) -> None:
    """SIGTERM the daemon we started, unless it has already died."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return
    if b"twistd" in command:
        os.kill(pid, signal.SIGTERM)


def test_detached_daemon_with_pidfile_rotation_and_a_single_instance(
    tmp_path: Path,
) -> None:
    start = [
        bin_command("twistd"),
        "--pidfile",
        "chat.pid",
        "--logfile",
        "chat.log",
        "chat",
        "--port",
        "tcp:0:interface=127.0.0.1",
    ]
    result = run_command(start, cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # the parent returns at once
    pidfile, log = tmp_path / "chat.pid", tmp_path / "chat.log"
    pid = int(
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="pid")
    )
    try:
        port = int(
            wait_for(
                lambda: re.search(r"listening on tcp\S* \((\d+)\)", log.read_text()),
                what="the port in the log",
            ).group(1)
        )
        LineClient(port).expect(
            exactly(text.WELCOME, server=HOST, name="guest1", count=1)
        )
        second = run_command(start, cwd=tmp_path)
        assert second.returncode == 1
        assert (
            f"Another twistd server is running, PID {pid}"
            in second.stdout + second.stderr
        )
        os.kill(pid, signal.SIGUSR1)
        wait_for(lambda: (tmp_path / "chat.log.1").exists(), what="the rotated log")
        assert "listening on tcp" in (tmp_path / "chat.log.1").read_text()
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not pidfile.exists(), what="the pidfile to go")


def test_detached_json_log_rotates_on_sigusr1_and_the_daemon_stays(
    tmp_path: Path,
) -> None:
    """A logrotate hook's SIGUSR1 under json_file rotates; no stale pidfile."""
    start = [
        bin_command("twistd"),
        "--pidfile",
        "chat.pid",
        "--logger",
        "twisted_chat.daemon.logs.json_file",
        "chat",
        "--port",
        "tcp:0:interface=127.0.0.1",
    ]
    result = run_command(
        start, cwd=tmp_path, env={"TWISTED_CHAT_JSON_LOG": "chat.jsonl"}
    )
    assert result.returncode == 0, result.stderr
    pidfile, log = tmp_path / "chat.pid", tmp_path / "chat.jsonl"
    pid = int(
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="pid")
    )
    try:
        port = int(
            wait_for(
                lambda: re.search(r'"address": (\d+)', log.read_text()),
                what="the port in the JSON log",
            ).group(1)
        )
        alice = LineClient(port)
        alice.expect(exactly(text.WELCOME, server=HOST, name="guest1", count=1))
        rotated = f"rotated {log} to {log}.1"
        for oldest in (f"{log}.1", f"{log}.2"):
            os.kill(pid, signal.SIGUSR1)
            wait_for(
                lambda: Path(oldest).exists() and rotated in log.read_text(),  # noqa: B023
                what=f"{oldest} and the rotation in the new log",
            )
        assert '"listening on {endpoint} ({address})"' in Path(f"{log}.2").read_text()
        assert rotated in Path(f"{log}.1").read_text()
        LineClient(port).expect(
            exactly(text.WELCOME, server=HOST, name="guest2", count=2)
        )
        alice.expect(
            exactly(text.JOINED, name="guest2")
        )  # the same daemon, still serving
        assert pidfile.read_text().strip() == str(pid)
    finally:
        stop_if_ours(pid)
    wait_for(lambda: not pidfile.exists(), what="the pidfile to go")
