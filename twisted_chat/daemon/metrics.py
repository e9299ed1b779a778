"""
Prometheus metrics at C{/metrics}, read at scrape time from the plain
counters the sessions and the hub keep, so the fan-out pays nothing for them.

The endpoint shares the daemon's descriptors and log with the chat, so it is
kept from costing the chat anything (L{ScrapeGuard}): at most
L{MAX_SCRAPERS} connections at once (more are closed at once), none in the
chat's descriptor headroom, each closed when idle for L{IDLE_SECONDS} or
open for L{SCRAPE_SECONDS}; and scrapes are not logged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from twisted_chat.backplane.bridge import LinkedChat
from twisted_chat.session.services import Services

#: Metrics connections open at once; a scraper needs one, a storm gets no more.
MAX_SCRAPERS = 16
#: A metrics connection that sends nothing for this long is closed.
IDLE_SECONDS = 5.0
#: A metrics connection is closed this long after it opened, whatever it does.
SCRAPE_SECONDS = 10.0


class ChatCollector(Collector):
    """The chat's numbers, as Prometheus metric families."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        factory, room = self.services, self.services.hub
        yield GaugeMetricFamily(
            "chat_clients_connected",
            "Clients connected now.",
            value=len(factory.admission),
        )
        yield CounterMetricFamily(
            "chat_lines_received",
            "Lines received from clients.",
            value=factory.lines_received,
        )
        yield CounterMetricFamily(
            "chat_deliveries",
            "Lines relayed to clients, one per recipient.",
            value=room.deliveries,
        )
        yield CounterMetricFamily(
            "chat_bytes_out", "Bytes sent to clients by the room.", value=room.bytes_out
        )
        hits = CounterMetricFamily(
            "chat_limit_hits",
            "Times a limit refused something, by limit.",
            labels=["limit"],
        )
        for limit, count in sorted(factory.limit_hits.items()):
            hits.add_metric([limit], count)
        yield hits
        gone = CounterMetricFamily(
            "chat_disconnects", "Connections ended, by reason.", labels=["reason"]
        )
        for reason, count in sorted(factory.disconnects.items()):
            gone.add_metric([reason], count)
        yield gone
        yield GaugeMetricFamily(
            "chat_rooms", "Rooms that exist now.", value=len(room.rooms)
        )
        yield GaugeMetricFamily(
            "chat_history_lines",
            "Lines of history kept in memory, all rooms together.",
            value=room.history_budget.lines,
        )
        if isinstance(room.peers, LinkedChat):
            yield from _link_metrics(room.peers)
        if room.store is not None:
            yield CounterMetricFamily(
                "chat_history_write_failures",
                "Writes to the history database that were lost.",
                value=room.store.failures,
            )


def _link_metrics(
    chat: LinkedChat,
) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
    """The link with other daemons (--redis)."""
    arrivals = chat.arrivals
    yield GaugeMetricFamily(
        "chat_link_up", "1 while linked with the other daemons.", value=int(chat.up)
    )
    yield GaugeMetricFamily(
        "chat_link_daemons", "Other daemons heard lately.", value=len(arrivals.daemons)
    )
    yield GaugeMetricFamily(
        "chat_link_queue_messages",
        "Messages waiting to reach Redis (sent and unanswered, or held while "
        "the link is down).",
        value=chat.waiting,
    )
    for name, help_text, value in (
        ("chat_link_messages_published", "Messages Redis took.", chat.published),
        (
            "chat_link_lines_published",
            "Lines said here that Redis took.",
            chat.lines_published,
        ),
        (
            "chat_link_messages_received",
            "Messages taken from other daemons.",
            arrivals.received,
        ),
        (
            "chat_link_lines_received",
            "Lines said on other daemons.",
            arrivals.lines_received,
        ),
        (
            "chat_link_reconnects",
            "Times the link came back after going down.",
            chat.reconnects,
        ),
        (
            "chat_link_lines_dropped",
            "Lines said while the link was down too long, never sent.",
            chat.lines_dropped,
        ),
        (
            "chat_link_bad_messages",
            "Messages on the link that were not ours.",
            arrivals.bad,
        ),
        ("chat_link_gaps", "Messages of other daemons never taken.", arrivals.gaps),
    ):
        yield CounterMetricFamily(name, help_text, value=value)


class MetricsPage(Resource):
    """C{/metrics}: the registry in Prometheus' text format."""

    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self.registry = registry

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode("ascii"))
        return generate_latest(self.registry)


class QuietSite(Site):
    """A L{Site} with no access log: scrapes would fill the chat's log."""

    def log(self, request: http.Request) -> None:
        pass


def metrics_site(factory: Services) -> Site:
    """
    An HTTP site serving the chat's metrics at /metrics, logging nothing
    per request, with no idle timeout of its own (L{ScrapeGuard} has one
    that logs nothing either).
    """
    registry = CollectorRegistry()
    registry.register(ChatCollector(factory))
    root = Resource()
    root.putChild(b"metrics", MetricsPage(registry))
    return QuietSite(root, timeout=None)


class _Scrape(ProtocolWrapper):
    """One metrics connection, on a short leash (see L{ScrapeGuard})."""

    factory: ScrapeGuard

    def makeConnection(self, transport: Any) -> None:
        super().makeConnection(transport)
        clock = self.factory.clock
        self._idle: IDelayedCall = clock.callLater(
            IDLE_SECONDS, transport.loseConnection
        )
        self._deadline: IDelayedCall = clock.callLater(
            SCRAPE_SECONDS, transport.abortConnection
        )
        fileno = getattr(transport, "fileno", None)
        if fileno is not None and self.factory.in_headroom(fileno()):
            transport.abortConnection()

    def dataReceived(self, data: bytes) -> None:
        if self._idle.active():
            self._idle.reset(IDLE_SECONDS)
        super().dataReceived(data)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        for call in (self._idle, self._deadline):
            if call.active():
                call.cancel()
        super().connectionLost(reason)


class ScrapeGuard(WrappingFactory[_Scrape]):
    """
    Wraps the metrics site so that scrapers cannot cost the chat anything.

    Guarantees: at most L{MAX_SCRAPERS} metrics connections are open at
    once, and one more is closed as soon as it is accepted; a connection
    whose descriptor falls in the chat's L{DESCRIPTOR_HEADROOM} is closed
    at once (those descriptors are for the chat's own refusals); every
    connection is closed once it has sent nothing for L{IDLE_SECONDS}, and
    cut off L{SCRAPE_SECONDS} after it opened. None of this is logged.
    """

    protocol = _Scrape
    noisy = False

    def __init__(self, site: Site, chat: Services, clock: IReactorTime) -> None:
        super().__init__(site)
        self.chat = chat
        self.clock = clock

    def in_headroom(self, descriptor: int) -> bool:
        """Whether C{descriptor} is one the chat keeps for itself."""
        return self.chat.admission.in_headroom(descriptor)

    def buildProtocol(self, addr: IAddress | None) -> _Scrape | None:  # type: ignore[override]
        if len(self.protocols) >= MAX_SCRAPERS:
            return None  # the listening port closes the socket at once
        return super().buildProtocol(addr)


def metrics_factory(chat: Services, clock: IReactorTime) -> ScrapeGuard:
    """What the --metrics endpoint listens with: the guarded metrics site."""
    return ScrapeGuard(metrics_site(chat), chat, clock)
