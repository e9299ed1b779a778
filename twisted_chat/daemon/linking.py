"""
C{--redis}: the daemon linked with the others through Redis.

L{linking_from} checks the node name (a second daemon under the same name
stops with one line) and builds the link, the bus and the hub's
L{LinkedChat}; L{Linking} starts and stops them with the daemon.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from twisted_chat.backplane.address import parse_redis_url
from twisted_chat.backplane.bridge import LinkedChat
from twisted_chat.backplane.link import RedisLink
from twisted_chat.backplane.redis import RedisBus
from twisted_chat.backplane.startup import (
    NodeTaken,
    RedisRefused,
    claim_node,
    instance_token,
)
from twisted_chat.backplane.store import SharedStore
from twisted_chat.core.hub import Hub
from twisted_chat.session.services import Services

log = Logger()

#: Every key this daemon uses in Redis starts so.
PREFIX = "twisted_chat:"
#: Replies from Redis may be this big (a snapshot of history, a stream read).
MAX_REPLY_BYTES = 256 * 1024 * 1024
#: At shutdown, how long the last messages may take to reach Redis.
STOP_SECONDS = 2.0
#: The read throttle's key for what waits to go to Redis.
BACKLOG = "redis link"
#: The longest wait between two tries to reach Redis: the link is back
#: within this of Redis, well inside the replay window (10 s).
RECONNECT_MAX_SECONDS = 2.0


class Linking:
    """The link, started and stopped with the daemon."""

    def __init__(self, chat: LinkedChat, link: RedisLink, bus: RedisBus) -> None:
        self.chat = chat
        self.link = link
        self.bus = bus

    def start(self) -> None:
        self.link.start()
        self.chat.start()

    def stop(self) -> defer.Deferred[None]:
        """Send what waits (for at most L{STOP_SECONDS}), then close the link."""
        chat, clock = self.chat, self.link.clock
        chat.stop()
        drained: defer.Deferred[None] = defer.Deferred()
        deadline = clock.seconds() + STOP_SECONDS

        def check() -> None:
            if not chat.waiting or not chat.up or clock.seconds() >= deadline:
                drained.callback(None)
            else:
                clock.callLater(0.02, check)

        check()
        drained.addCallback(lambda _: self.bus.part(chat.node, chat.instance))
        return drained.addCallback(lambda _: self.bus.close())


def linking_from(
    settings: Mapping[str, Any],
    hub: Hub,
    store: SharedStore,
    services: Services,
    reactor: IReactorTime,
) -> Linking:
    """
    The link the settings ask for, on C{hub}.

    @raise SystemExit: with one line, when another daemon runs under this
        node name on the same Redis.
    """
    address = parse_redis_url(settings["redis"])
    node = settings["node-name"]
    expiry = settings["claim-expiry"]
    instance = instance_token()
    try:
        claim_node(address, PREFIX, node, instance, expiry)
    except (NodeTaken, RedisRefused) as error:
        raise SystemExit(f"twistd chat: {error}") from None
    except OSError:
        # Not reachable now: the link says so (one line) and keeps trying.
        pass
    link = RedisLink(
        reactor,
        address,
        max_reply_bytes=MAX_REPLY_BYTES,
        max_delay=RECONNECT_MAX_SECONDS,
    )
    bus = RedisBus(link, PREFIX)
    chat = LinkedChat(hub, bus, node, reactor, expiry, instance=instance)
    store.forward = chat.save_record
    services.throttle.never_stuck.add(BACKLOG)
    chat.outbox.on_backlog = lambda waiting, moved: services.throttle.queued(
        BACKLOG, waiting, moved
    )
    log.info(
        "linking as node {node} through {address}", node=node, address=str(address)
    )
    return Linking(chat, link, bus)
