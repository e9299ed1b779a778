"""
SIGUSR1 (what a logrotate hook sends) never kills the daemon, under every
logger twisted_chat documents: it rotates the log where there is a file to
rotate, and elsewhere it is logged and does nothing else.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from twisted.logger import eventsFromJSONLogFile, formatEvent

from tests.support import LineClient, bin_command, kill_quietly, wait_for
from twisted_chat import text

IGNORED = "SIGUSR1 ignored: no log file to rotate"


def exactly(line: text.LineFormat, **fields: object) -> str:
    """A pattern for exactly this line of the chat, whatever its format."""
    return f"^{re.escape(line.format(**fields))}$"


@dataclass(frozen=True)
class Logger:
    """How one documented logger is chosen, and where its log ends up."""

    options: tuple[str, ...]
    log_name: str  # the file, in the daemon's folder, its log goes to
    json: bool


LOGGERS = {
    # In the foreground (and under systemd, where stdout is the journal).
    "text-stdout": Logger((), "stdout.txt", json=False),
    "logfile": Logger(("--logfile", "chat.log"), "chat.log", json=False),
    "json_stdout": Logger(
        ("--logger", "twisted_chat.daemon.logs.json_stdout"), "stdout.txt", json=True
    ),
    "json_file": Logger(
        ("--logger", "twisted_chat.daemon.logs.json_file"), "chat.jsonl", json=True
    ),
    # The path documented before the daemon package: it still rotates.
    "json_file-old-path": Logger(
        ("--logger", "twisted_chat.logs.json_file"), "chat.jsonl", json=True
    ),
}


class Foreground:
    """C{twistd -n chat} with a chosen logger, its stdout kept in a file."""

    def __init__(self, folder: Path, logger: Logger) -> None:
        self.folder = folder
        self.logger = logger
        self.log_path = folder / logger.log_name
        self.pidfile = folder / "chat.pid"
        with (folder / "stdout.txt").open("wb") as stdout:
            self.process = subprocess.Popen(
                [
                    bin_command("twistd"),
                    "-n",
                    "--pidfile",
                    str(self.pidfile),
                    *logger.options,
                    "chat",
                    "--server-name",
                    "testhost",
                    "--port",
                    "tcp:0:interface=127.0.0.1",
                ],
                cwd=folder,
                env={**os.environ, "TWISTED_CHAT_JSON_LOG": str(folder / "chat.jsonl")},
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
            )
        pattern = (
            r'"address": (\d+)' if logger.json else r"listening on tcp\S* \((\d+)\)"
        )
        self.port = int(
            wait_for(lambda: re.search(pattern, self.text()), what="the port").group(1)
        )

    def text(self, path: Path | None = None) -> str:
        """A log file's text so far; fails at once if the daemon has died."""
        if self.process.poll() is not None:
            raise AssertionError(
                f"twistd exited with {self.process.returncode}; its log: "
                f"{self._read(self.log_path)[-800:]}"
            )
        return self._read(path or self.log_path)

    @staticmethod
    def _read(path: Path) -> str:
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def messages(self, path: Path | None = None) -> list[str]:
        """Every message logged so far, formatted (JSON logs read back)."""
        text = self.text(path)
        if not self.logger.json:
            return [line.split("] ", 1)[-1] for line in text.splitlines()]
        with (path or self.log_path).open() as lines:
            return [formatEvent(event) for event in eventsFromJSONLogFile(lines)]


@pytest.mark.parametrize("name", list(LOGGERS))
def test_sigusr1_never_kills_the_daemon(tmp_path: Path, name: str) -> None:
    """Rotated where there is a file, logged elsewhere; the chat goes on."""
    daemon = Foreground(tmp_path, LOGGERS[name])
    try:
        alice = LineClient(daemon.port)
        alice.expect(exactly(text.WELCOME, server="testhost", name="guest1", count=1))
        daemon.process.send_signal(signal.SIGUSR1)
        rotated = Path(f"{daemon.log_path}.1")
        if name == "logfile":  # twistd's own rotation, which logs nothing

            def rotated_log() -> bool:
                daemon.text()  # fails at once if the daemon has died
                return rotated.exists()

            wait_for(rotated_log, what="chat.log.1")
            assert "listening on tcp" in rotated.read_text()
        elif name.startswith("json_file"):
            done = f"SIGUSR1: rotated {daemon.log_path} to {rotated}"
            wait_for(lambda: done in daemon.messages(), what="the rotation")
            assert daemon.messages() == [done]  # the first event of a new file
            assert any(m.startswith("listening on") for m in daemon.messages(rotated))
        else:
            wait_for(lambda: IGNORED in daemon.messages(), what="the ignored signal")
            assert daemon.messages().count(IGNORED) == 1
            assert not rotated.exists()
        # Still serving: a newcomer joins, the connected client hears of it.
        LineClient(daemon.port).expect(
            exactly(text.WELCOME, server="testhost", name="guest2", count=2)
        )
        alice.expect(exactly(text.JOINED, name="guest2"))
        assert daemon.pidfile.read_text().strip() == str(daemon.process.pid)
        daemon.process.send_signal(signal.SIGTERM)
        alice.expect(exactly(text.NOTICE, text="server shutting down"))
        assert daemon.process.wait(timeout=15) == -signal.SIGTERM
        assert not daemon.pidfile.exists()  # no stale pidfile
    finally:
        kill_quietly(daemon.process)
