"""
The terminal client's screen: an editable input line at the bottom, the
conversation scrolling above it, names in colour.

L{ChatTerminal} is an insults L{TerminalProtocol}: it sees keystrokes and
draws through the L{ITerminalTransport} API only, so it runs over
C{insults.ServerProtocol} on a real terminal and over C{TerminalBuffer} in
tests alike.
"""

from __future__ import annotations

import codecs
import os
import unicodedata
import zlib
from collections.abc import Callable

from twisted.conch.insults import insults
from twisted.conch.insults.insults import TerminalProtocol

from twisted_chat import text

# SGR codes as insults.ServerProtocol takes them (strings), kept to the 8
# basic colours every terminal has.
NORMAL, BOLD = str(insults.NORMAL), str(insults.BOLD)
RED, GREEN, YELLOW, BLUE, MAGENTA, CYAN = (str(n) for n in (31, 32, 33, 34, 35, 36))
NAME_COLOURS = (GREEN, YELLOW, BLUE, MAGENTA, RED)
NOTICE_COLOUR = CYAN
HISTORY_LIMIT = 500


def _key(name: str) -> bytes:
    """The keyID insults.ServerProtocol delivers for a named key."""
    key: bytes = getattr(insults.ServerProtocol, name)
    return key


_CTRL_A, _CTRL_C, _CTRL_D, _CTRL_E, _CTRL_U = (
    b"\x01",
    b"\x03",
    b"\x04",
    b"\x05",
    b"\x15",
)

#: A piece of a line to draw: its text and SGR attributes (empty: plain).
Span = tuple[str, tuple[str, ...]]


def name_colour(name: str) -> str:
    """A colour for C{name}: the same on every run and every machine."""
    return NAME_COLOURS[zlib.crc32(name.casefold().encode()) % len(NAME_COLOURS)]


def columns(line: str) -> int:
    """How many terminal columns C{line} takes (wide East Asian chars take 2)."""
    width = 0
    for char in line:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in "WF" else 1
    return width


def style_line(line: str, own_name: str) -> list[Span]:
    """
    Split a server line into coloured spans, recognising it by the shared
    formats of L{twisted_chat.text}; a line of no known format stays plain.
    """

    def who(name: str) -> tuple[str, ...]:
        colour = name_colour(name)
        return (BOLD, colour) if name == own_name else (colour,)

    if (fields := text.MESSAGE.parse(line)) is not None:
        return [
            ("<", ()),
            (fields["name"], who(fields["name"])),
            ("> " + fields["text"], ()),
        ]
    if (fields := text.PRIVATE_SENT.parse(line)) is not None:
        return [
            ("-> *", ()),
            (fields["name"], who(fields["name"])),
            ("* " + fields["text"], ()),
        ]
    if (fields := text.PRIVATE.parse(line)) is not None:
        return [
            ("*", (BOLD,)),
            (fields["name"], who(fields["name"])),
            ("* " + fields["text"], (BOLD,)),
        ]
    if text.ERROR.parse(line) is not None:
        return [(line, (BOLD, RED))]
    if any(f.parse(line) is not None for f in (*text.EVENT_FORMATS, text.WHO)):
        return [(line, (NOTICE_COLOUR,))]
    if (fields := text.ACTION.parse(line)) is not None:
        return [
            ("* ", ()),
            (fields["name"], who(fields["name"])),
            (" " + fields["text"], ()),
        ]
    if text.NOTICE.parse(line) is not None:
        return [(line, (NOTICE_COLOUR,))]
    return [(line, ())]


