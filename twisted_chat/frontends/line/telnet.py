"""
The server side of telnet, for connections that show they speak it.

A connection that never sends byte 255 (IAC) is a plain byte stream (nc, a
script, the terminal client) and never meets this module. The first IAC
makes a L{TelnetServerSide}: from then on it takes every byte the client
sends, answers what the client asks (RFC 854, 855, 856, 857, 858, 860),
and hands the data bytes on as lines end them.

Option negotiation is Twisted's own (L{twisted.conch.telnet.Telnet}'s
C{will}/C{do} and its answers to C{WILL}/C{WONT}/C{DO}/C{DONT}, which never
answer a request that changes nothing, so negotiation always ends). The
parsing of the byte stream is ours: Twisted's raises on command bytes it
does not know, buffers subnegotiations it will only refuse, and costs a
Python step per byte of plain text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from twisted.conch import telnet

IAC = 0xFF
_SB, _SE = 0xFA, 0xF0
_WILL, _WONT, _DO, _DONT = 0xFB, 0xFC, 0xFD, 0xFE
_OPTION_VERBS = {
    _WILL: telnet.WILL,
    _WONT: telnet.WONT,
    _DO: telnet.DO,
    _DONT: telnet.DONT,
}
_EOF, _SUSP, _ABORT = 0xEC, 0xED, 0xEE
_BRK, _IP, _AO, _AYT, _EC, _EL = 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8

#: Options, as Twisted spells them (one byte).
BINARY = b"\x00"
ECHO = telnet.ECHO
SGA = telnet.SGA
TIMING_MARK = b"\x06"

#: In-band bytes the line editing understands (see L{apply_edits}).
BACKSPACE, DELETE = 0x08, 0x7F
KILL_LINE = 0x15  # Ctrl-U
ERASE_WORD = 0x17  # Ctrl-W
_EDIT_BYTES = bytes([BACKSPACE, DELETE, KILL_LINE, ERASE_WORD])

#: A client in its default (not binary) mode strips the top bit of each byte
#: typed and compares it with the terminal's special characters; a match is
#: sent as a telnet command instead of the byte. Inside a UTF-8 sequence such
#: a command can only stand for the byte it replaced: Ctrl-C (0x03) for 0x83,
#: Ctrl-\ (0x1C) for 0x9C, Ctrl-Z for 0x9A, Ctrl-O for 0x8F, Ctrl-T for 0x94,
#: Ctrl-D for 0x84, Ctrl-U for 0x95.
REPLACED_BYTE = {
    _IP: 0x83,
    _BRK: 0x9C,
    _ABORT: 0x9C,
    _SUSP: 0x9A,
    _AO: 0x8F,
    _AYT: 0x94,
    _EOF: 0x84,
    _EL: 0x95,
}

#: The longest subnegotiation kept track of: past it, the bytes are data again.
MAX_SUBNEGOTIATION = 1024

_DATA, _COMMAND, _OPTION, _SB_OPTION, _SUBNEGOTIATION, _SUBNEGOTIATION_IAC = range(6)
# Where the echo is in a key's escape sequence (arrows, function keys).
_NO_ESCAPE, _ESCAPE, _CSI, _SS3 = range(4)


def continuations_due(tail: bytes) -> int:
    """
    How many UTF-8 continuation bytes the sequence that C{tail} ends in
    still lacks (0 when C{tail} ends between characters).
    """
    seen = 0
    for byte in reversed(tail[-4:]):
        if 0x80 <= byte < 0xC0:
            seen += 1
            continue
        if 0xC2 <= byte < 0xE0:
            wanted = 1
        elif 0xE0 <= byte < 0xF0:
            wanted = 2
        elif 0xF0 <= byte < 0xF5:
            wanted = 3
        else:
            return 0
        return max(wanted - seen, 0)
    return 0


def _drop_last_character(line: bytearray) -> bytes:
    """Remove the last UTF-8 character of C{line} (or its last byte, if
    that is not part of a whole character); return what was removed."""
    start = len(line) - 1
    while start > 0 and 0x80 <= line[start] < 0xC0 and len(line) - start < 4:
        start -= 1
    if line[start] < 0xC0:
        start = len(line) - 1
    removed = bytes(line[start:])
    del line[start:]
    return removed


def apply_edits(line: bytes) -> bytes:
    """
    The line a person meant, from the keys they pressed: Backspace or
    Delete erase the character before (a whole UTF-8 character, not one
    byte), Ctrl-U erases everything before, Ctrl-W the word before.

    Guarantees: a line without those bytes is returned as it is, with no
    work per byte.
    """
    if not any(byte in line for byte in _EDIT_BYTES):
        return line
    kept = bytearray()
    for byte in line:
        if byte in (BACKSPACE, DELETE):
            if kept:
                _drop_last_character(kept)
        elif byte == KILL_LINE:
            kept.clear()
        elif byte == ERASE_WORD:
            while kept and kept[-1] == 0x20:
                kept.pop()
            while kept and kept[-1] != 0x20:
                kept.pop()
        else:
            kept.append(byte)
    return bytes(kept)


class TelnetServerSide(telnet.Telnet):
    """
    What a telnet server owes a client that speaks telnet.

    Guarantees:
      - L{feed} returns the data bytes the person typed, in order, with every
        line ending (CR LF, CR NUL, a lone CR or LF) as one LF; it never
        contains byte 255 unless the client sent it escaped (IAC IAC);
      - C{DO TIMING-MARK} is answered (C{WILL TIMING-MARK}) after the input
        before it has been handed on, every time it is asked;
      - BINARY is asked of the client at once (L{start}), so that it sends
        what is typed unchanged; before the client agrees, a command
        that arrives inside a UTF-8 sequence is turned back into the byte it
        replaced (L{REPLACED_BYTE});
      - ECHO and SUPPRESS-GO-AHEAD are granted when asked (character mode),
        and then what is typed is echoed, with its editing, and kept below
        what the room says (L{around_typed}); every other option is
        refused, once;
      - IP, BRK, ABORT, SUSP, EL and a raw Ctrl-C (character mode sends
        that) discard the half-typed line, EC erases
        one character, AYT gets a visible answer, AO and the rest change
        nothing (the client discards its own output until the timing mark
        that follows them);
      - a subnegotiation for an option that is not on, or longer than
        L{MAX_SUBNEGOTIATION}, is taken back as data: a stray C{IAC SB}
        cannot swallow the rest of a connection.
    """

    def __init__(
        self,
        deliver: Callable[[bytes], None],
        write: Callable[[bytes], None],
        are_you_there: bytes,
        echo_changed: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__()
        self._deliver = deliver
        self._send = write
        self._echo_changed = echo_changed
        self._are_you_there = are_you_there
        self._state = _DATA
        self._verb = 0
        self._subnegotiation = 0
        # The last data bytes handed on, to know whether a command came in
        # the middle of a UTF-8 sequence.
        self._tail = b""
        self._after_cr = False
        # An interrupt in line mode whose timing mark is not answered yet.
        self._interrupted = False
        self.echoing = False
        # What the person has typed on the current line, as echoed.
        self._echoed = bytearray()
        self._echo_escape = _NO_ESCAPE

    def _write(self, data: bytes) -> None:
        self._send(data)

    def start(self) -> None:
        """
        Ask the client for BINARY: its bytes then arrive as typed.

        Only the client's direction: our output is UTF-8 text, which needs
        no binary mode, and a stock client told C{WILL BINARY} turns its
        terminal's output processing off, so the echo of Enter becomes a
        bare LF and every line typed afterwards starts where the last one
        ended. BINARY offered by the client is still accepted.
        """
        self.do(BINARY).addErrback(lambda failure: None)

    # What Twisted's negotiation asks of us

    def enableLocal(self, option: bytes) -> bool:
        if option == ECHO:
            self.echoing = True
            self._echoed.clear()
            self._echo_changed()
            return True
        return option in (BINARY, SGA)

    def enableRemote(self, option: bytes) -> bool:
        return option in (BINARY, SGA)

    def disableLocal(self, option: bytes) -> None:
        if option == ECHO:
            self.echoing = False
            self._echo_changed()

    def disableRemote(self, option: bytes) -> None:
        """Nothing to undo: BINARY and SGA only change what the client does."""

    def telnet_DO(self, option: bytes) -> None:
        if option == TIMING_MARK:
            # Not an option with a state: each DO asks for one mark, and the
            # client discards our output until it gets it (RFC 860).
            self._write(telnet.IAC + telnet.WILL + TIMING_MARK)
            if self._interrupted:
                # The client's terminal shows "^C" with the cursor after it:
                # what the room says next starts on a line of its own.
                self._interrupted = False
                self._write(b"\r\n")
            return
        super().telnet_DO(option)

    def telnet_DONT(self, option: bytes) -> None:
        if option == TIMING_MARK:
            return
        super().telnet_DONT(option)

    # The byte stream

    def feed(self, data: bytes) -> None:
        """
        Take bytes from the client: data goes to C{deliver} (in pieces, in
        order), and each command is answered once the data before it has
        been delivered.
        """
        if self._state == _DATA and IAC not in data:
            self._data(data)
        else:
            self._parse(data)

    def _data(self, data: bytes) -> None:
        if not data:
            return
        if b"\x03" in data:
            # Ctrl-C in character mode: the client sends it as it is.
            data = data.replace(b"\x03", bytes([KILL_LINE]))
        if b"\r" in data or self._after_cr:
            if self._after_cr and data[:1] in (b"\n", b"\0"):
                data = data[1:]
            self._after_cr = data.endswith(b"\r")
            data = data.replace(b"\r\n", b"\n").replace(b"\r\0", b"\n")
            data = data.replace(b"\r", b"\n")
        self._tail = (self._tail + data)[-4:]
        if self.echoing:
            self._echo(data)
        self._deliver(data)

    def _parse(self, data: bytes) -> None:
        out = bytearray()
        state = self._state
        for byte in data:
            if state == _DATA:
                if byte == IAC:
                    state = _COMMAND
                else:
                    out.append(byte)
            elif state == _COMMAND:
                state = _DATA
                if byte == IAC:
                    out.append(IAC)
                elif byte in _OPTION_VERBS:
                    self._verb = byte
                    state = _OPTION
                elif byte == _SB:
                    state = _SB_OPTION
                else:
                    self._command(byte, out)
            elif state == _OPTION:
                state = _DATA
                self._data(bytes(out))
                out.clear()
                self.commandReceived(_OPTION_VERBS[self._verb], bytes([byte]))
            elif state == _SB_OPTION:
                option = self.options.get(bytes([byte]))
                if option is not None and "yes" in (option.us.state, option.him.state):
                    self._subnegotiation = 0
                    state = _SUBNEGOTIATION
                else:
                    # No subnegotiation is due for an option that is off:
                    # the IAC SB was data gone wrong (Latin-1 "\xff\xfa" from nc).
                    state = _DATA
                    out.append(byte)
            elif state == _SUBNEGOTIATION:
                # We turn on no option that subnegotiates, so the contents
                # are never needed: counted, not kept.
                if byte == IAC:
                    state = _SUBNEGOTIATION_IAC
                else:
                    self._subnegotiation += 1
                    if self._subnegotiation > MAX_SUBNEGOTIATION:
                        state = _DATA
            else:  # _SUBNEGOTIATION_IAC
                state = _DATA if byte == _SE else _SUBNEGOTIATION
        self._state = state
        self._data(bytes(out))

    def _command(self, command: int, out: bytearray) -> None:
        replaced = REPLACED_BYTE.get(command)
        if replaced is not None and continuations_due(self._tail + bytes(out[-4:])):
            out.append(replaced)
        elif command in (_IP, _BRK, _ABORT, _SUSP, _EL):
            out.append(KILL_LINE)
            self._interrupted = command != _EL and not self.echoing
        elif command == _EC:
            out.append(DELETE)
        elif command == _AYT:
            self._data(bytes(out))
            out.clear()
            self._write(self._are_you_there)
        # AO, NOP, DM, GA, EOR, EOF and unknown commands change nothing here.

    # Echo, in character mode

    def around_typed(self, output: bytes) -> bytes:
        """
        C{output} for the screen of a client we echo for: the half-typed
        line is taken off the screen, C{output} shown, and the line typed
        again below it, so the two never run into each other.
        """
        if not self._echoed:
            return output
        return b"\r\x1b[K" + output + masked(bytes(self._echoed))

    def _echo(self, data: bytes) -> None:
        shown = bytearray()
        for byte in data:
            if self._echo_escape != _NO_ESCAPE:
                self._echo_escape = _escape_step(self._echo_escape, byte)
            elif byte == 0x1B:
                self._echo_escape = _ESCAPE
            elif byte == 0x0A:
                shown += b"\r\n"
                self._echoed.clear()
            elif byte in _EDIT_BYTES:
                before = masked(bytes(self._echoed))
                kept = apply_edits(bytes(self._echoed) + bytes([byte]))
                width = _width(before[len(masked(kept)) :])
                shown += b"\b" * width + b" " * width + b"\b" * width
                del self._echoed[len(kept) :]
            elif byte >= 0x20:
                before = masked(bytes(self._echoed))
                self._echoed.append(byte)
                shown += masked(bytes(self._echoed))[len(before) :]
        if shown:
            self._write(bytes(shown))


#: Commands whose password is echoed as stars, and how many words before it.
_SECRET_AFTER = {b"/register": 1, b"/login": 2, b"/password": 1}


def masked(typed: bytes) -> bytes:
    """
    C{typed} as echoed: the password of /register, /login and /password
    (and all after it) as one star a character, so it never shows on the
    screen, nor on one looking over a shoulder.
    """
    word = typed.split(b" ", 1)[0].lower()
    words = _SECRET_AFTER.get(word)
    if words is None:
        return typed
    start = 0
    for _ in range(words):
        space = typed.find(b" ", start)
        if space < 0:
            return typed
        start = space + 1
    secret = typed[start:].decode("utf-8", "replace")
    return typed[:start] + b"*" * len(secret)


def _escape_step(state: int, byte: int) -> int:
    """The echo's state after C{byte} of an escape sequence (never echoed)."""
    if state == _ESCAPE:
        if byte == 0x5B:  # ESC [
            return _CSI
        return _SS3 if byte == 0x4F else _NO_ESCAPE  # ESC O x, or ESC x
    if state == _CSI:
        return _NO_ESCAPE if 0x40 <= byte <= 0x7E else _CSI
    return _NO_ESCAPE  # the byte after ESC O


def _width(typed: bytes) -> int:
    """How many terminal cells C{typed} (UTF-8) takes."""
    cells = 0
    for character in typed.decode("utf-8", "replace"):
        if unicodedata.combining(character):
            continue
        cells += 2 if unicodedata.east_asian_width(character) in ("W", "F") else 1
    return cells
