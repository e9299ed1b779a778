"""Cleaning input and the shared line formats."""

from __future__ import annotations

import pytest

from twisted_chat import text


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
    ],
)
def test_clean_text(raw: bytes, clean: str) -> None:
    assert text.clean_text(raw) == clean


def test_emoji_joiner_sequences_pass_intact() -> None:
    family = "👨\u200d👩\u200d👧"
    assert text.clean_text(family.encode()) == family


def test_formats_round_trip() -> None:
    line = text.MESSAGE.format(name="alice", text="hi <there> * you")
    assert line == "<alice> hi <there> * you"
    assert text.MESSAGE.parse(line) == {"name": "alice", "text": "hi <there> * you"}
    assert text.RENAMED.parse("* bob is now known as alice") == {
        "old": "bob",
        "new": "alice",
    }
    assert text.JOINED.parse("* bob has left") is None
    assert text.MESSAGE.encode(name="a", text="b") == b"<a> b\r\n"


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
