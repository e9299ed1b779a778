"""
The check a linked daemon makes before it starts: is its node name free on
this Redis? Made with a plain blocking socket (the reactor is not running
yet), so that a second daemon with the same name stops at once, with one
line, instead of running beside the first.
"""

from __future__ import annotations

import socket
import ssl

from twisted_chat.backplane.address import RedisAddress
from twisted_chat.backplane.resp import Arg, RedisError, ReplyParser, encode_command

#: Seconds to wait for Redis at start-up; past them, the daemon starts
#: unlinked and keeps trying in the background.
TIMEOUT = 3.0


class NodeTaken(Exception):
    """Another daemon runs under this node name; the message says so."""


def claim_node(
    address: RedisAddress,
    prefix: str,
    node: str,
    instance: str,
    expiry: float,
    timeout: float = TIMEOUT,
) -> None:
    """
    Hold C{node} for C{instance} on the Redis at C{address} for C{expiry}
    seconds (the running daemon's heartbeat keeps it).

    @raise NodeTaken: a live daemon holds C{node}.
    @raise OSError: Redis cannot be reached or refused the handshake (the
        message is one line, the password never in it).
    """
    commands: list[list[Arg]] = []
    if address.password is not None:
        user = [address.username] if address.username else []
        commands.append([b"AUTH", *user, address.password])
    if address.db:
        commands.append([b"SELECT", address.db])
    key = f"{prefix}node:{node}"
    milliseconds = max(int(expiry * 1000), 1)
    commands.append([b"SET", key, instance, b"NX", b"PX", milliseconds])
    commands.append([b"GET", key])
    with socket.create_connection((address.host, address.port), timeout) as raw:
        raw.settimeout(timeout)
        sock: socket.socket = raw
        if address.tls:
            sock = ssl.create_default_context().wrap_socket(
                raw, server_hostname=address.host
            )
        sock.sendall(b"".join(encode_command(c) for c in commands))
        parser = ReplyParser()
        replies: list[object] = []
        while len(replies) < len(commands):
            data = sock.recv(65536)
            if not data:
                raise OSError("Redis closed the connection")
            replies.extend(parser.feed(data))
    for reply in replies:
        if isinstance(reply, RedisError):
            raise OSError(f"Redis refused: {reply}")
    if replies[-1] != instance.encode():
        raise NodeTaken(
            f"another daemon is linked as node {node!r} through {address}; "
            "give each daemon its own --node-name (one that was killed "
            f"frees its name within {expiry:g} s)"
        )
