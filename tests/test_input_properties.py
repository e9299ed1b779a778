"""
Property tests of the input path: whatever bytes arrive, in whatever
chunks, nothing breaks and nothing harmful reaches anyone else.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_protocol import Connection, make_factory
from twisted_chat import text

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


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(
        st.text(
            alphabet=st.characters(
                blacklist_categories=("Cc", "Cs", "Zl", "Zp"),
            ),
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
