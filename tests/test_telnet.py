"""The server side of telnet, in memory: what it answers and what it hands on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twisted_chat.frontends.line.telnet import (
    MAX_SUBNEGOTIATION,
    TelnetServerSide,
    apply_edits,
    continuations_due,
)

IAC, DO, DONT, WILL, WONT, SB, SE = 255, 253, 254, 251, 252, 250, 240
IP, BRK, AYT, EC, EL = 244, 243, 246, 247, 248
BINARY, ECHO, SGA, TM, NAWS, TTYPE = 0, 1, 3, 6, 31, 24
AYT_ANSWER = b"* here\r\n"


class Telnet:
    """A TelnetServerSide with what it delivers and what it sends kept apart."""

    def __init__(self, started: bool = True) -> None:
        self.data = bytearray()
        self.sent = bytearray()
        # Each delivery or send, in order: ("data", b) or ("sent", b).
        self.order: list[tuple[str, bytes]] = []
        self.side = TelnetServerSide(self._deliver, self._send, AYT_ANSWER)
        if started:
            self.side.start()
            self.feed(bytes([IAC, WILL, BINARY]))
            self.take_sent()
            self.order.clear()

    def _deliver(self, data: bytes) -> None:
        self.data += data
        self.order.append(("data", data))

    def _send(self, data: bytes) -> None:
        self.sent += data
        self.order.append(("sent", data))

    def feed(self, *chunks: bytes) -> None:
        for chunk in chunks:
            self.side.feed(chunk)

    def take_sent(self) -> bytes:
        sent = bytes(self.sent)
        self.sent.clear()
        return sent


def test_start_asks_the_client_for_binary_only() -> None:
    """Not WILL BINARY: stock telnet would turn its output processing off."""
    telnet = Telnet(started=False)
    telnet.side.start()
    assert telnet.take_sent() == bytes([IAC, DO, BINARY])
    telnet.feed(bytes([IAC, WILL, BINARY]))
    assert telnet.take_sent() == b""  # agreed: nothing more to say


def test_binary_asked_of_us_is_granted() -> None:
    telnet = Telnet()
    telnet.feed(bytes([IAC, DO, BINARY]))
    assert telnet.take_sent() == bytes([IAC, WILL, BINARY])


def test_plain_data_passes_unchanged_and_line_ends_become_lf() -> None:
    telnet = Telnet()
    telnet.feed(b"hello\r\n", b"char mode\r\0", b"binary char mode\r", b"lf\n")
    assert bytes(telnet.data) == b"hello\nchar mode\nbinary char mode\nlf\n"


def test_cr_and_its_lf_in_different_reads_end_one_line() -> None:
    telnet = Telnet()
    telnet.feed(b"one\r", b"\ntwo\r", b"\0three\n")
    assert bytes(telnet.data) == b"one\ntwo\nthree\n"


def test_every_timing_mark_is_answered_after_the_data_before_it() -> None:
    telnet = Telnet()
    for _ in range(3):
        telnet.order.clear()
        telnet.feed(b"x\r\n" + bytes([IAC, IP, IAC, DO, TM]))
        assert telnet.order == [
            ("data", b"x\n\x15"),
            ("sent", bytes([IAC, WILL, TM])),
            ("sent", b"\r\n"),  # after the "^C" the client's terminal shows
        ]
    telnet.feed(bytes([IAC, DONT, TM]))
    assert telnet.take_sent() == (bytes([IAC, WILL, TM]) + b"\r\n") * 3
    telnet.feed(bytes([IAC, DO, TM]))  # a timing mark without an interrupt
    assert telnet.take_sent() == bytes([IAC, WILL, TM])


def test_unsupported_options_are_refused_exactly_once() -> None:
    telnet = Telnet()
    telnet.feed(bytes([IAC, WILL, NAWS, IAC, WILL, TTYPE, IAC, DO, 39]))
    assert telnet.take_sent() == bytes(
        [IAC, DONT, NAWS, IAC, DONT, TTYPE, IAC, WONT, 39]
    )
    # The client's answers to our refusals end the negotiation.
    telnet.feed(bytes([IAC, WONT, NAWS, IAC, WONT, TTYPE, IAC, DONT, 39]))
    assert telnet.take_sent() == b""


def test_character_mode_is_granted_and_echoed_with_editing() -> None:
    telnet = Telnet()
    telnet.feed(bytes([IAC, DO, SGA, IAC, DO, ECHO]))
    assert telnet.take_sent() == bytes([IAC, WILL, SGA, IAC, WILL, ECHO])
    for key in b"fix\x7f\x7fne\r\0":
        telnet.feed(bytes([key]))
    assert bytes(telnet.data) == b"fix\x7f\x7fne\n"
    assert apply_edits(b"fix\x7f\x7fne") == b"fne"
    assert telnet.take_sent() == b"fix" + b"\b \b" * 2 + b"ne\r\n"


def test_echo_erases_a_wide_character_in_two_cells_and_skips_arrow_keys() -> None:
    telnet = Telnet()
    telnet.feed(bytes([IAC, DO, ECHO]))
    telnet.take_sent()
    telnet.feed("中".encode(), b"\x1b[D", b"\x1bOA", b"\x08")
    assert telnet.take_sent() == "中".encode() + b"\b\b  \b\b"


def test_a_password_typed_in_character_mode_is_echoed_as_stars() -> None:
    """
    /login NAME PASSWORD, /register and /password: what follows the name
    (or the command) is echoed one star a character, erased as stars, and
    redrawn masked under a line from the room; the password still arrives.
    """
    telnet = Telnet()
    telnet.feed(bytes([IAC, DO, ECHO]))
    telnet.take_sent()
    for key in "/login alice pässwd\x7f".encode():
        telnet.feed(bytes([key]))
    assert telnet.take_sent() == b"/login alice " + b"*" * 6 + b"\b \b"
    assert telnet.side.around_typed(b"<bob> hi\r\n") == (
        b"\r\x1b[K<bob> hi\r\n/login alice *****"
    )
    telnet.feed(b"\r\0")
    assert bytes(telnet.data) == "/login alice pässwd\x7f\n".encode()
    telnet.take_sent()
    for key in b"/REGISTER s3cret":
        telnet.feed(bytes([key]))
    assert telnet.take_sent() == b"/REGISTER " + b"*" * 6
    telnet.feed(b"\r\0")
    telnet.take_sent()
    for key in b"/loginx a b":
        telnet.feed(bytes([key]))
    assert telnet.take_sent() == b"/loginx a b"  # not a password command


def test_echo_ends_when_the_client_goes_back_to_line_mode() -> None:
    telnet = Telnet()
    telnet.feed(bytes([IAC, DO, ECHO]))
    telnet.feed(bytes([IAC, DONT, ECHO]))
    assert telnet.take_sent() == bytes([IAC, WILL, ECHO, IAC, WONT, ECHO])
    telnet.feed(b"typed\r\n")
    assert telnet.take_sent() == b""


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("ă", IP),  # C4 83: 0x83 & 0x7f is Ctrl-C
        ("🙃", IP),  # F0 9F 99 83
        ("本", BRK),  # E6 9C AC: 0x9c & 0x7f is Ctrl-backslash
    ],
)
def test_a_command_inside_a_utf8_sequence_is_the_byte_it_replaced(
    typed: str, command: int
) -> None:
    encoded = typed.encode()
    replaced = bytes([command])
    assert (
        command == {0x83: IP, 0x9C: BRK}[next(b for b in encoded if b in (0x83, 0x9C))]
    )
    wire = encoded.replace(b"\x83", b"\xff" + replaced + bytes([IAC, DO, TM]))
    wire = wire.replace(b"\x9c", b"\xff" + replaced + bytes([IAC, DO, TM]))
    telnet = Telnet()
    telnet.feed(wire + b"\r\n")
    assert bytes(telnet.data) == encoded + b"\n"
    assert telnet.take_sent() == bytes([IAC, WILL, TM])


def test_a_raw_ctrl_c_discards_the_line_like_ip() -> None:
    telnet = Telnet()
    telnet.feed(b"abc\x03def\r\0")
    assert apply_edits(bytes(telnet.data).rstrip(b"\n")) == b"def"


def test_commands_between_characters_edit_the_line() -> None:
    telnet = Telnet()
    telnet.feed(b"abc" + bytes([IAC, EC]) + b"d" + bytes([IAC, EL]) + b"new\r\n")
    assert bytes(telnet.data) == b"abc\x7fd\x15new\n"
    assert apply_edits(b"abc\x7fd\x15new") == b"new"


def test_are_you_there_is_answered_in_order() -> None:
    telnet = Telnet()
    telnet.feed(b"before" + bytes([IAC, AYT]) + b"after")
    assert telnet.order == [
        ("data", b"before"),
        ("sent", AYT_ANSWER),
        ("data", b"after"),
    ]


def test_escaped_255_is_data() -> None:
    telnet = Telnet()
    telnet.feed(bytes([0x41, IAC, IAC, 0x42]))
    assert bytes(telnet.data) == b"A\xffB"


def test_a_stray_sb_for_an_option_that_is_off_is_data_again() -> None:
    telnet = Telnet()
    telnet.feed("ÿúhello\n/quit\n".encode("latin-1"))
    assert bytes(telnet.data) == b"hello\n/quit\n"


def test_a_subnegotiation_of_an_option_that_is_on_ends_at_iac_se() -> None:
    telnet = Telnet()
    telnet.feed(bytes([IAC, DO, ECHO]))  # ECHO is on for us now
    telnet.feed(bytes([IAC, SB, ECHO, 1, 2, IAC, IAC, 3, IAC, SE]) + b"ok\n")
    assert bytes(telnet.data) == b"ok\n"


def test_an_endless_subnegotiation_turns_back_into_data() -> None:
    telnet = Telnet()
    telnet.feed(bytes([IAC, DO, ECHO]))
    telnet.feed(bytes([IAC, SB, ECHO]) + b"x" * MAX_SUBNEGOTIATION)
    assert bytes(telnet.data) == b""
    telnet.feed(b"y/quit\n")
    assert bytes(telnet.data) == b"/quit\n"


def test_unknown_command_bytes_are_dropped() -> None:
    telnet = Telnet()
    telnet.feed(b"a" + bytes([IAC, 0x41, IAC, 0xF1]) + b"b")
    assert bytes(telnet.data) == b"ab"


@given(st.binary(max_size=60), st.integers(min_value=0, max_value=60))
def test_how_reads_split_the_stream_never_matters(stream: bytes, split: int) -> None:
    whole, parts = Telnet(), Telnet()
    whole.feed(stream)
    parts.feed(stream[:split], stream[split:])
    assert bytes(parts.data) == bytes(whole.data)
    assert bytes(parts.sent) == bytes(whole.sent)


def test_continuations_due() -> None:
    assert continuations_due(b"") == 0
    assert continuations_due(b"abc") == 0
    assert continuations_due(b"\xc4") == 1
    assert continuations_due(b"\xe6\x9c") == 1
    assert continuations_due(b"x\xf0\x9f\x99") == 1
    assert continuations_due("ă".encode()) == 0


@pytest.mark.parametrize(
    ("keys", "line"),
    [
        (b"plain", b"plain"),
        (b"ab\x08c", b"ac"),
        ("中文\x7f".encode(), "中".encode()),
        (b"\x7f\x7fx", b"x"),
        (b"one two\x17three", b"one three"),
        (b"gone\x15kept", b"kept"),
    ],
)
def test_apply_edits(keys: bytes, line: bytes) -> None:
    assert apply_edits(keys) == line
