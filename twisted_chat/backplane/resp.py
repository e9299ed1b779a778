"""
RESP2, the Redis wire format: commands encoded, replies parsed incrementally.

The parser is bounded. A reply larger than C{max_reply_bytes}, arrays nested
deeper than C{max_depth}, a line longer than L{MAX_LINE_BYTES} or anything
that is not RESP2 raise L{ProtocolError}; the parser never buffers more than
one reply's worth of bytes (plus the last read), and refuses a declared length
beyond the cap before its bytes arrive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeAlias

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_REPLY_BYTES",
    "MAX_LINE_BYTES",
    "Arg",
    "ProtocolError",
    "RedisError",
    "Reply",
    "ReplyParser",
    "encode_command",
]

#: A reply or pushed message larger than this closes the connection. Redis
#: itself drops a subscriber whose output buffer passes 32 MiB; a backplane
#: message (a batch of chat lines) is a few KiB.
DEFAULT_MAX_REPLY_BYTES = 4 * 1024 * 1024
#: Arrays within arrays: a message is 1 deep; EVAL may return a few more.
DEFAULT_MAX_DEPTH = 8
#: A status, error or integer line; headers ($, *) are far shorter.
MAX_LINE_BYTES = 64 * 1024

_INTEGER = re.compile(rb"-?[0-9]{1,19}")


class RedisError(Exception):
    """An error reply from Redis (C{-ERR ...}, C{-WRONGPASS ...})."""


class ProtocolError(Exception):
    """The peer sent something that is not a RESP2 reply within our bounds."""


#: A parsed reply: simple strings are C{str}, bulk strings C{bytes}, nulls
#: C{None}; an error inside an array is a L{RedisError} value.
Reply: TypeAlias = "bytes | int | str | RedisError | list[Reply] | None"
#: What a command may be made of; C{str} is sent as UTF-8, C{int} in decimal.
Arg: TypeAlias = "bytes | str | int"


def _encode_arg(arg: Arg) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode("utf-8")
    if isinstance(arg, int) and not isinstance(arg, bool):
        return b"%d" % arg
    raise TypeError(f"a Redis argument is bytes, str or int, not {type(arg).__name__}")


def encode_command(args: Sequence[Arg]) -> bytes:
    """One command as a RESP2 array of bulk strings."""
    if not args:
        raise ValueError("a command needs at least its name")
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = _encode_arg(arg)
        parts += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(parts)


class ReplyParser:
    """
    Feed it bytes as they arrive; it returns every reply they complete.

    After a L{ProtocolError} the parser is spent: the connection must close.
    """

    def __init__(
        self,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        self.max_reply_bytes = max_reply_bytes
        self.max_depth = max_depth
        self._buffer = bytearray()
        # Don't parse again until the buffer holds this many bytes: a large
        # bulk string arriving in many reads is looked at once, not per read.
        self._need = 0
        self._broken: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held of a reply not yet complete."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Reply]:
        """The replies completed by C{data}, in order; raises L{ProtocolError}."""
        if self._broken is not None:
            raise self._broken
        buffer = self._buffer
        buffer += data
        replies: list[Reply] = []
        pos = 0
        try:
            if len(buffer) >= self._need:
                while pos < len(buffer):
                    parsed = self._value(pos, 0, pos)
                    if parsed is None:
                        break
                    value, end = parsed
                    replies.append(value)
                    pos = end
                else:
                    self._need = 0
            if len(buffer) - pos > self.max_reply_bytes:
                raise ProtocolError(
                    f"a reply over {self.max_reply_bytes} bytes (the limit)"
                )
        except ProtocolError as error:
            self._broken = error
            self._buffer = bytearray()
            raise
        if pos:
            del buffer[:pos]
            self._need = max(0, self._need - pos)
        return replies

    def _line(self, pos: int) -> int | None:
        """The index of the CR ending the line at C{pos}, None if incomplete."""
        buffer = self._buffer
        end = buffer.find(b"\r\n", pos, pos + MAX_LINE_BYTES + 2)
        if end >= 0:
            return end
        if len(buffer) - pos > MAX_LINE_BYTES:
            raise ProtocolError(f"a line over {MAX_LINE_BYTES} bytes")
        self._need = len(buffer) + 1
        return None

    def _integer(self, pos: int, end: int) -> int:
        text = bytes(self._buffer[pos:end])
        if not _INTEGER.fullmatch(text):
            raise ProtocolError(f"not an integer: {text[:40]!r}")
        return int(text)

    def _value(self, pos: int, depth: int, start: int) -> tuple[Reply, int] | None:
        """The value at C{pos} and the index after it, None if incomplete."""
        buffer = self._buffer
        end = self._line(pos)
        if end is None:
            return None
        kind = buffer[pos]
        after = end + 2
        if kind == 0x24:  # $ bulk string
            length = self._integer(pos + 1, end)
            if length == -1:
                return None, after
            if length < 0 or length > self.max_reply_bytes:
                raise ProtocolError(f"a bulk string of {length} bytes refused")
            stop = after + length
            if stop + 2 - start > self.max_reply_bytes:
                raise ProtocolError(
                    f"a reply over {self.max_reply_bytes} bytes (the limit)"
                )
            if len(buffer) < stop + 2:
                self._need = stop + 2
                return None
            if buffer[stop : stop + 2] != b"\r\n":
                raise ProtocolError("a bulk string not ended by CRLF")
            return bytes(buffer[after:stop]), stop + 2
        if kind == 0x2A:  # * array
            count = self._integer(pos + 1, end)
            if count == -1:
                return None, after
            if depth >= self.max_depth:
                raise ProtocolError(f"arrays nested over {self.max_depth} deep")
            # Every element takes at least 3 bytes ("+\r\n").
            if count < 0 or 3 * count > self.max_reply_bytes:
                raise ProtocolError(f"an array of {count} elements refused")
            items: list[Reply] = []
            for _ in range(count):
                parsed = self._value(after, depth + 1, start)
                if parsed is None:
                    return None
                item, after = parsed
                items.append(item)
            if after - start > self.max_reply_bytes:
                raise ProtocolError(
                    f"a reply over {self.max_reply_bytes} bytes (the limit)"
                )
            return items, after
        if kind == 0x3A:  # : integer
            return self._integer(pos + 1, end), after
        if kind == 0x2B:  # + simple string
            return buffer[pos + 1 : end].decode("utf-8", "replace"), after
        if kind == 0x2D:  # - error
            return RedisError(buffer[pos + 1 : end].decode("utf-8", "replace")), after
        raise ProtocolError(f"not a RESP2 type byte: {bytes([kind])!r}")
