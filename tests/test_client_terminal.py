"""
The client on a real pseudo-terminal against the real daemon, its screen
read back through a terminal emulator (pyte).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pyte

from tests.support import DEADLINE_SECONDS, ChatDaemon, kill_quietly, wait_for
from twisted_chat import text
from twisted_chat.client.style import name_colour

StartDaemon = Callable[..., ChatDaemon]
COLUMNS, LINES = 80, 24


class RewrappingScreen(pyte.Screen):  # type: ignore[misc]
    """
    pyte cuts its rows when it is made narrower; most terminals now re-wrap
    them instead, the cursor moving with its character. This one does, and
    answers the client's cursor position reports as a terminal would.
    """

    answer: Callable[[str], object] = print

    def write_process_input(self, data: str) -> None:
        self.answer(data)

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        columns = columns or self.columns
        if columns >= self.columns:
            super().resize(lines, columns)
            return
        rows: list[list[object]] = []
        x, y = self.cursor.x, self.cursor.y
        new_cursor = (0, 0)
        for row in range(self.lines):
            line = self.buffer[row]
            length = max(
                (i + 1 for i, char in line.items() if char.data != " "), default=0
            )
            if row == y:
                length = max(length, x)
                new_cursor = (x % columns, len(rows) + x // columns)
            cells = [line[i] for i in range(length)]
            rows.extend(cells[i : i + columns] for i in range(0, len(cells), columns))
            if not cells:
                rows.append([])
        while len(rows) > self.lines and not rows[-1] and len(rows) - 1 > new_cursor[1]:
            rows.pop()
        scrolled = max(0, len(rows) - self.lines)
        super().resize(lines, columns)
        self.buffer.clear()
        for row, cells in enumerate(rows[scrolled:]):
            for column, char in enumerate(cells):
                self.buffer[row][column] = char
        self.cursor.x, self.cursor.y = new_cursor[0], new_cursor[1] - scrolled


class FaintScreen(pyte.Screen):  # type: ignore[misc]
    """
    pyte 0.8 keeps no faint (SGR 2) per character. The client never draws
    in italics (SGR 3), so this screen records faint as italics: a
    character's C{italics} is whether it was drawn faint.
    """

    def select_graphic_rendition(self, *attributes: int, **options: object) -> None:
        mapped: list[int] = []
        for attribute in attributes:
            if attribute == 2:
                mapped.append(3)
            elif attribute == 22:  # neither bold nor faint
                mapped += [22, 23]
            else:
                mapped.append(attribute)
        super().select_graphic_rendition(*mapped, **options)


class OneClientServer:
    """A fake chat server on a socket: it says what it is told to one client."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.connection: socket.socket | None = None

    def accept(self) -> None:
        self.listener.settimeout(DEADLINE_SECONDS)
        self.connection, _ = self.listener.accept()

    def say(self, *lines: str) -> None:
        assert self.connection is not None
        self.connection.sendall(b"".join(text.encode_line(line) for line in lines))

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.listener.close()


