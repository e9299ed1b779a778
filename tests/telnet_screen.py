"""
The stock clients a person joins with, driven as that person would: the
real C{telnet} on a pseudo-terminal, its screen read back through a
terminal emulator (pyte), and the real C{nc} on pipes; plus a raw-socket
peer that keeps the exact bytes it received.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence

import pexpect
import pyte
import pytest

from tests.support import DEADLINE_SECONDS, LineClient, kill_quietly, wait_for
from twisted_chat import text

#: A terminal like a person's: UTF-8, an xterm.
TERMINAL_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm"}
COLUMNS, LINES = 100, 40
#: telnet's escape key and Ctrl-C.
ESCAPE, CTRL_C = b"\x1d", b"\x03"

_DEBIAN_PACKAGES = {"telnet": "telnet", "nc": "netcat-openbsd", "ip": "iproute2"}


def require_tools(*names: str) -> None:
    """Skip the test, saying how to get them, if any of C{names} is missing."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        packages = " ".join(_DEBIAN_PACKAGES.get(name, name) for name in missing)
        pytest.skip(
            f"{', '.join(missing)} not installed (Debian: apt-get install "
            f"{packages}; .ci/run installs them)"
        )


def welcome_name(line: str) -> str | None:
    """The name a greeting line gives its reader, or None if it is not one."""
    fields = text.WELCOME.parse(line)
    return fields["name"] if fields else None


class TelnetScreen:
    """
    C{telnet HOST PORT} on a pty (under C{prefix}, such as C{ip netns exec
    NS}), with what a terminal would show.
    """

    def __init__(self, host: str, port: int, prefix: Sequence[str] = ()) -> None:
        # A UTF-8 terminal has IUTF8 set (terminal emulators and ssh set
        # it), so that its line editing erases a character, not a byte; a
        # fresh pty lacks it. exec: the pid is telnet's.
        command = [*prefix, "sh", "-c", 'stty iutf8 && exec "$0" "$@"']
        command += ["telnet", host, str(port)]
        self.child = pexpect.spawn(
            command[0],
            command[1:],
            env={**os.environ, **TERMINAL_ENV},
            dimensions=(LINES, COLUMNS),
        )
        self.screen = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.ByteStream(self.screen)
        #: Every byte telnet wrote to the terminal.
        self.output = bytearray()
        self.name = ""

    def pump(self) -> None:
        """Take what telnet has written so far onto the screen."""
        try:
            while True:
                chunk = self.child.read_nonblocking(65536, timeout=0.02)
                self.output += chunk
                self.stream.feed(chunk)
        except (pexpect.TIMEOUT, pexpect.EOF):
            pass

    def rows(self) -> list[str]:
        """The screen's rows as shown (a wide character once), unpadded."""
        # Not Screen.display: pyte 0.8.2 raises on a half-erased wide character.
        buffer, columns = self.screen.buffer, self.screen.columns
        return [
            "".join(buffer[y][x].data for x in range(columns)).rstrip()
            for y in range(self.screen.lines)
        ]

    def cursor_row(self) -> str:
        return self.rows()[self.screen.cursor.y]

    def wait_for_screen(
        self,
        condition: Callable[[list[str]], object],
        what: str,
        timeout: float = DEADLINE_SECONDS,
    ) -> list[str]:
        """Wait until C{condition(rows)} holds; the rows then."""

        def check() -> list[str] | None:
            self.pump()
            rows = self.rows()
            return rows if condition(rows) else None

        try:
            return wait_for(check, timeout=timeout, what=what)
        except AssertionError as error:
            shown = "\n".join(row for row in self.rows() if row)
            raise AssertionError(f"{error}; the telnet screen:\n{shown}") from None

    def wait_for_row(self, row: str, timeout: float = DEADLINE_SECONDS) -> int:
        """Wait until a row of the screen reads exactly C{row}; its index."""
        rows = self.wait_for_screen(lambda rows: row in rows, repr(row), timeout)
        return rows.index(row)

    def wait_for_text(self, line: str, timeout: float = DEADLINE_SECONDS) -> int:
        """
        Wait until a row reads C{line} after any blanks at its left (where
        a line lands when the terminal moved down without a CR); its index.
        """
        rows = self.wait_for_screen(
            lambda rows: line in map(str.lstrip, rows), repr(line), timeout
        )
        return [row.lstrip() for row in rows].index(line)

    def wait_for_output(self, data: bytes, since: int = 0) -> None:
        """Wait until telnet has written C{data} to the terminal (after the
        first C{since} bytes of its output)."""
        self.wait_for_screen(
            lambda rows: data in self.output[since:], f"output {data!r}"
        )

    def join(self) -> str:
        """Wait for the greeting; the name it gives."""
        rows = self.wait_for_screen(
            lambda rows: any(map(welcome_name, rows)), "the greeting"
        )
        self.name = next(name for name in map(welcome_name, rows) if name)
        return self.name

    def type(self, keys: str | bytes) -> None:
        self.child.send(keys.encode("utf-8") if isinstance(keys, str) else keys)

    def ctrl_c(self) -> None:
        """Press Ctrl-C and wait for the terminal to echo it (as ^C)."""
        shown = self.output.count(b"^C")
        self.type(CTRL_C)
        self.wait_for_screen(
            lambda rows: self.output.count(b"^C") > shown, "Ctrl-C echoed"
        )

    def telnet_command(self, command: str) -> None:
        """C{^]}, wait for the C{telnet>} prompt, then type C{command}."""
        self.type(ESCAPE)
        self.wait_for_screen(
            lambda rows: self.cursor_row() == "telnet>", "the telnet> prompt"
        )
        self.type(command + "\r")

    def character_mode(self) -> None:
        """
        Switch to character mode and wait until telnet says the server
        echoes (so that what shows as typed from now on is the server's).
        """
        self.telnet_command("mode character")
        self.telnet_command("status")
        self.wait_for_screen(
            lambda rows: (
                rows.count("Operating in single character mode") == 1
                and "Remote character echo" in rows
            ),
            "telnet's status: character mode, remote echo",
        )

    def close(self) -> None:
        """End the telnet we started (its process only)."""
        self.child.close(force=True)


