"""
The terminal client's keyboard and window: insults' terminal parser over
stdio, made strict about escape sequences, and the window's size.

insults' own parser takes Esc then an arrow key (C{ESC ESC [ A}) for Alt-Esc
followed by the text C{[A}, and keeps reading a control sequence that ends
in a byte other than a letter or C{~}, swallowing the keys after it. This
one ends every sequence at its final byte (ECMA-48), starts over at every
Esc, and never lets a byte of a sequence through as text.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from twisted.conch.insults.insults import ServerProtocol
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure

from twisted_chat.client.terminal import ChatTerminal, _key

_ESC = b"\x1b"
_ALT = _key("ALT")
# ESC O and a letter: F1-F4, and what the arrow keys, Home and End send in
# the terminal's "application" mode.
_LOW_FUNCTION_KEYS = {
    b"P": _key("F1"),
    b"Q": _key("F2"),
    b"R": _key("F3"),
    b"S": _key("F4"),
    b"A": _key("UP_ARROW"),
    b"B": _key("DOWN_ARROW"),
    b"C": _key("RIGHT_ARROW"),
    b"D": _key("LEFT_ARROW"),
    b"H": _key("HOME"),
    b"F": _key("END"),
}
#: Longest control sequence understood; a longer one is dropped whole.
_LONGEST_SEQUENCE = 32


class TerminalSide(ServerProtocol):
    """
    The terminal over stdio, a L{ChatTerminal} inside.

    Guarantees: every key reaches the ChatTerminal as a keystroke (Alt-keys
    and Esc-then-key with the ALT modifier) or as a control sequence; no
    byte of an escape sequence is ever delivered as a typed character; an
    Esc followed by another Esc is dropped, and what follows is parsed
    afresh; L{window_changed} tells the ChatTerminal the new size.
    """

    def __init__(
        self,
        on_line: Callable[[str], None],
        on_quit: Callable[[], None],
        colour: bool,
        clock: IReactorTime | None = None,
    ) -> None:
        super().__init__(ChatTerminal, on_line, on_quit, colour, clock=clock)
        self.done: defer.Deferred[None] = defer.Deferred()
        self._sequence: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        for index in range(len(data)):
            self._byte_received(data[index : index + 1])

    def _byte_received(self, byte: bytes) -> None:
        keys = self.chat
        state = self.state
        if byte == _ESC:
            # A new sequence, whatever came before: a lone Esc is dropped.
            self.state = b"escaped"
        elif state == b"data":
            keys.keystrokeReceived(byte, None)
        elif state == b"escaped":
            if byte == b"[":
                self.state, self._sequence = b"bracket-escaped", []
            elif byte == b"O":
                self.state = b"low-function-escaped"
            else:
                self.state = b"data"
                keys.keystrokeReceived(byte, _ALT)
        elif state == b"bracket-escaped":
            self._in_sequence(byte)
        else:  # low-function-escaped: ESC O and one byte
            self.state = b"data"
            key = _LOW_FUNCTION_KEYS.get(byte)
            if key is not None:
                keys.keystrokeReceived(key, None)
            else:
                keys.unhandledControlSequence(b"\x1bO" + byte)

    def _in_sequence(self, byte: bytes) -> None:
        if byte < b" ":
            # Not part of any sequence (Enter, Ctrl-C): the sequence was
            # broken off; the key counts.
            self.state = b"data"
            self.chat.keystrokeReceived(byte, None)
        elif b"@" <= byte <= b"~":
            self.state = b"data"
            sequence = b"".join(self._sequence) + byte
            if len(self._sequence) > _LONGEST_SEQUENCE:
                self.chat.unhandledControlSequence(b"\x1b[" + sequence)
            elif byte.isalpha() or byte == b"~":
                # insults' handlers: arrows, Home, End, F-keys, cursor reports.
                self._handleControlSequence(sequence)
            else:
                self.chat.unhandledControlSequence(b"\x1b[" + sequence)
        elif len(self._sequence) <= _LONGEST_SEQUENCE:
            self._sequence.append(byte)
        # Past that, a sequence is garbage: its bytes are dropped up to its end.

    @property
    def chat(self) -> ChatTerminal:
        """The ChatTerminal inside (made when the connection is)."""
        terminal = self.terminalProtocol
        assert isinstance(terminal, ChatTerminal)
        return terminal

    def window_changed(self) -> None:
        """The window was resized (SIGWINCH)."""
        try:
            size = os.get_terminal_size(1)
        except OSError:
            return
        self.chat.terminalSize(size.columns, size.lines)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        super().connectionLost(reason)
        if not self.done.called:
            self.done.callback(None)
