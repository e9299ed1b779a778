"""The keyboard parser in memory: bytes as a terminal sends them, lines out."""

from __future__ import annotations

import pytest
from twisted.internet import task
from twisted.internet.testing import StringTransport

from twisted_chat.client.keyboard import TerminalSide


def keyboard() -> tuple[TerminalSide, list[str], list[int]]:
    lines: list[str] = []
    quits: list[int] = []
    side = TerminalSide(lines.append, lambda: quits.append(1), False, task.Clock())
    side.makeConnection(StringTransport())
    return side, lines, quits


@pytest.mark.parametrize(
    ("keys", "line"),
    [
        (b"ab\x1b\x1b[DX\r", "aXb"),  # a lone Esc, then Left
        (b"ab\x1b\x1bODX\r", "aXb"),  # Left in application mode
        (b"one two\x1bbX\r", "one Xtwo"),  # Alt-B
        (b"one two\x1bb\x1bb\x1bfX\r", "oneX two"),  # Alt-B twice, Alt-F
        (b"a\x1b[7^b\r", "ab"),  # a sequence ending in "^" eats nothing after it
        (b"a\x1b[200~b\x1b[201~\r", "ab"),  # bracketed paste marks
        (b"a\x1b[15~\x1b[1;5Ab\r", "ab"),  # F5, Ctrl-Up
        (b"a\x1bxb\r", "ab"),  # Alt-X: nothing
        (b"say no more\x1b\x7f\x1b\x7fX\r", "say X"),  # Alt-Backspace twice
        (b"a\x1b[\r", "a"),  # a sequence cut short by Enter: Enter counts
    ],
    ids=[
        "esc-left",
        "esc-app-left",
        "alt-b",
        "alt-b-alt-f",
        "odd-final-byte",
        "paste-marks",
        "function-keys",
        "alt-x",
        "alt-backspace",
        "broken-sequence",
    ],
)
def test_escape_sequences_are_keys_never_text(keys: bytes, line: str) -> None:
    side, lines, _ = keyboard()
    side.dataReceived(keys)
    assert lines == [line]


def test_a_sequence_split_between_reads_is_still_one_key() -> None:
    side, lines, _ = keyboard()
    for chunk in (b"ab", b"\x1b", b"[", b"D", b"X", b"\x1b", b"\x1b", b"[D", b"Y\r"):
        side.dataReceived(chunk)
    assert lines == ["aYXb"]


def test_ctrl_c_and_ctrl_d_quit() -> None:
    side, _, quits = keyboard()
    side.dataReceived(b"\x03\x04")
    assert quits == [1, 1]


def test_an_overlong_sequence_is_dropped() -> None:
    side, lines, _ = keyboard()
    side.dataReceived(b"a\x1b[" + b"1;" * 40 + b"~b\r")
    assert lines == ["ab"]
