"""Telnet commands never reach the text."""

from __future__ import annotations

from twisted_chat.telnet import TelnetFilter


def test_plain_data_passes_unchanged() -> None:
    assert TelnetFilter().feed(b"hello\r\n") == b"hello\r\n"


def test_negotiation_and_commands_are_removed() -> None:
    stream = (
        b"\xff\xfd\x01"  # IAC DO ECHO
        b"hi"
        b"\xff\xf4"  # IAC IP: what telnet sends on Ctrl-C
        b"\xff\xfd\x06"  # IAC DO TIMING-MARK
        b" there"
        b"\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0"  # NAWS window size
        b"\r\n"
    )
    assert TelnetFilter().feed(stream) == b"hi there\r\n"


def test_commands_split_across_reads_are_removed_whole() -> None:
    stream = b"a\xff\xfa\x1f\x00\x50\xff\xff\x00\x18\xff\xf0b\xff\xfb\x03c"
    for split in range(len(stream) + 1):
        telnet = TelnetFilter()
        assert telnet.feed(stream[:split]) + telnet.feed(stream[split:]) == b"abc"


def test_endless_subnegotiation_holds_nothing() -> None:
    telnet = TelnetFilter()
    assert telnet.feed(b"\xff\xfa") == b""
    for _ in range(100):
        assert telnet.feed(b"x" * 10_000) == b""
    assert telnet.feed(b"\xff\xf0ok") == b"ok"
