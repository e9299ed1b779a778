"""
What crosses the wire: cleaning what people type, and the server's line formats.

Every line the server sends is built from one of the L{LineFormat} constants
below, and the terminal client recognises the server's lines by parsing them
with the very same constants, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

#: Every line the server sends ends with CRLF so a raw telnet terminal renders it.
CRLF = b"\r\n"

# ANSI/VT escape sequences, removed whole so that no "[31m" residue is left:
# CSI (ESC [ or the C1 byte 0x9b, parameters, intermediates, one final byte),
# OSC/DCS/PM/APC/SOS strings (up to BEL or ST), and two-byte ESC sequences.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
# C0 controls, DEL and C1 controls: whatever is left after escapes are gone.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _char_class(ranges: Sequence[tuple[int, int]]) -> str:
    """The inside of a regex character class holding C{ranges} (inclusive)."""
    return "".join(
        re.escape(chr(first)) + ("-" + re.escape(chr(last)) if last > first else "")
        for first, last in ranges
    )


#: Format characters (Unicode category Cf) that reorder text or show
#: nothing: the bidi marks, embeddings, overrides and isolates (U+061C,
#: U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), the zero-width space,
#: the word joiner and invisible operators (U+200B, U+2060-U+2064), the BOM
#: (U+FEFF), the soft hyphen, the Mongolian vowel separator, the deprecated
#: (U+206A-U+206F) and interlinear annotation controls, the language tag,
#: and the format controls of hieroglyphs, shorthand and music. Removed.
REMOVED_FORMAT = (
    (0x00AD, 0x00AD),
    (0x061C, 0x061C),
    (0x180E, 0x180E),
    (0x200B, 0x200B),
    (0x200E, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
)
#: The rest of Cf, kept as it is: the prepended concatenation marks
#: (visible signs spanning the digits after them), and the joiners and tags
#: under the rules below.
KEPT_FORMAT = (
    (0x0600, 0x0605),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
)
#: Printable characters that show nothing: the combining grapheme joiner,
#: the Hangul fillers (a line of U+3164 looks empty) and the Khmer inherent
#: vowels. Removed.
REMOVED_INVISIBLE = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x3164, 0x3164),
    (0xFFA0, 0xFFA0),
)
#: Zero-width non-joiner and joiner: they shape Persian and Indic words and
#: glue emoji into one (a family, a rainbow flag). Kept only between two
#: characters that are not white space.
JOINERS = ((0x200C, 0x200D),)
#: Variation selectors (U+FE0F: emoji style, as in a red heart) and the
#: Mongolian free variation selectors. Kept only after a character that is
#: not white space.
VARIATION_SELECTORS = (
    (0x180B, 0x180D),
    (0x180F, 0x180F),
    (0xFE00, 0xFE0F),
    (0xE0100, 0xE01EF),
)
#: Tag characters. Kept only in the emoji tag sequence of a flag (England,
#: Scotland, Wales: U+1F3F4, 1 to 6 tag digits or small letters, U+E007F),
#: so that no text hides in them.
TAGS = ((0xE0020, 0xE007F),)

_REMOVED = re.compile(f"[{_char_class((*REMOVED_FORMAT, *REMOVED_INVISIBLE))}]+")
_FLAG_OR_TAG = re.compile(
    "(\U0001f3f4[\U000e0030-\U000e0039\U000e0061-\U000e007a]{1,6}\U000e007f)"
    f"|[{_char_class(TAGS)}]+"
)
_MARK = _char_class((*JOINERS, *VARIATION_SELECTORS))
# A run of joiners and selectors at the start or after a space has nothing
# to join or select: all of it goes. (The look-behind comes after the first
# character so that the regex engine can scan for that character in C.)
_LONE_MARKS = re.compile(rf"[{_MARK}](?<!\S[{_MARK}])[{_MARK}]*")
# A joiner in a run that ends the line or meets a space joins nothing.
_TRAILING_JOINER = re.compile(rf"[{_char_class(JOINERS)}](?=[{_MARK}]*(?:\s|\Z))")

# The fast paths. Everything of planes 12-15 (tags, the supplementary
# selectors, private use) starts with the byte F3 in UTF-8, and what is
# removed from planes 1-3 with F0, which "in" finds at memchr speed; the
# rest of what cleaning may change is found by one scan with a class of
# BMP characters (one bitmap test per character in the regex engine, where
# each astral range would add a comparison).
_BMP_SELECTORS = [r for r in VARIATION_SELECTORS if r[1] <= 0xFFFF]
_BMP_SUSPECTS = _char_class(
    (
        *[r for r in REMOVED_FORMAT if r[1] <= 0xFFFF],
        *JOINERS,
        *REMOVED_INVISIBLE,
        *_BMP_SELECTORS,
    )
)
# In a block of lines with no C0 control but their newlines: C1 controls,
# the format characters removed, the invisibles, joiners and selectors ...
_SUSPECT = re.compile(f"[\x80-\x9f{_BMP_SUSPECTS}]")
# ... in one line: C0 controls and DEL too ...
_SUSPECT_IN_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BMP_SUSPECTS}]")
# ... and, in UTF-8, the format characters removed from planes 1-3.
_ASTRAL_REMOVED = re.compile(
    b"|".join(
        re.escape(chr(first).encode()[:-1])
        + b"[%c-%c]" % (chr(first).encode()[-1], chr(last).encode()[-1])
        for first, last in REMOVED_FORMAT
        if 0xFFFF < first < 0x40000
    )
)
_SELECTOR_CHARACTERS = frozenset(
    chr(c) for first, last in _BMP_SELECTORS for c in range(first, last + 1)
)
_JOINER_CHARACTERS = frozenset(
    chr(c) for first, last in JOINERS for c in range(first, last + 1)
)
_MARK_CHARACTERS = _SELECTOR_CHARACTERS | _JOINER_CHARACTERS


def _unchanged_by_cleaning(text: str, found: re.Match[str] | None) -> bool:
    """
    Whether each suspect in C{text}, C{found} and those after it, is a
    joiner or selector that cleaning keeps: after a character that is not
    white space and, for a joiner, before one (past any other joiners and
    selectors). Python work per suspect, none for a text without any.
    """
    if found is None:
        return True
    end = len(text)
    for suspect in found.re.finditer(text, found.start()):
        start = suspect.start()
        # A joiner or selector before this one was looked at already.
        if start == 0 or text[start - 1].isspace():
            return False
        character = text[start]
        if character in _JOINER_CHARACTERS:
            after = start + 1
            while after < end and text[after] in _MARK_CHARACTERS:
                after += 1
            if after == end or text[after].isspace():
                return False
        elif character not in _SELECTOR_CHARACTERS:
            return False
    return True


def _unchanged_outside_the_bmp(raw: bytes) -> bool:
    """Whether cleaning keeps every astral character of C{raw}, in UTF-8."""
    return 0xF3 not in raw and (0xF0 not in raw or not _ASTRAL_REMOVED.search(raw))


def clean_text(raw: bytes) -> str:
    """
    Turn one received line into text that is safe to show on anyone's screen.

    Guarantees: never raises; invalid UTF-8 becomes U+FFFD; the result holds
    no C0 or C1 control character and no ESC (ANSI/VT escape sequences are
    removed whole); a tab becomes a space; no bidi control and no invisible
    character is left (L{REMOVED_FORMAT}, L{REMOVED_INVISIBLE}); joiners,
    variation selectors and tags are kept only where they join, select or
    make a flag (L{JOINERS}, L{VARIATION_SELECTORS}, L{TAGS}), so a line
    made only of invisible characters comes out empty. Any other text
    (accents, CJK, emoji and their sequences) passes unchanged, and
    cleaning a cleaned line changes nothing.
    """
    text = raw.decode("utf-8", "replace")
    # The common case, nothing to remove: in ASCII, no control (one pass in
    # C); in other text, nothing found by a byte search and one class scan.
    if text.isascii():
        if text.isprintable():
            return text
    elif _unchanged_outside_the_bmp(raw) and _unchanged_by_cleaning(
        text, _SUSPECT_IN_LINE.search(text)
    ):
        return text
    text = _ESCAPE_SEQUENCE.sub("", text).replace("\t", " ")
    text = _REMOVED.sub("", _CONTROL.sub("", text))
    if 0xF3 in raw:
        text = _FLAG_OR_TAG.sub(r"\1", text)
    return _TRAILING_JOINER.sub("", _LONE_MARKS.sub("", text))


def clean_string(text: str) -> str:
    """L{clean_text} for text already decoded (a lone surrogate is invalid)."""
    return clean_text(text.encode("utf-8", "surrogatepass"))


def one_line(text: str) -> str:
    """
    C{text} cleaned (L{clean_string}) into a single line: line breaks and
    runs of white space become one space, and none is left at either end.
    """
    return " ".join(" ".join(map(clean_string, text.splitlines())).split())


# The bytes of C0 controls and DEL, except the newline between lines.
_C0_AND_DEL = bytes([*range(0x0A), *range(0x0B, 0x20), 0x7F])


def plain_lines(block: bytes) -> list[str] | None:
    """
    The lines of C{block} (separated by LF), decoded, if every one is
    valid UTF-8, already clean and not blank; else L{None}.

    Guarantees: when a list is returned, it holds exactly what
    L{clean_text} makes of each line, and no line of it is blank. Costs a
    few passes in C over the block (for ASCII, no regex at all), no Python
    work per line.
    """
    # In ASCII, everything clean_text removes or changes is C0 or DEL.
    if len(block.translate(None, _C0_AND_DEL)) != len(block):
        return None
    # Decoding the block at once equals decoding line by line: a newline
    # is never part of a UTF-8 sequence. A line that is not UTF-8 is
    # refused, one by one, by the caller's slow path.
    try:
        decoded = block.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # The newline before a line is the white space before a lone selector.
    if not block.isascii() and not (
        _unchanged_outside_the_bmp(block)
        and _unchanged_by_cleaning(decoded, _SUSPECT.search(decoded))
    ):
        return None
    lines = decoded.split("\n")
    if not all(lines) or any(map(str.isspace, lines)):
        return None
    return lines


def encode_line(text: str) -> bytes:
    """Encode one line of server output, CRLF-terminated."""
    return text.encode("utf-8") + CRLF


def plain_number(value: float) -> str:
    """C{value} in plain decimal digits: C{5.0} is C{"5"}, C{1e-05} C{"0.00001"}."""
    digits = format(Decimal(repr(float(value))), "f")
    return digits.rstrip("0").rstrip(".") if "." in digits else digits


#: A name, as the server allows it and as a line format parses it: 1 to 24
#: ASCII letters, digits, "_", "-" or ".".
NAME_PATTERN = r"[A-Za-z0-9_.\-]{1,24}"
#: A room's name, without the "#" it is shown with: 1 to 32 of the same.
ROOM_PATTERN = r"[A-Za-z0-9_.\-]{1,32}"
#: When a line of history was said: "21:30" today, else "2026-11-30 21:30".
TIME_PATTERN = r"(?:\d{4}-\d\d-\d\d )?\d\d:\d\d"

_FIELD = re.compile(r"\{(\w+)\}")
# What each field may match when a line is parsed back (client side).
_FIELD_PATTERNS = {
    "name": NAME_PATTERN,
    "old": NAME_PATTERN,
    "new": NAME_PATTERN,
    "room": ROOM_PATTERN,
    "time": TIME_PATTERN,
    # Anything but a line break, spaces included, but not empty.
    "server": ".+?",
    "text": ".*",
    "count": r"\d+",
    "burst": r"\d+",
    "length": r"\d+",
    "rate": r"\d+(?:\.\d+)?",
    # A command word as typed (after the slash).
    "word": r"\S*",
}


@dataclass(frozen=True)
class LineFormat:
    """
    One kind of line the server sends, e.g. C{"<{name}> {text}"}.

    L{format} builds the line; L{parse} recognises it and returns its fields,
    so server and client share one definition.
    """

    template: str
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    # The template before and after its {text} field, for encode_each.
    _around_text: tuple[str, str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pieces: list[str] = []
        position = 0
        for match in _FIELD.finditer(self.template):
            pieces.append(re.escape(self.template[position : match.start()]))
            name = match.group(1)
            pattern = _FIELD_PATTERNS.get(name)
            if pattern is None:
                raise ValueError(f"{self.template!r}: no pattern for {{{name}}}")
            pieces.append(f"(?P<{name}>{pattern})")
            position = match.end()
        pieces.append(re.escape(self.template[position:]))
        object.__setattr__(self, "_pattern", re.compile("".join(pieces)))
        head, has_text, tail = self.template.partition("{text}")
        object.__setattr__(self, "_around_text", (head, tail) if has_text else None)

    def format(self, **fields: object) -> str:
        """The line as text, without its line ending."""
        return self.template.format(**fields)

    def encode(self, **fields: object) -> bytes:
        """The line as bytes on the wire, CRLF-terminated."""
        return encode_line(self.template.format(**fields))

    def encode_each(self, texts: Sequence[str], **fields: object) -> bytes:
        """
        One line per item of C{texts} (as C{encode(text=item, **fields)}
        each), formatted and encoded in one go: relaying a read of many
        lines costs one C{format} and one C{encode}, not one per line.
        """
        if self._around_text is None:
            raise ValueError(f"{self.template!r} has no {{text}} field")
        if not texts:
            return b""
        head, tail = self._around_text
        before = head.format(**fields)
        after = tail.format(**fields) + "\r\n"
        return (before + (after + before).join(texts) + after).encode("utf-8")

    def parse(self, line: str) -> dict[str, str] | None:
        """The fields of C{line} if it has this format, else L{None}."""
        match = self._pattern.fullmatch(line)
        return match.groupdict() if match else None


# What people say: a line relayed from one person to others starts with
# "<", "* NAME " or "*NAME*", and one echoed to its sender with "-> ", so
# none starts with "***" or "!" (a name has neither "*" nor a space).
MESSAGE = LineFormat("<{name}> {text}")
ACTION = LineFormat("* {name} {text}")
PRIVATE = LineFormat("*{name}* {text}")
PRIVATE_SENT = LineFormat("-> *{name}* {text}")

# What the server says: "*** " for notices, room events and the answers to
# commands, "! " for errors. No one can say a line of either shape.
# Room events, seen by everyone else.
JOINED = LineFormat("*** {name} has joined")
LEFT = LineFormat("*** {name} has left")
RENAMED = LineFormat("*** {old} is now known as {new}")

# Lines for one client only.
WELCOME = LineFormat(
    "*** Welcome to {server}, {name}! {count} here now. Type /help for commands."
)
YOUR_NAME = LineFormat("*** You are now known as {name}")
WHO = LineFormat("*** {count} here: {text}")
#: /who ROOM, for a room other than your own.
WHO_IN = LineFormat("*** {count} in #{room}: {text}")
#: After the greeting and after /join: the room you are in now.
NOW_IN = LineFormat("*** You are in #{room}: {count} here")
TOPIC_IS = LineFormat("*** Topic of #{room}: {text}")
TOPIC_SET = LineFormat("*** {name} set the topic: {text}")
TOPIC_CLEARED = LineFormat("*** {name} cleared the topic")
#: The answer to /rooms: a head, then one line per room.
ROOMS = LineFormat("*** Rooms ({count}):")
ROOM_ENTRY = LineFormat("***   #{room}: {count} here")
ROOM_ENTRY_TOPIC = LineFormat("***   #{room}: {count} here; topic: {text}")
#: History replayed (on joining a room, or /history): a head, then each line
#: with the time it was said, in a shape no live line has.
HISTORY = LineFormat("*** Earlier in #{room} (the last {count}):")
HISTORY_SAID = LineFormat("*** [{time}] <{name}> {text}")
HISTORY_ACTED = LineFormat("*** [{time}] * {name} {text}")
#: The answer to /limits; {rate} may be a decimal (L{plain_number}); 0 is off.
LIMITS = LineFormat(
    "*** Limits: {rate} lines a second, bursts of {burst}, {length} bytes a line"
)
GOODBYE = LineFormat("*** Goodbye, {name}.")
#: The server's other notices: the MOTD, /help, "server shutting down".
NOTICE = LineFormat("*** {text}")
SLOW_DOWN = LineFormat(
    "! Slow down: at most {rate} lines a second (bursts of {burst}); {count} not sent."
)
#: A line over --max-line-length; {length} is the limit.
LINE_TOO_LONG = LineFormat("! Line too long (over {length} bytes); not sent.")
#: A command the server does not know; {word} is what followed the slash.
UNKNOWN_COMMAND = LineFormat("! Unknown command /{word}; type /help")
ERROR = LineFormat("! {text}")

#: What the terminal client itself says on its screen (never a server's line,
#: and none a person can write: theirs start with "<" or "*").
CLIENT_NOTICE = LineFormat("-- {text}")

#: The formats that carry what a person said.
SAID_FORMATS = (MESSAGE, ACTION, PRIVATE, PRIVATE_SENT)
#: The server's replay of what people said earlier.
HISTORY_FORMATS = (HISTORY_SAID, HISTORY_ACTED)
#: The formats only the server produces, in the order a parser should try
#: them: each specific one before the catch-all it also matches (NOTICE,
#: ERROR).
SERVER_FORMATS = (
    WELCOME,
    YOUR_NAME,
    GOODBYE,
    LIMITS,
    JOINED,
    LEFT,
    RENAMED,
    WHO,
    WHO_IN,
    NOW_IN,
    TOPIC_IS,
    TOPIC_SET,
    TOPIC_CLEARED,
    ROOMS,
    ROOM_ENTRY_TOPIC,
    ROOM_ENTRY,
    HISTORY,
    HISTORY_SAID,
    HISTORY_ACTED,
    NOTICE,
    SLOW_DOWN,
    LINE_TOO_LONG,
    UNKNOWN_COMMAND,
    ERROR,
)
#: Every format the server sends, in the order L{parse_line} tries them.
LINE_FORMATS = (*SERVER_FORMATS, *SAID_FORMATS)
#: What the client shows that no server sends.
CLIENT_FORMATS = (CLIENT_NOTICE,)

#: The formats that announce something about a named person, in the order a
#: parser should try them.
EVENT_FORMATS = (JOINED, LEFT, RENAMED, YOUR_NAME, WELCOME, GOODBYE)


def parse_line(line: str) -> tuple[LineFormat, dict[str, str]] | None:
    """
    Which of L{LINE_FORMATS} C{line} (without its line ending) has, and its
    fields; L{None} for a line the server never sends.
    """
    for line_format in LINE_FORMATS:
        fields = line_format.parse(line)
        if fields is not None:
            return line_format, fields
    return None


#: What the daemon (an ssl: port) and the client (--tls) say when TLS is asked
#: for and pyOpenSSL, the "tls" extra, is not installed.
TLS_MISSING = "TLS needs pyOpenSSL: pip install 'twisted_chat[tls]'"
