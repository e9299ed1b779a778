"""
Property tests of the input path: whatever bytes arrive, in whatever
chunks, nothing breaks and nothing harmful reaches anyone else.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from tests.test_protocol import Connection, make_factory
from twisted_chat import text
from twisted_chat.frontends.line.protocol import LineProtocol

CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    pieces, start = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[start:point])
        start = point
    return pieces


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=10))
def test_any_bytes_any_chunking_relay_only_clean_text(
    data: bytes, cuts: list[int]
) -> None:
    factory = make_factory(max_line_length=512)
    sender, listener = Connection(factory), Connection(factory)
    listener.lines()
    for piece in chunked(data, cuts):
        sender.protocol.dataReceived(piece)
    relayed = listener.transport.value().decode("utf-8")
    for line in relayed.split("\r\n")[:-1]:
        assert not CONTROL.search(line), line
        assert "\x1b" not in line and "\t" not in line


#: What cleaning removes or keeps only in context (joiners, selectors, tags).
INVISIBLE = frozenset(
    chr(code)
    for first, last in (
        *text.REMOVED_FORMAT,
        *text.REMOVED_INVISIBLE,
        *text.JOINERS,
        *text.VARIATION_SELECTORS,
        *text.TAGS,
    )
    for code in range(first, last + 1)
)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(
        st.text(
            alphabet=st.characters(
                blacklist_categories=("Cc", "Cs", "Zl", "Zp"),
            ).filter(lambda c: c not in INVISIBLE),
            min_size=1,
            max_size=80,
        ).filter(lambda s: s.strip() and not s.startswith("/")),
        min_size=1,
        max_size=20,
    ),
    cuts=st.lists(st.integers(0, 4000), max_size=10),
)
def test_valid_utf8_text_arrives_unchanged(lines: list[str], cuts: list[int]) -> None:
    factory = make_factory()
    sender, listener = Connection(factory), Connection(factory)
    listener.lines()
    data = "".join(f"{line}\r\n" for line in lines).encode("utf-8")
    for piece in chunked(data, cuts):
        sender.protocol.dataReceived(piece)
    assert listener.lines() == [
        text.MESSAGE.format(name="guest1", text=line) for line in lines
    ]


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_clean_text_never_raises_and_leaves_no_controls(raw: bytes) -> None:
    cleaned = text.clean_text(raw)
    assert not re.search(r"[\x00-\x1f\x7f-\x9f]", cleaned)


#: Characters that cleaning looks at, with plain ones to put them among.
TOUGH = (
    "a",
    " ",
    "\u00e9",
    "\u6f22",
    "\U0001f468",
    "\U0001f3f4",
    "\t",
    "\x1b",
    "[",
    "\x85",
    "\u00a0",
    "\u3000",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u200e",
    "\u202e",
    "\u2066",
    "\u2069",
    "\u00ad",
    "\u034f",
    "\u3164",
    "\ufeff",
    "\ufe0e",
    "\ufe0f",
    "\u180b",
    "\u0600",
    "\U000e0001",
    "\U000e0067",
    "\U000e007f",
    "\U000e0100",
    "\U00013430",
    "\U0001d173",
)
TOUGH_LINES = st.text(alphabet=st.sampled_from(TOUGH), max_size=12)
#: Lines with invisible characters and what they look like once cleaned.
DISGUISED = (
    ("\u200b", ""),
    ("\u200d", ""),
    ("\ufe0f", ""),
    ("\u202e", ""),
    ("\u3164", ""),
    ("\U000e0041", ""),
    ("a\u200db", "a\u200db"),
    ("\u2764\ufe0f", "\u2764\ufe0f"),
)


def removed_or_lone(cleaned: str) -> str | None:
    """What clean_text must never leave in a line, if anything is left."""
    for position, character in enumerate(cleaned):
        code = ord(character)
        if any(first <= code <= last for first, last in text.REMOVED_FORMAT) or any(
            first <= code <= last for first, last in text.REMOVED_INVISIBLE
        ):
            return f"removed {code:#x} at {position}"
        marks = [*text.JOINERS, *text.VARIATION_SELECTORS]
        if any(first <= code <= last for first, last in marks) and (
            position == 0 or cleaned[position - 1].isspace()
        ):
            return f"lone {code:#x} at {position}"
        joiner = text.JOINERS[0][0] <= code <= text.JOINERS[0][1]
        rest = cleaned[position + 1 :].lstrip("".join(INVISIBLE))
        if joiner and (not rest or rest[0].isspace()):
            return f"joiner to nothing {code:#x} at {position}"
    return None


@settings(max_examples=1000, deadline=None)
@given(TOUGH_LINES)
def test_cleaning_leaves_nothing_invisible_and_is_stable(line: str) -> None:
    """
    No removed character, no joiner or selector with nothing to join or
    select, no tag outside a flag; and cleaning again changes nothing (so
    the fast path, which returns clean text as it is, agrees).
    """
    cleaned = text.clean_string(line)
    assert removed_or_lone(cleaned) is None, (line, cleaned)
    tags = re.sub(
        "\U0001f3f4[\U000e0030-\U000e0039\U000e0061-\U000e007a]{1,6}\U000e007f",
        "",
        cleaned,
    )
    assert not re.search("[\U000e0000-\U000e007f]", tags), (line, cleaned)
    assert text.clean_string(cleaned) == cleaned


@settings(max_examples=1000, deadline=None)
@given(st.lists(TOUGH_LINES, min_size=1, max_size=6))
def test_plain_lines_is_clean_text_per_line(lines: list[str]) -> None:
    block = "\n".join(lines).encode("utf-8")
    plain = text.plain_lines(block)
    if plain is not None:
        assert plain == [text.clean_text(raw) for raw in block.split(b"\n")]
        assert all(line.strip() for line in plain)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(DISGUISED), min_size=1, max_size=5),
    st.sampled_from([b"\n", b"\r\n"]),
)
def test_invisible_lines_are_never_relayed(
    lines: list[tuple[str, str]], end: bytes
) -> None:
    factory = make_factory()
    sender, listener = Connection(factory), Connection(factory)
    listener.lines()
    sender.protocol.dataReceived(b"".join(raw.encode() + end for raw, _ in lines))
    assert listener.lines() == [
        text.MESSAGE.format(name="guest1", text=seen) for _, seen in lines if seen
    ]


class LineByLine(LineProtocol):
    """A LineProtocol that never takes a read's lines in one go."""

    def _take_plain(self, raws: list[bytes]) -> bool:
        return False


