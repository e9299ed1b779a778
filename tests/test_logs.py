"""The JSON-lines log, read back with Twisted's own reader."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from twisted.logger import LogLevel, eventsFromJSONLogFile, formatEvent

from tests.support import DEADLINE_SECONDS, LineClient, bin_command, wait_for


def test_json_log_has_the_text_log_fields(tmp_path: Path) -> None:
    journal = tmp_path / "chat.jsonl"
    process = subprocess.Popen(
        [
            bin_command("twistd"),
            "-n",
            "--pidfile=",
            "--logger",
            "twisted_chat.logs.json_file",
            "chat",
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
        client.expect(r"^\* Welcome")
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
    assert event["log_namespace"] == "twisted_chat.protocol"
    assert event["name"] == "guest1" and event["peer"].startswith("127.0.0.1:")
    assert formatEvent(event) == f"{event['peer']} connected as guest1"
    assert len(journal.read_text().splitlines()) == len(events)  # one event a line
