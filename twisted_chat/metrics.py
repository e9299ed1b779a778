"""
Prometheus metrics at C{/metrics}, read at scrape time from the plain
counters the factory and the room keep, so the fan-out pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from twisted_chat.server import ChatFactory


class ChatCollector(Collector):
    """The chat's numbers, as Prometheus metric families."""

    def __init__(self, factory: ChatFactory) -> None:
        self.factory = factory

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        factory, room = self.factory, self.factory.room
        yield GaugeMetricFamily(
            "chat_clients_connected",
            "Clients connected now.",
            value=len(factory.connections),
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


class MetricsPage(Resource):
    """C{/metrics}: the registry in Prometheus' text format."""

    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self.registry = registry

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode("ascii"))
        return generate_latest(self.registry)


def metrics_site(factory: ChatFactory) -> Site:
    """An HTTP site serving the chat's metrics at /metrics."""
    registry = CollectorRegistry()
    registry.register(ChatCollector(factory))
    root = Resource()
    root.putChild(b"metrics", MetricsPage(registry))
    return Site(root)