#: Plain lines, and what may turn one into a line the one-go path must
#: leave to lineReceived.
WORDS = [
    b"hello",
    b"caf\xc3\xa9 \xf0\x9f\x91\x8d",
    b"y" * 40,
    b"z" * 41,
    b"a b",
    "\u2764\ufe0f \U0001f468\u200d\U0001f469\u200d\U0001f467".encode(),
]
TRICKY = [
    b"",
    b" ",
    b"\xe3\x80\x80",  # an ideographic space: blank on its own
    b"\r",
    b"\t",
    b"/",
    b"//",
    b"/nick bob ",
    b"/me waves ",
    b"\x1b[31m",
    b"\xc2\x85",  # NEL, a C1 control
    b"\xc2\xa0",  # a no-break space
    b"\xff\xfe",  # invalid UTF-8 (and a telnet command)
    b"\xe2\x82",  # a truncated sequence
    b"\x00",
    "\u200b".encode(),  # zero-width space
    "\u202e".encode(),  # right-to-left override
    "\u200d".encode(),  # zero-width joiner
    "\ufe0f".encode(),  # variation selector 16
    "\u3164".encode(),  # Hangul filler (printable)
    "\u00ad".encode(),  # soft hyphen
    "\u0600".encode(),  # Arabic number sign (kept)
    "\U000e0041".encode(),  # a tag
    "\U00013430".encode(),  # an astral format character
]


def a_line(word: bytes, tricky: bytes | None, where: int, end: bytes) -> bytes:
    if tricky is None:
        return word + end
    return (tricky + word, word + tricky, tricky)[where] + end


LINES = st.builds(
    a_line,
    st.sampled_from(WORDS),
    # Mostly plain lines, so that whole reads are plain often enough.
    st.sampled_from([None] * 6 * len(TRICKY) + TRICKY),
    st.integers(0, 2),
    st.sampled_from([b"\n", b"\r\n"]),
)


@settings(max_examples=500, deadline=None)
@given(
    lines=st.lists(LINES, max_size=40),
    cuts=st.lists(st.integers(0, 2000), max_size=4),
    rate=st.sampled_from([0, 5]),
    ticks=st.lists(st.floats(0, 2), max_size=5),
)
def test_one_go_and_line_by_line_agree(
    lines: list[bytes], cuts: list[int], rate: int, ticks: list[float]
) -> None:
    """
    Whatever arrives, taking plain reads in one go changes nothing anyone
    sees: the same lines relayed, the same errors, the same count.
    """
    outcomes = []
    for protocol in (LineProtocol, LineByLine):
        clock = Clock()
        factory = make_factory(clock, max_line_length=40, rate=rate, burst=8)
        factory.protocol = protocol  # type: ignore[assignment]
        sender, listener = Connection(factory), Connection(factory)
        sender.lines()
        listener.lines()
        for number, piece in enumerate(chunked(b"".join(lines), cuts)):
            clock.advance(ticks[number] if number < len(ticks) else 0.1)
            sender.protocol.dataReceived(piece)
        outcomes.append(
            (listener.lines(), sender.lines(), factory.services.lines_received)
        )
    assert outcomes[0] == outcomes[1]
