"""Cleaning input and the shared line formats."""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterator, Sequence

import pytest

from twisted_chat import text

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"
RED_HEART = "\u2764\ufe0f"
KEYCAP_ONE = "1\ufe0f\u20e3"
ENGLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
PERSIAN_WITH_ZWNJ = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"


def characters(ranges: Sequence[tuple[int, int]]) -> Iterator[str]:
    for first, last in ranges:
        for code in range(first, last + 1):
            yield chr(code)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (b"plain ascii", "plain ascii"),
        (b"caf\xc3\xa9 \xe6\xbc\xa2\xe5\xad\x97 \xf0\x9f\x98\x80", "café 漢字 😀"),
        (b"\x1b[2J\x1b[Hcleared?", "cleared?"),
        (b"\x1b[31mred\x1b[0m", "red"),
        (b"\x1b]0;title\x07after", "after"),
        (b"tab\there", "tab here"),
        (b"bell\x07 and nul\x00", "bell and nul"),
        (b"bad \xff\xfe bytes", "bad \ufffd\ufffd bytes"),
        (b"c1 \xc2\x9b31m csi", "c1  csi"),
        (b"back\x08space", "backspace"),
        (b"cr\rinside", "crinside"),
        # Bidi controls: no reversed or reordered text.
        ("\u202eevil\u202c txt".encode(), "evil txt"),
        ("a\u2066b\u2069c\u200e\u200f\u061c".encode(), "abc"),
        # Invisible characters.
        ("zero\u200bwidth\u2060joined\ufeff".encode(), "zerowidthjoined"),
        ("soft\u00adhyphen".encode(), "softhyphen"),
        ("\u3164\u115f\u1160\uffa0 filler".encode(), " filler"),
        ("cgj\u034f".encode(), "cgj"),
        # Joiners and selectors with nothing to join or select.
        ("\u200dstart end\u200d mid \u200c word".encode(), "start end mid  word"),
        ("\ufe0fstart \ufe0fafter-space".encode(), "start after-space"),
        (" \u200d\ufe0f\u200d".encode(), " "),
        # Tags outside a flag: no text hidden in them.
        ("hid\U000e0068\U000e0069den".encode(), "hidden"),
        ("\U0001f3f4\U000e0041\U000e007f".encode(), "\U0001f3f4"),
        # Lines made only of invisible characters come out empty.
        ("\u200b\u200b\u200b".encode(), ""),
        ("\u202e\u2066\u200d\ufe0f\u3164\U000e0020".encode(), ""),
    ],
)
def test_clean_text(raw: bytes, clean: str) -> None:
    assert text.clean_text(raw) == clean


@pytest.mark.parametrize(
    "kept",
    [
        FAMILY,
        RAINBOW_FLAG,
        RED_HEART,
        KEYCAP_ONE,
        ENGLAND,
        PERSIAN_WITH_ZWNJ,
        "\u0600\u0661\u0662",  # an Arabic number sign over its digits
        "\u845b\U000e0100",  # an ideograph with a variation selector
        f"{RED_HEART} {FAMILY}{RAINBOW_FLAG} \u00a0no-break\u3000ideographic",
    ],
)
def test_emoji_sequences_and_joined_scripts_pass_intact(kept: str) -> None:
    assert text.clean_text(kept.encode()) == kept


def test_every_format_character_is_removed_or_kept_on_purpose() -> None:
    """
    Each Cf character this Python knows is in exactly one of the lists, so a
    Unicode update that adds one fails here until it is decided on.
    """
    listed = [
        set(characters(group))
        for group in (
            text.REMOVED_FORMAT,
            text.KEPT_FORMAT,
            text.JOINERS,
            text.TAGS,
        )
    ]
    assert sum(map(len, listed)) == len(set().union(*listed))
    known = {
        chr(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) == "Cf"
    }
    assert known <= set().union(*listed)


def test_the_fast_path_sees_every_format_character_as_not_printable() -> None:
    """
    clean_text returns a line as it came when str.isprintable() is True
    and no printable invisible is in it: that holds only because
    isprintable() is False for every format character.
    """
    formats = (*text.REMOVED_FORMAT, *text.KEPT_FORMAT, *text.JOINERS, *text.TAGS)
    for character in characters(formats):
        if unicodedata.category(character) == "Cf":
            assert not character.isprintable(), hex(ord(character))
    for character in characters((*text.REMOVED_INVISIBLE, *text.VARIATION_SELECTORS)):
        assert character.isprintable(), hex(ord(character))


@pytest.mark.parametrize(
    "group",
    [text.REMOVED_FORMAT, text.REMOVED_INVISIBLE],
    ids=["format", "invisible"],
)
def test_every_removed_character_goes_wherever_it_is(
    group: Sequence[tuple[int, int]],
) -> None:
    for character in characters(group):
        for line in (f"{character}x", f"x{character}y", f"x{character}", character):
            raw = line.encode()
            assert text.clean_text(raw) == line.replace(character, ""), hex(
                ord(character)
            )
            assert text.plain_lines(raw) is None, hex(ord(character))


