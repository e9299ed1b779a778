"""
How the terminal client colours the conversation: one colour per name, the
server's notices and errors set apart, history replayed dimmed, each line
recognised by the shared formats of L{twisted_chat.text}.
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
#: SGR 2, faint (dim): not among insults' constants.
FAINT = "2"
NAME_COLOURS = (GREEN, YELLOW, BLUE, MAGENTA, RED)
NOTICE_COLOUR = CYAN
#: What lines replayed from the room's history are drawn in, whole, names
#: in their colour too: dimmer than anything live.
HISTORY_ATTRIBUTES = (FAINT,)

#: The server's lines about people and rooms, drawn whole in NOTICE_COLOUR
#: (the head of a history replay among them: it is not history itself).
NOTICE_FORMATS = (
    *text.EVENT_FORMATS,
    text.WHO,
    text.WHO_IN,
    text.NOW_IN,
    text.TOPIC_IS,
    text.TOPIC_SET,
    text.TOPIC_CLEARED,
    text.ROOMS,
    text.ROOM_ENTRY_TOPIC,
    text.ROOM_ENTRY,
    text.HISTORY,
)

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

    Guarantees: the spans' texts, joined, are C{line} unchanged, so a screen
    without colour shows the line exactly as received. Every span of a
    history line (L{text.HISTORY_FORMATS}) is faint and nothing else is: a
    line replayed from before stands apart from everything live, and the
    server's notices are never faint. C{own_name} is bold where it speaks
    live, never in history (bold and faint cancel out on many terminals).
    """

    def who(name: str) -> tuple[str, ...]:
        colour = name_colour(name)
        return (BOLD, colour) if name == own_name else (colour,)

    # Before the notices: a history line is a NOTICE line too ("*** ...").
    if (history := _history_spans(line)) is not None:
        return history
    if (fields := text.MESSAGE.parse(line)) is not None:
        return [
            ("<", ()),
            (fields["name"], who(fields["name"])),
            ("> " + fields["text"], ()),
        ]
    # The server's own lines before the catch-alls: ACTION, NOTICE and PRIVATE
    # match lines of other formats too (PRIVATE matches "*** x has joined").
    if any(f.parse(line) is not None for f in NOTICE_FORMATS):
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


def _history_spans(line: str) -> list[Span] | None:
    """The spans of a line replayed from history, or None if it is not one."""
    for line_format in text.HISTORY_FORMATS:
        fields = line_format.parse(line)
        if fields is None:
            continue
        # Around the name, as the format itself puts it: "*** [21:30] <", "> hi".
        head, _, tail = line_format.template.partition("{name}")
        name = fields["name"]
        return [
            (head.format(**fields), HISTORY_ATTRIBUTES),
            (name, (*HISTORY_ATTRIBUTES, name_colour(name))),
            (tail.format(**fields), HISTORY_ATTRIBUTES),
        ]
    return None