class ChatTerminal(TerminalProtocol):
    """
    The input line and the scrolling conversation above it.

    Guarantees: a line shown while someone types appears above the input
    line, and the half-typed line and its cursor position are drawn again
    unchanged; nothing is cleared at start; Left, Right, Home (Ctrl-A), End
    (Ctrl-E), Backspace and Delete edit, Up and Down walk the history,
    Ctrl-U clears the line, Ctrl-C and Ctrl-D call C{on_quit}.
    """

    def __init__(
        self,
        on_line: Callable[[str], None],
        on_quit: Callable[[], None],
        colour: bool = True,
        width: Callable[[], int] | None = None,
    ) -> None:
        self.on_line = on_line
        self.on_quit = on_quit
        self.colour = colour
        self.name = ""
        self._width = width or _terminal_width
        self._chars: list[str] = []
        self._cursor = 0
        self._history: list[str] = []
        self._history_position = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._keys: dict[bytes, Callable[[], None]] = {
            _key("LEFT_ARROW"): self._left,
            _key("RIGHT_ARROW"): self._right,
            _key("HOME"): self._home,
            _CTRL_A: self._home,
            _key("END"): self._end,
            _CTRL_E: self._end,
            _key("UP_ARROW"): self._older,
            _key("DOWN_ARROW"): self._newer,
            _key("BACKSPACE"): self._backspace,
            b"\x08": self._backspace,
            _key("DELETE"): self._delete,
            _CTRL_U: self._clear,
            b"\r": self._submit,
            b"\n": self._submit,
            _CTRL_C: self._quit,
            _CTRL_D: self._quit,
        }

    # What the session calls

    @property
    def prompt(self) -> str:
        return f"{self.name}> " if self.name else "> "

    @property
    def typed(self) -> str:
        """The line being typed."""
        return "".join(self._chars)

    @property
    def cursor(self) -> int:
        """Where the cursor is in L{typed}."""
        return self._cursor

    def show(self, line: str) -> None:
        """Print a server line above the input line."""
        self._above(style_line(line, self.name))

    def show_own(self, line: str) -> None:
        """Print a line we sent, as the others see it, set apart."""
        self._above(
            [
                ("<", (BOLD,)),
                (self.name or "me", (BOLD, name_colour(self.name))),
                ("> " + line, (BOLD,)),
            ]
        )

    def notice(self, line: str) -> None:
        """Print something about the connection itself."""
        self._above([(line, (NOTICE_COLOUR,))])

    def set_name(self, name: str) -> None:
        """Our name changed: the prompt follows."""
        if name != self.name:
            self.name = name
            self._draw_input()

    def leave_screen(self) -> None:
        """Erase the input line, so the shell prompt starts on a clean line."""
        self.terminal.write(b"\r")
        self.terminal.eraseLine()

    # Twisted's hooks

    def connectionMade(self) -> None:
        self._draw_input()

    def keystrokeReceived(self, keyID: bytes, modifier: object) -> None:
        handler = self._keys.get(keyID)
        if handler is not None:
            handler()
        elif len(keyID) == 1 and (keyID >= b" " and keyID != b"\x7f"):
            typed = self._decoder.decode(keyID)
            for char in typed:
                if unicodedata.category(char) != "Cc":
                    self._chars.insert(self._cursor, char)
                    self._cursor += 1
            if typed:
                self._draw_input()

    # Editing

    def _left(self) -> None:
        self._move(self._cursor - 1)

    def _right(self) -> None:
        self._move(self._cursor + 1)

    def _home(self) -> None:
        self._move(0)

    def _end(self) -> None:
        self._move(len(self._chars))

    def _move(self, position: int) -> None:
        position = max(0, min(position, len(self._chars)))
        if position != self._cursor:
            self._cursor = position
            self._draw_input()

    def _backspace(self) -> None:
        if self._cursor:
            self._cursor -= 1
            del self._chars[self._cursor]
            self._draw_input()

    def _delete(self) -> None:
        if self._cursor < len(self._chars):
            del self._chars[self._cursor]
            self._draw_input()

    def _clear(self) -> None:
        self._replace("")

    def _older(self) -> None:
        if self._history_position > 0:
            self._history_position -= 1
            self._replace(self._history[self._history_position])

    def _newer(self) -> None:
        if self._history_position < len(self._history):
            self._history_position += 1
            self._replace(
                self._history[self._history_position]
                if self._history_position < len(self._history)
                else ""
            )

    def _replace(self, line: str) -> None:
        self._chars = list(line)
        self._cursor = len(self._chars)
        self._draw_input()

    def _submit(self) -> None:
        line = self.typed
        self._chars, self._cursor = [], 0
        if line.strip() and (not self._history or self._history[-1] != line):
            self._history.append(line)
            del self._history[:-HISTORY_LIMIT]
        self._history_position = len(self._history)
        self._draw_input()
        if line.strip():
            self.on_line(line)

    def _quit(self) -> None:
        self.on_quit()

    # Drawing

    def _above(self, spans: list[Span]) -> None:
        terminal = self.terminal
        terminal.write(b"\r")
        terminal.eraseLine()
        self._write_spans(spans)
        terminal.write(b"\r\n")
        self._draw_input()

    def _write_spans(self, spans: list[Span]) -> None:
        for piece, attributes in spans:
            if attributes and self.colour:
                self.terminal.selectGraphicRendition(*attributes)
                self.terminal.write(piece.encode("utf-8"))
                self.terminal.selectGraphicRendition(NORMAL)
            else:
                self.terminal.write(piece.encode("utf-8"))

    def _draw_input(self) -> None:
        """Draw prompt and input, scrolled sideways to keep the cursor in view."""
        prompt = self.prompt
        room = max(8, self._width() - columns(prompt) - 1)
        start = 0
        while columns("".join(self._chars[start : self._cursor])) >= room:
            start += 1
        visible = ""
        for char in self._chars[start:]:
            if columns(visible + char) > room:
                break
            visible += char
        terminal = self.terminal
        terminal.write(b"\r")
        terminal.eraseLine()
        self._write_spans([(prompt, (BOLD,))])
        terminal.write(visible.encode("utf-8"))
        after = columns(visible[self._cursor - start :])
        if after:
            terminal.cursorBackward(after)


def _terminal_width() -> int:
    try:
        return os.get_terminal_size(1).columns
    except OSError:
        return 80