class PtyClient:
    """The client under a shell on a pty, with an emulated screen."""

    def __init__(
        self,
        port: int,
        workdir: Path,
        *options: str,
        env: dict[str, str] | None = None,
        screen: pyte.Screen | None = None,
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
        self.screen = screen or pyte.Screen(COLUMNS, LINES)
        if isinstance(self.screen, RewrappingScreen):
            self.screen.answer = self.child.send
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

    def resize(self, columns: int) -> None:
        """The window narrows: the terminal re-lays its screen, then SIGWINCH."""
        self.pump()
        self.screen.resize(LINES, columns)
        self.child.setwinsize(LINES, columns)

    def close(self) -> None:
        self.child.close(force=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def renamed_to(name: str) -> str:
    return (
        "^"
        + re.escape(text.RENAMED.format(old="OLD", new=name)).replace(
            "OLD", r"guest\d+"
        )
        + "$"
    )


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
    port = free_port()
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
            r"^\*\*\* guest\d+ is now known as carol$", timeout=DEADLINE_SECONDS * 3
        )
        # The notice goes to stderr after the rename reaches the daemon, and
        # a thread reads it: wait for it rather than race it.
        wait_for(
            lambda: f"-- reconnected to 127.0.0.1:{port}" in notices,
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


def test_esc_then_an_arrow_and_alt_keys_are_never_typed(
    daemon: ChatDaemon, tmp_path: Path
) -> None:
    """A lone Esc then Left moves left (it used to type "[D"); Alt-B moves by word."""
    other = daemon.connect()
    pty = PtyClient(daemon.port, tmp_path, "--nick", "alice")
    try:
        pty.wait_for_screen(lambda rows: "alice>" in rows, "the prompt")
        pty.type("ab\x1b")
        pty.wait_for_screen(lambda rows: "alice> ab" in rows, "ab")
        pty.type("\x1b[DX\r")
        other.expect(r"^<alice> aXb$")
        pty.type("one two\x1bbX\x1bf\x1bfY\x1b\x1b[A")  # ... and Esc, Up: the history
        pty.wait_for_screen(lambda rows: "alice> aXb" in rows, "the line from history")
        pty.type("\x15one two\x1bbX\r")
        other.expect(r"^<alice> one Xtwo$")
        assert not any("[" in row for row in pty.rows() if row.startswith("alice>"))
    finally:
        pty.close()


def test_narrowing_the_window_leaves_no_stale_copy_of_the_input_line(
    daemon: ChatDaemon, tmp_path: Path
) -> None:
    """
    On a terminal that re-wraps on a resize, the half-typed line is drawn
    again once, at the new width, and nothing of the old one stays above.
    """
    other = daemon.connect()
    pty = PtyClient(
        daemon.port,
        tmp_path,
        "--nick",
        "alice",
        screen=RewrappingScreen(COLUMNS, LINES),
    )
    typed = "".join(f"{n:02d}....." for n in range(8))
    try:
        pty.wait_for_screen(lambda rows: "alice>" in rows, "the prompt")
        pty.type(typed)
        pty.wait_for_screen(lambda rows: f"alice> {typed}" in rows, "the typed line")
        pty.resize(40)
        visible = "alice> " + typed[-(40 - len("alice> ") - 2) :]
        rows = pty.wait_for_screen(lambda rows: visible in rows, "the line redrawn")
        confirmed = text.YOUR_NAME.format(name="alice")
        assert rows[rows.index(visible) - 1] == confirmed  # nothing in between
        assert [row for row in rows if "....." in row] == [visible]
        assert (pty.screen.cursor.x, pty.screen.cursor.y) == (
            len(visible),
            rows.index(visible),
        )
        other.send("after the resize")
        rows = pty.wait_for_screen(
            lambda rows: "<guest1> after the resize" in rows, "a line after it"
        )
        assert rows[rows.index(confirmed) :][:3] == [
            confirmed,
            "<guest1> after the resize",
            visible,
        ]
        pty.type("\r")
        other.expect(rf"^<alice> {re.escape(typed)}$")
    finally:
        pty.close()


def test_ctrl_c_during_a_reconnection_wait_quits_at_once(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    port = free_port()
    daemon = start_daemon("--port", f"tcp:{port}:interface=127.0.0.1")
    pty = PtyClient(port, tmp_path, "--reconnect")
    try:
        pty.wait_for_screen(lambda rows: "guest1>" in rows, "the prompt")
        daemon.stop()
        pty.wait_for_screen(
            lambda rows: any("retrying in 4 s" in row for row in rows), "a 4 s wait"
        )
        pressed = time.monotonic()
        pty.type("\x03")
        pty.wait_for_screen(lambda rows: "exit=0" in rows, "the client to exit")
        assert time.monotonic() - pressed < 2  # not after the wait
    finally:
        pty.close()


def test_a_forged_rename_changes_neither_the_prompt_nor_the_name_asked_for(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """
    Someone says '* You are now known as eve' (/nick You, /me are now
    known as eve): alice's prompt stays, and after a reconnection she asks
    for alice, the name the server confirmed, not eve.
    """
    port = free_port()
    endpoint = f"tcp:{port}:interface=127.0.0.1"
    first = start_daemon("--port", endpoint)
    pty = PtyClient(port, tmp_path, "--nick", "alice", "--reconnect")
    try:
        pty.wait_for_screen(lambda rows: "alice>" in rows, "the prompt")
        forger = first.connect()
        forger.send("/nick You")  # refused where "You" is reserved
        forger.send("/me are now known as eve")
        pty.wait_for_screen(
            lambda rows: any(row.endswith(" are now known as eve") for row in rows),
            "the forged line",
        )
        pty.type("x")
        pty.wait_for_screen(lambda rows: "alice> x" in rows, "the prompt unchanged")
        first.stop()
        second = start_daemon("--port", endpoint)
        watcher = second.connect()
        watcher.expect(renamed_to("alice"), timeout=DEADLINE_SECONDS * 2)
        pty.wait_for_screen(lambda rows: "alice> x" in rows, "the prompt after it")
    finally:
        pty.close()


HISTORY_HEAD = text.HISTORY.format(count=2, room="lobby")
HISTORY_SAID = text.HISTORY_SAID.format(time="21:30", name="bob", text="hi all")
HISTORY_ACTED = text.HISTORY_ACTED.format(time="21:31", name="carol", text="waves")
NOW_IN = text.NOW_IN.format(room="lobby", count=3)
LIVE = "<bob> live now"


def show_history(tmp_path: Path, env: dict[str, str] | None = None) -> PtyClient:
    """
    The client on a pty, greeted by a fake server that replays history and
    then says a live line; returned once the live line is on the screen.
    """
    server = OneClientServer()
    pty = PtyClient(server.port, tmp_path, env=env, screen=FaintScreen(COLUMNS, LINES))
    try:
        server.accept()
        server.say(
            text.WELCOME.format(server="fake", name="guest1", count=3),
            NOW_IN,
            HISTORY_HEAD,
            HISTORY_SAID,
            HISTORY_ACTED,
            LIVE,
        )
        pty.wait_for_screen(lambda rows: LIVE in rows, "the live line")
        server.close()
        pty.wait_for_screen(lambda rows: "exit=0" in rows, "the client to exit")
    except BaseException:
        pty.close()
        raise
    finally:
        server.close()
    return pty


def drawn(pty: PtyClient, line: str) -> list[pyte.screens.Char]:
    """The characters of the row showing C{line}, as the screen has them."""
    row = pty.rows().index(line)
    return [pty.screen.buffer[row][x] for x in range(len(line))]


def test_history_is_drawn_faint_apart_from_notices_and_live_lines(
    tmp_path: Path,
) -> None:
    pty = show_history(tmp_path)
    try:
        for line, name in ((HISTORY_SAID, "bob"), (HISTORY_ACTED, "carol")):
            chars = drawn(pty, line)
            assert all(char.italics for char in chars if char.data != " "), line
            colour = pyte.graphics.FG_ANSI[int(name_colour(name))]
            assert chars[line.index(name)].fg == colour
        for notice in (NOW_IN, HISTORY_HEAD):
            chars = drawn(pty, notice)
            assert {(char.fg, char.italics) for char in chars} == {("cyan", False)}
        live = drawn(pty, LIVE)
        assert not any(char.italics for char in live)
        assert live[1].fg == pyte.graphics.FG_ANSI[int(name_colour("bob"))]
    finally:
        pty.close()


def test_with_no_color_history_is_plain_text_as_received(tmp_path: Path) -> None:
    pty = show_history(tmp_path, env={"NO_COLOR": "1"})
    try:
        for line in (NOW_IN, HISTORY_HEAD, HISTORY_SAID, HISTORY_ACTED, LIVE):
            plain = {(c.fg, c.bold, c.italics) for c in drawn(pty, line)}
            assert plain == {("default", False, False)}, line
    finally:
        pty.close()
