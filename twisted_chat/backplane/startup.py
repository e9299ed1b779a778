"""
The check a linked daemon makes before it starts: is its node name free on
this Redis? Made with a plain blocking socket (the reactor is not running
yet), so that a second daemon with the same name stops at once, with one
line, instead of running beside the first.
"""

from __future__ import annotations

import os
import socket
import ssl
import uuid

from twisted_chat.backplane.address import RedisAddress
from twisted_chat.backplane.resp import Arg, RedisError, ReplyParser, encode_command

#: Seconds to wait for Redis at start-up; past them, the daemon starts
#: unlinked and keeps trying in the background.
TIMEOUT = 3.0


class NodeTaken(Exception):
    """Another daemon runs under this node name; the message says so."""


class RedisRefused(Exception):
    """Redis refused the handshake (a wrong password, a database it lacks)."""


def instance_token() -> str:
    """
    What names this run of the daemon: its host, its PID and a random part,
    so a daemon can tell its own dead predecessor (same host, PID gone)
    from a live twin.
    """
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"


def _dead_predecessor(holder: str) -> bool:
    host, _, rest = holder.partition(":")
    pid, _, _ = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


# KEYS: the node's key. ARGV: our token, the stale token we may replace
# (or ""), the expiry in ms. 1 if the node is ours now.
_TAKE = b"""
local holder = redis.call('GET', KEYS[1])
if (not holder) or holder == ARGV[2] or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  return 1
end
return 0
"""


class _Blocking:
    """Commands over one plain socket, each round trip answered in full."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._parser = ReplyParser()
        self._replies: list[object] = []

    def ask(self, commands: list[list[Arg]]) -> list[object]:
        self._sock.sendall(b"".join(encode_command(c) for c in commands))
        while len(self._replies) < len(commands):
            data = self._sock.recv(65536)
            if not data:
                raise OSError("Redis closed the connection")
            self._replies.extend(self._parser.feed(data))
        replies, self._replies = self._replies[: len(commands)], []
        return replies


def claim_node(
    address: RedisAddress,
    prefix: str,
    node: str,
    instance: str,
    expiry: float,
    timeout: float = TIMEOUT,
) -> None:
    """
    Hold C{node} for C{instance} (an L{instance_token}) on the Redis at
    C{address} for C{expiry} seconds (the running daemon's heartbeat keeps
    it). A holder that is a daemon of this host whose PID is gone (killed,
    or failed to start) is replaced.

    @raise NodeTaken: a live daemon holds C{node}.
    @raise RedisRefused: Redis refused the handshake (one line).
    @raise OSError: Redis cannot be reached (the message is one line, the
        password never in it).
    """
    handshake: list[list[Arg]] = []
    if address.password is not None:
        user = [address.username] if address.username else []
        handshake.append([b"AUTH", *user, address.password])
    if address.db:
        handshake.append([b"SELECT", address.db])
    key = f"{prefix}node:{node}"
    milliseconds = max(int(expiry * 1000), 1)
    with socket.create_connection((address.host, address.port), timeout) as raw:
        raw.settimeout(timeout)
        sock: socket.socket = raw
        if address.tls:
            sock = ssl.create_default_context().wrap_socket(
                raw, server_hostname=address.host
            )
        redis = _Blocking(sock)
        replies = redis.ask([*handshake, [b"GET", key]])
        for reply in replies[:-1]:
            if isinstance(reply, RedisError):
                raise RedisRefused(f"redis at {address} refused the handshake: {reply}")
        holder = replies[-1]
        stale = ""
        if isinstance(holder, bytes) and _dead_predecessor(holder.decode()):
            stale = holder.decode()
        (taken,) = redis.ask([[b"EVAL", _TAKE, 1, key, instance, stale, milliseconds]])
    if isinstance(taken, RedisError):
        raise RedisRefused(f"redis at {address} refused: {taken}")
    if taken != 1:
        raise NodeTaken(
            f"another daemon is linked as node {node!r} through {address}; "
            "give each daemon its own --node-name (one that was killed on "
            f"another machine frees its name within {expiry:g} s)"
        )
