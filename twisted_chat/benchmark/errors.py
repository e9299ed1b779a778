"""How the benchmark fails: always with one line saying what failed."""

from __future__ import annotations

import os


class BenchmarkError(Exception):
    """A run that cannot go on; its message is one line, ready for the user."""


def describe(error: BaseException) -> str:
    """
    What C{error} says, in one line and never empty: an OSError's own
    words (C{connection refused}), else its message, else its type's name.
    """
    if isinstance(error, OSError) and (error.errno or error.strerror):
        # asyncio's connect failures say "Connect call failed (address)".
        said = os.strerror(error.errno) if error.errno else str(error.strerror)
        text = said[:1].lower() + said[1:]
        if error.filename is not None:
            text = f"{error.filename}: {text}"
    elif isinstance(error, TimeoutError) and not str(error):
        text = "timed out"
    else:
        text = str(error)
    return one_line(text) or type(error).__name__


def one_line(text: str) -> str:
    """C{text} with every run of white space, newlines included, one space."""
    return " ".join(text.split())
