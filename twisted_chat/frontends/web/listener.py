"""
The web front end as the daemon starts it: one C{--web} endpoint and the
site behind it, with a log line saying where to open the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IStreamServerEndpoint,
)
from twisted.logger import Logger
from zope.interface import implementer

from twisted_chat.frontends.web.origin import OriginPolicy
from twisted_chat.frontends.web.protocol import WebChatFactory
from twisted_chat.frontends.web.resource import build_site
from twisted_chat.session.services import Services

log = Logger()


def page_address(description: str, port: IListeningPort) -> str:
    """Where a browser opens the page served on C{port}: C{http://host:port/}."""
    address = port.getHost()
    host = getattr(address, "host", None) or "localhost"
    if host in ("0.0.0.0", "::", ""):
        # All interfaces: this machine's own name serves on the LAN.
        host = "localhost"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if description.startswith("ssl:") else "http"
    number = getattr(address, "port", None)
    return f"{scheme}://{host}:{number}/" if number else f"{scheme}://{host}/"


@implementer(IStreamServerEndpoint)
class PageEndpoint:
    """C{endpoint}, logging where the page is once it listens."""

    def __init__(self, description: str, endpoint: IStreamServerEndpoint) -> None:
        self._description = description
        self._endpoint = endpoint

    def listen(self, protocolFactory: IProtocolFactory) -> Deferred[IListeningPort]:
        listening: Deferred[IListeningPort] = self._endpoint.listen(protocolFactory)

        def tell(port: IListeningPort) -> IListeningPort:
            log.info(
                "chat page at {address} (WebSocket at /ws)",
                address=page_address(self._description, port),
            )
            return port

        listening.addCallback(tell)
        return listening


def web_listener(
    reactor: object, services: Services, settings: Mapping[str, Any]
) -> tuple[str, IStreamServerEndpoint, IProtocolFactory]:
    """
    The C{--web} listener for the daemon's sessions: the endpoint's
    description, the endpoint, and the site to listen with.
    """
    description: str = settings["web"]
    chat = WebChatFactory(services)
    site = build_site(chat, OriginPolicy(settings["web-origins"]))
    endpoint = PageEndpoint(description, serverFromString(reactor, description))
    return description, endpoint, site