def test_one_line_for_a_server_name() -> None:
    assert text.one_line("evil\x1b]0;pwned\x07\r\n* alice has left") == (
        "evil * alice has left"
    )
    assert text.one_line("  Team \t Chat\u202e ") == "Team Chat"
    assert text.one_line("\u2028a\u2029b\x85c") == "a b c"
    assert text.one_line("\u200b \n") == ""


def test_clean_string_takes_text_with_lone_surrogates() -> None:
    assert text.clean_string("argv \udcff byte") == "argv \ufffd\ufffd\ufffd byte"


@pytest.mark.parametrize(
    ("value", "digits"),
    [
        (5, "5"),
        (5.0, "5"),
        (0.5, "0.5"),
        (0, "0"),
        (1e-05, "0.00001"),
        (20.25, "20.25"),
    ],
)
def test_plain_number(value: float, digits: str) -> None:
    assert text.plain_number(value) == digits


def test_formats_round_trip() -> None:
    line = text.MESSAGE.format(name="alice", text="hi <there> * you")
    assert line == "<alice> hi <there> * you"
    assert text.MESSAGE.parse(line) == {"name": "alice", "text": "hi <there> * you"}
    assert text.RENAMED.parse("*** bob is now known as alice") == {
        "old": "bob",
        "new": "alice",
    }
    assert text.JOINED.parse("*** bob has left") is None
    assert text.MESSAGE.encode(name="a", text="b") == b"<a> b\r\n"


def test_the_server_lines() -> None:
    assert text.JOINED.format(name="alice") == "*** alice has joined"
    assert text.LEFT.format(name="alice") == "*** alice has left"
    assert text.WELCOME.format(server="Team Chat", name="guest1", count=2) == (
        "*** Welcome to Team Chat, guest1! 2 here now. Type /help for commands."
    )
    assert text.NOTICE.format(text="server shutting down") == (
        "*** server shutting down"
    )
    assert text.LIMITS.format(rate="0.5", burst=20, length=2048) == (
        "*** Limits: 0.5 lines a second, bursts of 20, 2048 bytes a line"
    )
    assert text.SLOW_DOWN.format(rate="5", burst=20, count=3) == (
        "! Slow down: at most 5 lines a second (bursts of 20); 3 not sent."
    )


def test_a_server_name_with_spaces_parses_back() -> None:
    for server in ("Team Chat", "a, b! c", "x, guest9! 1 here now. Type"):
        line = text.WELCOME.format(server=server, name="guest1", count=12)
        assert text.WELCOME.parse(line) == {
            "server": server,
            "name": "guest1",
            "count": "12",
        }


def test_names_parse_strictly() -> None:
    assert text.JOINED.parse("*** two words has joined") is None
    assert text.PRIVATE.parse("*** x* y") is None
    assert text.ACTION.parse("*** x") is None
    assert (
        text.LIMITS.parse("*** Limits: 1e5 lines a second, bursts of 1, 2 bytes a line")
        is None
    )


def test_a_field_without_a_pattern_is_refused() -> None:
    with pytest.raises(ValueError, match=r"no pattern for \{colour\}"):
        text.LineFormat("{colour}")


def test_every_event_format_parses_what_it_formats() -> None:
    fields = {"name": "n.1", "old": "o", "new": "p", "server": "s", "count": 3}
    for line_format in text.EVENT_FORMATS:
        line = line_format.format(**fields)
        parsed = line_format.parse(line)
        assert parsed is not None, line


def test_encode_each_is_encode_for_every_text() -> None:
    texts = ["plain", "{braces} stay", "caf\u00e9 \U0001f600", ""]
    assert text.MESSAGE.encode_each(texts, name="bob") == b"".join(
        text.MESSAGE.encode(name="bob", text=t) for t in texts
    )
    assert text.MESSAGE.encode_each([], name="bob") == b""
    with pytest.raises(ValueError):
        text.JOINED.encode_each(["x"], name="bob")


def test_ordinary_text_takes_the_one_go_path() -> None:
    """
    plain_lines takes a read of ordinary lines in one go, whatever their
    script, emoji included; only what cleaning would change is left to
    clean_text line by line.
    """
    ordinary = [
        "hello there",
        "caf\u00e9 cr\u00e8me, \u00e0 17\u00a0h ?",
        "\u4f60\u597d\uff0c\u5927\u5bb6\u597d\uff01\u3000\u3053\u3093\u306b\u3061\u306f",
        f"{RED_HEART} {FAMILY} {RAINBOW_FLAG} {KEYCAP_ONE}",
        PERSIAN_WITH_ZWNJ,
        "\u0600\u0661",
    ]
    block = "\n".join(ordinary).encode()
    assert text.plain_lines(block) == ordinary
    for changed in ("x\u200b", "x \ufe0f", "x\u200d", "\u3164", ENGLAND, "\x85"):
        assert text.plain_lines(block + b"\n" + changed.encode()) is None, changed
