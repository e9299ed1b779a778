"""The JSON-lines log, read back with Twisted's own reader, and its rotation."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from twisted.logger import (
    ILogObserver,
    LogLevel,
    eventsFromJSONLogFile,
    formatEvent,
)

from tests.support import DEADLINE_SECONDS, LineClient, bin_command, wait_for
from twisted_chat import logs as old_path_logs
from twisted_chat import text
from twisted_chat.daemon import logs


def messages(path: Path) -> list[str]:
    """The formatted events of a JSON-lines log file, in order."""
    with path.open() as lines:
        return [formatEvent(event) for event in eventsFromJSONLogFile(lines)]


def emit(observer: ILogObserver, text: str) -> None:
    observer({"log_format": text, "log_level": LogLevel.info, "log_time": 0.0})


def test_json_log_has_the_text_log_fields(tmp_path: Path) -> None:
    journal = tmp_path / "chat.jsonl"
    process = subprocess.Popen(
        [
            bin_command("twistd"),
            "-n",
            "--pidfile=",
            "--logger",
            "twisted_chat.daemon.logs.json_file",
            "chat",
            "--server-name",
            "testhost",
            "--port",
            "tcp:0:interface=127.0.0.1",
        ],
        cwd=tmp_path,
        env={**os.environ, "TWISTED_CHAT_JSON_LOG": str(journal)},
        stdout=subprocess.DEVNULL,
    )
    try:

        def port() -> re.Match[str] | None:
            # The "listening on {endpoint} ({address})" event carries the port.
            text = journal.read_text() if journal.exists() else ""
            return re.search(r'"address": (\d+)', text)

        listening = wait_for(port, what="the port in the JSON log")
        client = LineClient(int(listening.group(1)))
        client.expect(
            re.escape(text.WELCOME.format(server="testhost", name="guest1", count=1))
        )
        client.reset()
        wait_for(lambda: "disconnected" in journal.read_text(), what="the disconnect")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(DEADLINE_SECONDS)
    with journal.open() as lines:
        events = list(eventsFromJSONLogFile(lines))
    assert all(isinstance(event["log_time"], float) for event in events)
    connected = [
        e for e in events if e.get("log_format") == "{peer} connected as {name}"
    ]
    assert len(connected) == 1
    event = connected[0]
    assert event["log_level"] is LogLevel.info
    assert event["log_namespace"] == "twisted_chat.session.session"
    assert event["name"] == "guest1" and event["peer"].startswith("127.0.0.1:")
    assert formatEvent(event) == f"{event['peer']} connected as guest1"
    assert len(journal.read_text().splitlines()) == len(events)  # one event a line


@pytest.fixture
def json_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where json_file() writes in this test; no other test's file rotates."""
    path = tmp_path / "chat.jsonl"
    monkeypatch.setenv("TWISTED_CHAT_JSON_LOG", str(path))
    monkeypatch.setattr(logs, "_files", [])
    return path


def test_rotating_the_json_file_numbers_old_files_and_loses_no_event(
    json_log: Path,
) -> None:
    """Like twistd's --logfile: the file becomes .1, an older .1 becomes .2."""
    observer = logs.json_file()
    emit(observer, "first")
    assert logs.rotate_files() == [f"rotated {json_log} to {json_log}.1"]
    emit(observer, "second")
    logs.rotate_files()
    emit(observer, "third")
    assert messages(Path(f"{json_log}.2")) == ["first"]
    assert messages(Path(f"{json_log}.1")) == ["second"]
    assert messages(json_log) == ["third"]


def test_a_json_file_moved_away_by_logrotate_is_reopened(json_log: Path) -> None:
    """logrotate renames the file, then sends SIGUSR1: a new file starts."""
    observer = logs.json_file()
    emit(observer, "before")
    json_log.rename(f"{json_log}.1")
    assert logs.rotate_files() == [f"reopened {json_log} (moved away)"]
    emit(observer, "after")
    assert messages(Path(f"{json_log}.1")) == ["before"]
    assert messages(json_log) == ["after"]
    assert not Path(f"{json_log}.2").exists()


def test_no_json_file_means_nothing_to_rotate(json_log: Path) -> None:
    """With another logger, SIGUSR1 finds no file of ours to rotate."""
    logs.json_stdout()
    assert logs.rotate_files() == []
    assert not json_log.exists()


def test_the_old_logger_path_names_the_same_observers() -> None:
    """C{--logger twisted_chat.logs.json_file} (or json_stdout) still works."""
    assert old_path_logs.json_file is logs.json_file
    assert old_path_logs.json_stdout is logs.json_stdout
