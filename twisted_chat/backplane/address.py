"""
Where Redis is: C{redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]}, or
C{rediss://...} for TLS.

The password is kept out of every C{repr}, C{str} and refusal, so a log line
or a traceback that shows an address never shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

__all__ = ["DEFAULT_PORT", "RedisAddress", "RedisURLError", "parse_redis_url"]

DEFAULT_PORT = 6379


class RedisURLError(ValueError):
    """A Redis URL we cannot use; the message is one line, without the URL."""


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """A parsed Redis URL."""

    host: str
    port: int = DEFAULT_PORT
    db: int = 0
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        host = f"[{self.host}]" if ":" in self.host else self.host
        secret = "***@" if self.password is not None else ""
        user = self.username or ""
        who = f"{user}:{secret}" if secret else ""
        return f"{scheme}://{who}{host}:{self.port}/{self.db}"

    def __repr__(self) -> str:
        return f"RedisAddress({str(self)!r})"


def parse_redis_url(url: str) -> RedisAddress:
    """The L{RedisAddress} of C{url}; raises L{RedisURLError} if it is not one."""
    if any(c.isspace() or not c.isprintable() for c in url):
        raise RedisURLError("bad Redis URL: it holds spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise RedisURLError("bad Redis URL: it cannot be parsed") from None
    if parts.scheme not in ("redis", "rediss"):
        raise RedisURLError(
            "bad Redis URL: it must start with redis:// or rediss:// (TLS)"
        )
    if parts.query or parts.fragment:
        raise RedisURLError("bad Redis URL: no ?query or #fragment is understood")
    if not parts.hostname:
        raise RedisURLError("bad Redis URL: it names no host")
    try:
        port = parts.port
    except ValueError:
        raise RedisURLError("bad Redis URL: the port must be 1 to 65535") from None
    if port == 0:
        raise RedisURLError("bad Redis URL: the port must be 1 to 65535")
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if path == "":
        db = 0
    elif path.isascii() and path.isdigit() and len(path) <= 5:
        db = int(path)
    else:
        raise RedisURLError("bad Redis URL: the database after / must be a number")
    password: str | None = None
    username: str | None = None
    if "@" in parts.netloc:
        if parts.password is None:
            raise RedisURLError(
                "bad Redis URL: a password follows a colon (redis://:PASSWORD@HOST)"
            )
        password = unquote(parts.password)
        if not password:
            raise RedisURLError("bad Redis URL: the password after the colon is empty")
        username = unquote(parts.username) if parts.username else None
    return RedisAddress(
        host=parts.hostname,
        port=port if port is not None else DEFAULT_PORT,
        db=db,
        tls=parts.scheme == "rediss",
        username=username,
        password=password,
    )
