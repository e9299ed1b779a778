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
from collections.abc import Callable

from twisted.conch.insults import insults
from twisted.conch.insults.insults import TerminalProtocol
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from twisted_chat.client.input_line import InputLine
from twisted_chat.client.style import (
    BOLD,
    NORMAL,
    NOTICE_COLOUR,
    Span,
    columns,
    name_colour,
    style_line,
)

__all__ = ["ChatTerminal", "columns", "name_colour", "style_line"]

#: How long lines wait, after a resize, for the terminal to say where its
#: cursor went (see L{ChatTerminal.terminalSize}).
CURSOR_REPORT_SECONDS = 0.5


def _key(name: str) -> bytes:
    """The keyID insults.ServerProtocol delivers for a named key."""
    key: bytes = getattr(insults.ServerProtocol, name)
    return key


_CTRL_A, _CTRL_C, _CTRL_D, _CTRL_E, _CTRL_U, _CTRL_W = (
    b"\x01",
    b"\x03",
    b"\x04",
    b"\x05",
    b"\x15",
    b"\x17",
)
_ALT = _key("ALT")
# Ctrl- and Alt-Left/Right as xterm-like terminals send them (modifier 5 or 3).
_WORD_LEFT_SEQUENCES = (b"\x1b[1;5D", b"\x1b[1;3D")
_WORD_RIGHT_SEQUENCES = (b"\x1b[1;5C", b"\x1b[1;3C")


