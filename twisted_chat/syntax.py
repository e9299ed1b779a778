"""
What a typed line means: a command, or text to say. Shared by the server
and the terminal client, so both read a line the same way.
"""

from __future__ import annotations


def split_command(line: str) -> tuple[str, str] | None:
    """
    Split C{"/nick  alice"} into C{("nick", "alice")}.

    @return: L{None} when C{line} is not a command: it does not start with
        C{/}, or it starts with C{//} (text that begins with a slash).
    """
    if not line.startswith("/") or line.startswith("//"):
        return None
    word, _, arguments = line[1:].partition(" ")
    return word.lower(), arguments.strip()


def may_hold_commands(block: bytes) -> bool:
    """
    Whether some line of C{block} (lines separated by LF) starts with C{/}:
    a command, or text that L{unescape_text} must change.
    """
    return block.startswith(b"/") or b"\n/" in block


def unescape_text(line: str) -> str:
    """The text a non-command line stands for: C{//x} means C{/x}."""
    return line[1:] if line.startswith("//") else line
