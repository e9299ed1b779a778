"""
Which pages may open the chat's WebSocket: the C{Origin} check.

A browser sends, with every WebSocket it opens, the origin of the page that
opened it, and a page from anywhere may try to open ours: a site a person
on the LAN visits could otherwise talk in the chat from inside the LAN, as
that person. So a browser's WebSocket is accepted only from the chat's own
page (the origin of the C{Host} it asked for) or from an origin the
operator allowed (C{--web-origin}).

A handshake with no C{Origin} at all does not come from a page: browsers
always send it. It comes from a program (a bot, the benchmark), which could
send any C{Origin} it liked, so refusing it would protect nobody; it is let
in, like a telnet client.

Nothing here imports C{twisted.web}: the configuration checks origins too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: The default port of each scheme, left out of an origin as browsers do.
DEFAULT_PORTS = {"http": 80, "https": 443}

# A host as an origin or a Host header carries it: a DNS name or IPv4
# address, or an IPv6 address in brackets; then perhaps a port.
_HOST = r"(?P<host>[a-z0-9](?:[a-z0-9.\-]{0,251}[a-z0-9])?|\[[0-9a-f:.]{2,45}\])"
_PORT = r"(?::(?P<port>[0-9]{1,5}))?"
_ORIGIN = re.compile(rf"(?P<scheme>https?)://{_HOST}{_PORT}/?", re.IGNORECASE)
_HOST_HEADER = re.compile(rf"{_HOST}{_PORT}", re.IGNORECASE)

ORIGIN_HELP = "http:// or https://, a host and perhaps a port: https://chat.example.org"


def _normal(scheme: str, host: str, port: str | None) -> str | None:
    """C{scheme://host[:port]}, lower case, without the scheme's default port."""
    scheme, host = scheme.lower(), host.lower()
    number = int(port) if port else DEFAULT_PORTS[scheme]
    if not 0 < number < 65536:
        return None
    if number == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{number}"


def normal_origin(value: str) -> str | None:
    """
    The origin C{value} names, as browsers spell it (C{"HTTP://Chat:80"} is
    C{"http://chat"}), or None if it is not an http or https origin.
    """
    match = _ORIGIN.fullmatch(value.strip())
    if match is None:
        return None
    return _normal(match["scheme"], match["host"], match["port"])


def check_origin(value: str, option: str = "web-origin") -> str:
    """
    A C{--web-origin} value, checked and spelled as browsers do.

    @raise ValueError: one line naming the option, the value and what an
        origin looks like.
    """
    origin = normal_origin(value)
    if origin is None:
        raise ValueError(f"--{option} takes an origin ({ORIGIN_HELP}), not {value!r}")
    return origin


def check_origins(value: str) -> list[str]:
    """C{--web-origins}: origins separated by commas, each checked."""
    origins = []
    for part in value.split(","):
        if part.strip():
            try:
                origins.append(check_origin(part, "web-origins"))
            except ValueError:
                raise ValueError(
                    f"--web-origins takes origins ({ORIGIN_HELP}), separated by "
                    f"commas, not {part.strip()!r}"
                ) from None
    return origins


def page_origin(host: str | None, secure: bool) -> str | None:
    """
    The origin of our own page as a browser sees it, from the C{Host} it
    asked for and whether it came over TLS; None for a missing or
    malformed C{Host}.
    """
    if host is None:
        return None
    match = _HOST_HEADER.fullmatch(host.strip())
    if match is None:
        return None
    return _normal("https" if secure else "http", match["host"], match["port"])


class OriginPolicy:
    """
    Decides whether a WebSocket handshake may go ahead, by its C{Origin}.

    Guarantees: a handshake is accepted when it has no C{Origin} (not a
    page), when its C{Origin} is the page's own (same scheme, host and
    port as the C{Host} it was sent to, default ports as browsers leave
    them out) or one of C{allowed}; any other, C{null} and malformed ones
    included, is refused with one line saying why.
    """

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed = frozenset(check_origin(origin) for origin in allowed)

    def refusal(self, origin: str | None, host: str | None, secure: bool) -> str | None:
        """None if a handshake with these headers may go ahead; else why not."""
        if origin is None:
            return None
        given = normal_origin(origin)
        if given is not None and (
            given == page_origin(host, secure) or given in self.allowed
        ):
            return None
        shown = origin if len(origin) <= 100 else origin[:100] + "..."
        return (
            f"Refused: the chat's WebSocket is for its own page, "
            f"not one from {shown!r} (the operator may allow it: --web-origin)."
        )
