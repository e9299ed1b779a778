"""
The client on a real pseudo-terminal against the real daemon, its screen
read back through a terminal emulator (pyte).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pexpect
import pyte

from tests.support import DEADLINE_SECONDS, ChatDaemon, kill_quietly, wait_for

StartDaemon = Callable[..., ChatDaemon]
COLUMNS, LINES = 80, 24


class PtyClient:
    """The client under a shell on a pty, with an emulated screen."""

    def __init__(
        self, port: int, workdir: Path, *options: str, env: dict[str, str] | None = None
    ) -> None:
        self.workdir = workdir
        client = " ".join(
            [
                sys.executable,
                "-m",
                "twisted_chat.client",
                "127.0.0.1",
                str(port),
                *options,
            ]
        )
        # The shell records the terminal's mode before and after the client.
        script = f"stty -g > before; {client}; echo exit=$?; stty -g > after; sleep 30"
        self.child = pexpect.spawn(
            "sh",
            ["-c", script],
            cwd=str(workdir),
            dimensions=(LINES, COLUMNS),
            env={**os.environ, **(env or {})},
        )
        self.screen = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.ByteStream(self.screen)

    def pump(self) -> None:
        try:
            while True:
                self.stream.feed(self.child.read_nonblocking(65536, timeout=0.05))
        except (pexpect.TIMEOUT, pexpect.EOF):
            pass

    def rows(self) -> list[str]:
        return [row.rstrip() for row in self.screen.display]

    def wait_for_screen(
        self, condition: Callable[[list[str]], bool], what: str
    ) -> list[str]:
        def check() -> list[str] | None:
            self.pump()
            rows = self.rows()
            return rows if condition(rows) else None

        try:
            return wait_for(check, what=what)
        except AssertionError as error:
            raise AssertionError(f"{error}; screen: {self.rows()}") from None

    def type(self, keys: str | bytes) -> None:
        self.child.send(keys)

    def close(self) -> None:
        self.child.close(force=True)


def test_half_typed_line_survives_incoming_messages(
    daemon: ChatDaemon, tmp_path: Path
) -> None:
    pty = PtyClient(daemon.port, tmp_path, "--nick", "alice")
    try:
        pty.wait_for_screen(lambda rows: "alice>" in rows, "the prompt with the name")
        pty.type("half a li")
        pty.type("\x1b[D\x1b[D")  # Left, Left: the cursor is mid-line
        pty.wait_for_screen(lambda rows: "alice> half a li" in rows, "the typed text")
        other = daemon.connect()
        other.nick("bob")
        other.send("a message from bob")
        rows = pty.wait_for_screen(
            lambda rows: "<bob> a message from bob" in rows, "bob's message"
        )
        prompt_row = rows.index("alice> half a li")
        bob_row = rows.index("<bob> a message from bob")
        assert pty.screen.buffer[bob_row][1].fg != "default"  # names in colour
        assert rows.index("<bob> a message from bob") < prompt_row
        assert (pty.screen.cursor.x, pty.screen.cursor.y) == (
            len("alice> half a "),
            prompt_row,
        )
        pty.type("\x1b[Fne\r")  # End, the rest of the line, Enter
        other.expect(r"^<alice> half a line$")
        pty.wait_for_screen(lambda rows: "<alice> half a line" in rows, "our own line")
        daemon.stop()
        pty.wait_for_screen(lambda rows: "exit=0" in rows, "the client to exit")
        wait_for(lambda: (tmp_path / "after").exists(), what="stty after")
        assert (tmp_path / "before").read_text() == (tmp_path / "after").read_text()
    finally:
        pty.close()


def test_ctrl_c_quits_and_restores_the_terminal(
    daemon: ChatDaemon, tmp_path: Path
) -> None:
    pty = PtyClient(daemon.port, tmp_path)
    try:
        pty.wait_for_screen(lambda rows: "guest1>" in rows, "the prompt")
        pty.type("\x03")
        pty.wait_for_screen(lambda rows: "exit=0" in rows, "the client to exit")
        wait_for(lambda: (tmp_path / "after").exists(), what="stty after")
        assert (tmp_path / "before").read_text() == (tmp_path / "after").read_text()
    finally:
        pty.close()


def test_reconnect_rejoins_with_the_same_name(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"tcp:{port}:interface=127.0.0.1"
    first = start_daemon("--port", endpoint)
    client = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "twisted_chat.client",
            "127.0.0.1",
            str(port),
            "--nick",
            "carol",
            "--reconnect",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    notices: list[str] = []
    reader = threading.Thread(
        target=lambda: notices.extend(
            line.decode().rstrip()
            for line in client.stderr  # type: ignore[union-attr]
        ),
        daemon=True,
    )
    reader.start()
    try:
        watcher = first.connect()
        watcher.expect(r"is now known as carol$")
        first.stop()
        wait_for(
            lambda: any("reconnecting in 1 s" in n for n in notices), what="notice"
        )
        second = start_daemon("--port", endpoint)
        watcher = second.connect()
        watcher.expect(
            r"^\* guest\d+ is now known as carol$", timeout=DEADLINE_SECONDS * 3
        )
        # The notice goes to stderr after the rename reaches the daemon, and
        # a thread reads it: wait for it rather than race it.
        wait_for(
            lambda: f"* reconnected to 127.0.0.1:{port}" in notices,
            what="the reconnected notice",
        )
        assert client.stdin is not None
        client.stdin.write(b"back again\n")
        client.stdin.flush()
        watcher.expect(r"^<carol> back again$")
        client.stdin.close()
        assert client.wait(DEADLINE_SECONDS) == 0
    finally:
        kill_quietly(client)
