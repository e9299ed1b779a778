"""
Removing telnet's in-band commands from a byte stream.

A telnet client mixes commands into the data (IAC, byte 255, then a command):
option negotiation on connect, IAC IP when the user presses Ctrl-C, window
sizes in subnegotiations. None of that is text, so L{TelnetFilter} removes it
before the stream is split into lines. It keeps state between calls, so a
command split across two reads is still removed whole.
"""

from __future__ import annotations

IAC = 0xFF
SB = 0xFA  # subnegotiation begin
SE = 0xF0  # subnegotiation end
WILL, WONT, DO, DONT = 0xFB, 0xFC, 0xFD, 0xFE

_DATA, _COMMAND, _OPTION, _SUBNEGOTIATION, _SUBNEGOTIATION_IAC = range(5)


class TelnetFilter:
    """
    A stateful filter that passes data bytes and drops telnet commands.

    Guarantees: the output never contains byte 255; the bytes between
    C{IAC SB} and C{IAC SE} are dropped, however many reads they span,
    without being buffered.
    """

    def __init__(self) -> None:
        self._state = _DATA

    def feed(self, data: bytes) -> bytes:
        """Return the data bytes of C{data}, commands removed."""
        if self._state == _DATA and IAC not in data:
            return data  # the common case: plain text, no copy
        output = bytearray()
        state = self._state
        for byte in data:
            if state == _DATA:
                if byte == IAC:
                    state = _COMMAND
                else:
                    output.append(byte)
            elif state == _COMMAND:
                if byte in (WILL, WONT, DO, DONT):
                    state = _OPTION
                elif byte == SB:
                    state = _SUBNEGOTIATION
                else:
                    # A two-byte command (IP, AYT, NOP...) or an escaped 255,
                    # which is not valid UTF-8 text anyway: dropped.
                    state = _DATA
            elif state == _OPTION:
                state = _DATA
            elif state == _SUBNEGOTIATION:
                if byte == IAC:
                    state = _SUBNEGOTIATION_IAC
            else:  # _SUBNEGOTIATION_IAC
                state = _DATA if byte == SE else _SUBNEGOTIATION
        self._state = state
        return bytes(output)
