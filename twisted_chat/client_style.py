"""
How the terminal client colours the conversation: one colour per name, the
server's notices and errors set apart, each line recognised by the shared
formats of L{twisted_chat.text}.
"""

from __future__ import annotations

import unicodedata
import zlib

from twisted.conch.insults import insults

from twisted_chat import text

# SGR codes as insults.ServerProtocol takes them (strings), kept to the 8
# basic colours every terminal has.
NORMAL, BOLD = str(insults.NORMAL), str(insults.BOLD)
RED, GREEN, YELLOW, BLUE, MAGENTA, CYAN = (str(n) for n in (31, 32, 33, 34, 35, 36))
NAME_COLOURS = (GREEN, YELLOW, BLUE, MAGENTA, RED)
NOTICE_COLOUR = CYAN

#: A piece of a line to draw: its text and SGR attributes (empty: plain).
Span = tuple[str, tuple[str, ...]]


def name_colour(name: str) -> str:
    """A colour for C{name}: the same on every run and every machine."""
    return NAME_COLOURS[zlib.crc32(name.casefold().encode()) % len(NAME_COLOURS)]


def columns(line: str) -> int:
    """How many terminal columns C{line} takes (wide East Asian chars take 2)."""
    width = 0
    for char in line:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in "WF" else 1
    return width


def style_line(line: str, own_name: str) -> list[Span]:
    """
    Split a server line into coloured spans, recognising it by the shared
    formats of L{twisted_chat.text}; a line of no known format stays plain.
    """

    def who(name: str) -> tuple[str, ...]:
        colour = name_colour(name)
        return (BOLD, colour) if name == own_name else (colour,)

    if (fields := text.MESSAGE.parse(line)) is not None:
        return [
            ("<", ()),
            (fields["name"], who(fields["name"])),
            ("> " + fields["text"], ()),
        ]
    # The server's own lines before the catch-alls: ACTION, NOTICE and PRIVATE
    # match lines of other formats too (PRIVATE matches "*** x has joined").
    if any(f.parse(line) is not None for f in (*text.EVENT_FORMATS, text.WHO)):
        return [(line, (NOTICE_COLOUR,))]
    if (fields := text.PRIVATE_SENT.parse(line)) is not None:
        return [
            ("-> *", ()),
            (fields["name"], who(fields["name"])),
            ("* " + fields["text"], ()),
        ]
    if text.ERROR.parse(line) is not None:
        return [(line, (BOLD, RED))]
    if (fields := text.ACTION.parse(line)) is not None:
        return [
            ("* ", ()),
            (fields["name"], who(fields["name"])),
            (" " + fields["text"], ()),
        ]
    if text.NOTICE.parse(line) is not None:
        return [(line, (NOTICE_COLOUR,))]
    if (fields := text.PRIVATE.parse(line)) is not None:
        return [
            ("*", (BOLD,)),
            (fields["name"], who(fields["name"])),
            ("* " + fields["text"], (BOLD,)),
        ]
    return [(line, ())]
