"""
What a person may be called, and when two names are the same name.

Every lookup of a name in a room (is it taken, who is C{/msg alice}, which
guest number is free) goes through L{name_key}, so that a name that only
looks like one in use can never be claimed next to it.
"""

from __future__ import annotations

import re
import unicodedata

from twisted_chat import text

NAME_RULE = re.compile(text.NAME_PATTERN)
NAME_HELP = "1 to 24 letters, digits, '_', '-' or '.'"

# After casefolding: capital I (now i), small L, one and the bar look alike,
# and so do O (now o) and zero. Upper and lower case are one name, so i and
# l end up the same too: "ali" and "all" are one name, a price worth paying
# for "aIice" never standing next to "alice".
_LOOK_ALIKES = str.maketrans({"i": "l", "1": "l", "|": "l", "0": "o"})

#: Names no one may take: they would read as the server speaking.
RESERVED = frozenset({"server", "you"})


def name_key(name: str) -> str:
    """
    What C{name} is compared by: equal keys are the same name. Ignores case
    and the look-alikes I, l, 1, | and O, 0 (and, for any non-ASCII name,
    compatibility forms: NFKC).
    """
    if not name.isascii():
        name = unicodedata.normalize("NFKC", name)
    return name.casefold().translate(_LOOK_ALIKES)


_RESERVED_KEYS = frozenset(map(name_key, RESERVED))


def is_reserved(name: str) -> bool:
    """Whether C{name} is, or looks like, a name no one may take."""
    return name_key(name) in _RESERVED_KEYS