class NcUser:
    """C{nc HOST PORT} (under C{prefix}) with pipes for its stdin and stdout."""

    def __init__(self, host: str, port: int, prefix: Sequence[str] = ()) -> None:
        self.process = subprocess.Popen(
            [*prefix, "nc", host, str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        os.set_blocking(self.process.stdout.fileno(), False)
        #: Every byte nc wrote to its stdout: what the server sent it.
        self.received = bytearray()

    def send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def _read(self) -> None:
        assert self.process.stdout is not None
        while chunk := self.process.stdout.read(65536):
            self.received += chunk

    def lines(self) -> list[bytes]:
        """The complete lines received, without their CRLF."""
        self._read()
        return bytes(self.received).split(b"\r\n")[:-1]

    def wait_for_line(self, predicate: Callable[[bytes], object], what: str) -> bytes:
        """Wait for a received line that satisfies C{predicate}; that line."""

        def check() -> bytes | None:
            return next((line for line in self.lines() if predicate(line)), None)

        try:
            return wait_for(check, what=what)
        except AssertionError as error:
            raise AssertionError(
                f"{error}; nc received {self.lines()[-6:]!r}"
            ) from None

    def join(self) -> str:
        """Wait for the greeting; the name it gives."""
        line = self.wait_for_line(
            lambda line: welcome_name(line.decode("utf-8", "replace")), "a greeting"
        )
        name = welcome_name(line.decode())
        assert name is not None
        return name

    def close(self) -> None:
        kill_quietly(self.process)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


class BytePeer(LineClient):
    """A L{LineClient} that also keeps the exact bytes of each line."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        super().__init__(port, host)
        self.received = bytearray()
        self.raw_lines: list[bytes] = []

    def _take(self, chunk: bytes) -> None:
        self.received += chunk
        self.buffer += chunk
        *complete, self.buffer = self.buffer.split(b"\r\n")
        self.raw_lines.extend(complete)
        # Never raises on bytes that are not UTF-8: the raw lines show them.
        self.lines.extend(line.decode("utf-8", "backslashreplace") for line in complete)

    def join(self) -> str:
        """Read the greeting; the name it gives."""
        line = self.expect(r"Welcome to ").string
        name = welcome_name(line)
        assert name is not None, line
        self.name = name
        # The greeting ends with the room the newcomer is in.
        self.expect(r"^\*\*\* You are in #")
        return name

    def next_raw_line(self, timeout: float = DEADLINE_SECONDS) -> bytes:
        """The next line not yet consumed (by this or by expect), as bytes."""
        self.read_lines(1, timeout)
        return self.raw_lines[self._seen - 1]

    def expect_raw(self, line: bytes, timeout: float = DEADLINE_SECONDS) -> None:
        """Read until the line C{line}, byte for byte, arrives (lines before
        it are consumed too)."""
        self.expect(
            "^" + re.escape(line.decode("utf-8", "backslashreplace")) + "$", timeout
        )
        got = self.raw_lines[self._seen - 1]
        assert got == line, (got, line)
