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


def clean_text(raw: bytes) -> str:
    """
    Turn one received line into text that is safe to show on anyone's screen.

    Guarantees: never raises; invalid UTF-8 becomes U+FFFD; the result holds
    no C0 or C1 control character and no ESC (ANSI/VT escape sequences are
    removed whole); a tab becomes a space; any other Unicode text (accents,
    CJK, emoji and their joiners) passes unchanged.
    """
    text = raw.decode("utf-8", "replace")
    if text.isprintable():
        # The common case: nothing to remove, no regex work.
        return text
    text = _ESCAPE_SEQUENCE.sub("", text).replace("\t", " ")
    return _CONTROL.sub("", text)


# The bytes of C0 controls and DEL, except the newline between lines.
_C0_AND_DEL = bytes([*range(0x0A), *range(0x0B, 0x20), 0x7F])
# C1 controls; in UTF-8 each starts with the byte 0xC2.
_C1 = re.compile(r"[\x80-\x9f]")


def plain_lines(block: bytes) -> list[str] | None:
    """
    The lines of C{block} (separated by LF), decoded, if every one is
    already clean and not blank; else L{None}.

    Guarantees: when a list is returned, it holds exactly what
    L{clean_text} makes of each line, and no line of it is blank. Costs a
    few passes in C over the block, no Python work per line.
    """
    # Everything clean_text removes or changes is a C0 or C1 control or DEL.
    if len(block.translate(None, _C0_AND_DEL)) != len(block):
        return None
    # Decoding the block at once equals decoding line by line: a newline
    # is never part of a UTF-8 sequence, so it ends any invalid one.
    decoded = block.decode("utf-8", "replace")
    if b"\xc2" in block and _C1.search(decoded):
        return None
    lines = decoded.split("\n")
    if not all(lines) or any(map(str.isspace, lines)):
        return None
    return lines


def encode_line(text: str) -> bytes:
    """Encode one line of server output, CRLF-terminated."""
    return text.encode("utf-8") + CRLF


_FIELD = re.compile(r"\{(\w+)\}")
# What each field may match when a line is parsed back (client side).
_FIELD_PATTERNS = {"text": ".*", "count": r"\d+"}
_NAME_PATTERN = r"[^\s]+"


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
            pattern = _FIELD_PATTERNS.get(name, _NAME_PATTERN)
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


# Lines relayed from one person to others.
MESSAGE = LineFormat("<{name}> {text}")
ACTION = LineFormat("* {name} {text}")
PRIVATE = LineFormat("*{name}* {text}")
PRIVATE_SENT = LineFormat("-> *{name}* {text}")

# Room events, seen by everyone else.
JOINED = LineFormat("* {name} has joined")
LEFT = LineFormat("* {name} has left")
RENAMED = LineFormat("* {old} is now known as {new}")

# Lines for one client only.
WELCOME = LineFormat(
    "* Welcome to {server}, {name}! {count} here now. Type /help for commands."
)
YOUR_NAME = LineFormat("* You are now known as {name}")
WHO = LineFormat("* {count} here: {text}")
NOTICE = LineFormat("* {text}")
ERROR = LineFormat("! {text}")
GOODBYE = LineFormat("* Goodbye, {name}.")

#: The formats that announce something about a named person, in the order a
#: parser should try them (the specific ones before the catch-all ACTION).
EVENT_FORMATS = (JOINED, LEFT, RENAMED, YOUR_NAME, WELCOME, GOODBYE)

#: What the daemon (an ssl: port) and the client (--tls) say when TLS is asked
#: for and pyOpenSSL, the "tls" extra, is not installed.
TLS_MISSING = "TLS needs pyOpenSSL: pip install 'twisted_chat[tls]'"
