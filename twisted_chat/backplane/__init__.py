"""
The backplane links several daemons, so that a room spans all of them.

So far it holds the Redis wire: L{twisted_chat.backplane.resp} (the RESP2
encoder and a bounded, incremental reply parser),
L{twisted_chat.backplane.address} (C{redis://} and C{rediss://} URLs) and
L{twisted_chat.backplane.link} (L{RedisLink}: a self-healing pair of
connections, one for commands, one for subscriptions). The backplane's own
interface, its in-memory twin and the Redis implementation of it come next.
"""

from __future__ import annotations

from twisted_chat.backplane.address import RedisAddress, RedisURLError, parse_redis_url
from twisted_chat.backplane.connection import LinkDown
from twisted_chat.backplane.link import RedisLink
from twisted_chat.backplane.resp import ProtocolError, RedisError, Reply

__all__ = [
    "LinkDown",
    "ProtocolError",
    "RedisAddress",
    "RedisError",
    "RedisLink",
    "RedisURLError",
    "Reply",
    "parse_redis_url",
]