class ChatTerminal(TerminalProtocol):
    """
    The input line and the scrolling conversation above it.

    Guarantees: a line shown while someone types appears above the input
    line, and the half-typed line and its cursor position are drawn again
    unchanged; nothing is cleared at start; Left, Right, Home (Ctrl-A), End
    (Ctrl-E), Backspace and Delete edit, Alt-B and Alt-F (or Ctrl-Left and
    Ctrl-Right) move by word, Ctrl-W and Alt-Backspace delete the word
    before the cursor, Up and Down walk the history, Ctrl-U clears the line,
    Ctrl-C and Ctrl-D call C{on_quit}; any other key or escape sequence is
    ignored, never typed. After a resize (L{terminalSize}) the input line is
    drawn again, with no stale copy of it left above, also on terminals
    that re-wrap what they show.
    """

    def __init__(
        self,
        on_line: Callable[[str], None],
        on_quit: Callable[[], None],
        colour: bool = True,
        width: Callable[[], int] | None = None,
        clock: IReactorTime | None = None,
    ) -> None:
        self.on_line = on_line
        self.on_quit = on_quit
        self.colour = colour
        self.name = ""
        self.input = InputLine()
        self._width = width or _terminal_width
        self._clock = clock
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        # Where the terminal's cursor was left, and at what width: the
        # column of the input's cursor, counted from the start of the prompt.
        self._drawn_column = 0
        self._drawn_width = 0
        self._size_width: int | None = None
        # Resizes waiting for the terminal's cursor report, and the lines
        # held back meanwhile (see terminalSize).
        self._reports_awaited = 0
        self._held: list[list[Span]] = []
        self._hold_timer: IDelayedCall | None = None
        #: Whether this terminal re-wraps lines on a resize, once seen.
        self.rewraps: bool | None = None
        line = self.input
        self._keys: dict[bytes, Callable[[], bool]] = {
            _key("LEFT_ARROW"): line.left,
            _key("RIGHT_ARROW"): line.right,
            _key("HOME"): line.home,
            _CTRL_A: line.home,
            _key("END"): line.end,
            _CTRL_E: line.end,
            _key("UP_ARROW"): line.older,
            _key("DOWN_ARROW"): line.newer,
            _key("BACKSPACE"): line.backspace,
            b"\x08": line.backspace,
            _key("DELETE"): line.delete,
            _CTRL_U: line.clear,
            _CTRL_W: line.delete_word,
            b"\r": self._submit,
            b"\n": self._submit,
            _CTRL_C: self._quit,
            _CTRL_D: self._quit,
        }
        self._alt_keys: dict[bytes, Callable[[], bool]] = {
            b"b": line.word_left,
            b"B": line.word_left,
            b"f": line.word_right,
            b"F": line.word_right,
            b"\x7f": line.delete_word,
            b"\x08": line.delete_word,
        }
        self._sequences: dict[bytes, Callable[[], bool]] = {
            **dict.fromkeys(_WORD_LEFT_SEQUENCES, line.word_left),
            **dict.fromkeys(_WORD_RIGHT_SEQUENCES, line.word_right),
        }

    # What the session calls

    @property
    def prompt(self) -> str:
        return f"{self.name}> " if self.name else "> "

    @property
    def typed(self) -> str:
        """The line being typed."""
        return self.input.text

    @property
    def cursor(self) -> int:
        """Where the cursor is in L{typed}."""
        return self.input.cursor

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
        self._release_held()
        self.terminal.write(b"\r")
        self.terminal.eraseToDisplayEnd()

    # Twisted's hooks

    def connectionMade(self) -> None:
        self._draw_input()

    def keystrokeReceived(self, keyID: bytes, modifier: object) -> None:
        if modifier == _ALT:
            # Alt and a key, or Esc then a key: a command or nothing, never text.
            self._edit(self._alt_keys.get(keyID))
        elif keyID in self._keys:
            self._edit(self._keys[keyID])
        elif len(keyID) == 1 and (keyID >= b" " and keyID != b"\x7f"):
            typed = self._decoder.decode(keyID)
            text = "".join(c for c in typed if unicodedata.category(c) != "Cc")
            if self.input.insert(text):
                self._draw_input()

    def unhandledControlSequence(self, seq: bytes) -> None:
        # Ctrl-Left and the like; any other sequence is ignored, never typed.
        self._edit(self._sequences.get(seq))

    def terminalSize(self, width: int, height: int) -> None:
        """
        The window is now C{width} columns wide: draw the input line again.

        A terminal that re-wraps on a resize (most do now) has split the old
        input line over several rows, the cursor on one of them; one that
        does not has cut it, the cursor at the right margin. Only the
        terminal knows which, so when it matters (the cursor was beyond the
        new width) we ask it where its cursor is, hold the conversation's
        lines until it answers, and then erase the rows the old line took.
        """
        self._size_width = width
        column = self._drawn_column
        if column >= width > 0 and self._drawn_width > width:
            self._reports_awaited += 1
            report = defer.maybeDeferred(self.terminal.reportCursorPosition)
            report.addCallback(self._cursor_reported, column, width)
            self._hold_for_report()
        self._draw_input()

    # Editing

    def _edit(self, change: Callable[[], bool] | None) -> None:
        if change is not None and change():
            self._draw_input()

    def _submit(self) -> bool:
        line = self.input.submit()
        self._draw_input()
        if line.strip():
            self.on_line(line)
        return False

    def _quit(self) -> bool:
        self.on_quit()
        return False

    # After a resize

    def _cursor_reported(
        self, position: tuple[int, int], column: int, width: int
    ) -> None:
        """
        Right after the resize to C{width}, the terminal's cursor was at
        C{position}; before it, at C{column} of the input line.
        """
        x, _ = position
        rewrapped, cut = column % width, width - 1
        if x == rewrapped != cut:
            self.rewraps = True
        elif x == cut != rewrapped:
            self.rewraps = False
        # The rows above the cursor's that hold the start of the old line.
        stale = column // width if x == rewrapped and self.rewraps else 0
        if stale:
            self.terminal.cursorUp(stale)
            self._draw_input()
        self._reports_awaited = max(0, self._reports_awaited - 1)
        if not self._reports_awaited:
            self._release_held()

    def _hold_for_report(self) -> None:
        if self._hold_timer is not None and self._hold_timer.active():
            self._hold_timer.cancel()
        self._hold_timer = self._reactor().callLater(
            CURSOR_REPORT_SECONDS, self._report_overdue
        )

    def _report_overdue(self) -> None:
        """The terminal does not answer: show the lines anyway."""
        self._hold_timer = None
        self._reports_awaited = 0
        self._release_held()

    def _release_held(self) -> None:
        if self._hold_timer is not None and self._hold_timer.active():
            self._hold_timer.cancel()
        self._hold_timer = None
        held, self._held = self._held, []
        for spans in held:
            self._above(spans)

    def _reactor(self) -> IReactorTime:
        if self._clock is None:
            from twisted.internet import reactor

            self._clock = reactor
        assert self._clock is not None
        return self._clock

    # Drawing

    def _above(self, spans: list[Span]) -> None:
        if self._reports_awaited:
            self._held.append(spans)
            return
        terminal = self.terminal
        terminal.write(b"\r")
        terminal.eraseToDisplayEnd()
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
        """
        Draw prompt and input on the cursor's row, scrolled sideways to keep
        the cursor in view, and erase everything below it (what a narrowed
        window re-wrapped there).
        """
        prompt, chars, cursor = self.prompt, self.input.chars, self.input.cursor
        width = self._size_width or self._width()
        room = max(8, width - columns(prompt) - 1)
        start = 0
        while columns("".join(chars[start:cursor])) >= room:
            start += 1
        visible = ""
        for char in chars[start:]:
            if columns(visible + char) > room:
                break
            visible += char
        terminal = self.terminal
        terminal.write(b"\r")
        terminal.eraseToDisplayEnd()
        self._write_spans([(prompt, (BOLD,))])
        terminal.write(visible.encode("utf-8"))
        after = columns(visible[cursor - start :])
        if after:
            terminal.cursorBackward(after)
        self._drawn_column = columns(prompt) + columns(visible) - after
        self._drawn_width = width


def _terminal_width() -> int:
    try:
        return os.get_terminal_size(1).columns
    except OSError:
        return 80
