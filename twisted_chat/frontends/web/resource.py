"""
The web site of C{--web}: the page and its files, and the WebSocket.

Guarantees: the site serves exactly the files of L{PAGE_FILES}, read from
the package once at start-up (no directory listing, no path from a request
reaches the file system), and the WebSocket at C{/ws}; every answer,
errors included, carries L{SECURITY_HEADERS} and a Content-Security-Policy
that allows scripts and styles from the page's own origin only (no inline
script or style, nothing remote) and connections to its own WebSocket; a
WebSocket handshake from another page's origin is refused (403) before
anything of the chat is built for it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from twisted.logger import LogLevel
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import Request, Site
from twisted.web.websocket import WebSocketResource

from twisted_chat.frontends.line.protocol import describe_peer
from twisted_chat.frontends.web.origin import OriginPolicy
from twisted_chat.frontends.web.protocol import WebChatFactory

#: HTTP 426: what a request for the WebSocket that is no upgrade gets.
UPGRADE_REQUIRED = 426
_REASONS = {UPGRADE_REQUIRED: b"Upgrade Required"}

#: What the page is made of: path, file in C{static/}, content type.
PAGE_FILES = (
    (b"", "index.html", "text/html; charset=utf-8"),
    (b"index.html", "index.html", "text/html; charset=utf-8"),
    (b"chat.js", "chat.js", "text/javascript; charset=utf-8"),
    (b"view.js", "view.js", "text/javascript; charset=utf-8"),
    (b"colours.js", "colours.js", "text/javascript; charset=utf-8"),
    (b"chat.css", "chat.css", "text/css; charset=utf-8"),
    (b"favicon.svg", "favicon.svg", "image/svg+xml"),
)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    # The page is small and changes with the daemon: always revalidated
    # (an ETag makes that a 304).
    "Cache-Control": "no-cache",
}

#: A Host header fit to be named in the policy; any other gets 'self' only.
_PLAIN_HOST = re.compile(
    r"(?:[A-Za-z0-9.\-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?"
)


def content_security_policy(host: str | None) -> str:
    """
    The page's policy: everything from its own origin only, no inline
    script or style, no frames, no forms, no plugins; WebSockets to its own
    host. (C{'self'} covers C{ws:} and C{wss:} of the same host in current
    browsers; the host is named too for older ones.)
    """
    connect = "'self'"
    if host is not None and _PLAIN_HOST.fullmatch(host):
        connect += f" ws://{host} wss://{host}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src 'self'; connect-src {connect}; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'; "
        # Chromium then refuses any string put where HTML or script goes
        # (innerHTML and the like): the page uses none, and this holds it.
        "require-trusted-types-for 'script'; trusted-types 'none'"
    )


def secure_headers(request: Request) -> None:
    """Set the headers every answer of the site carries."""
    for name, value in SECURITY_HEADERS.items():
        request.setHeader(name, value)
    request.setHeader(
        "Content-Security-Policy", content_security_policy(_host(request))
    )


def _host(request: Request) -> str | None:
    host = request.getHeader("host")
    return host if isinstance(host, str) else None


@dataclass(frozen=True)
class PageFile:
    """One file of the page, in memory."""

    body: bytes
    content_type: str
    etag: bytes


def read_page_files() -> dict[bytes, PageFile]:
    """The page's files from the package (L{PAGE_FILES}), by path."""
    static = resources.files("twisted_chat.frontends.web").joinpath("static")
    files = {}
    for path, name, content_type in PAGE_FILES:
        body = static.joinpath(name).read_bytes()
        etag = b'"' + hashlib.sha256(body).hexdigest()[:20].encode() + b'"'
        files[path] = PageFile(body, content_type, etag)
    return files


class PageResource(Resource):
    """One file of the page, served from memory."""

    isLeaf = True

    def __init__(self, page_file: PageFile) -> None:
        super().__init__()
        self._file = page_file

    def render_GET(self, request: Request) -> bytes:
        secure_headers(request)
        request.setHeader("Content-Type", self._file.content_type)
        if request.setETag(self._file.etag) == http.CACHED:
            return b""
        return self._file.body


class NotFound(Resource):
    """Anything but the page's files and the WebSocket."""

    isLeaf = True

    def render(self, request: Request) -> bytes:
        secure_headers(request)
        request.setResponseCode(http.NOT_FOUND)
        request.setHeader("Content-Type", "text/plain; charset=utf-8")
        return b"Not found: the chat page is at /\n"


class ChatSocketResource(WebSocketResource):
    """
    The WebSocket at C{/ws}, behind the C{Origin} check: a handshake from a
    page of another origin gets 403 and one line; a plain request (no
    upgrade) gets 426 and one line, never Twisted's logged error.
    """

    isLeaf = True

    def __init__(self, factory: WebChatFactory, policy: OriginPolicy) -> None:
        super().__init__(factory)
        self._chat = factory
        self._policy = policy

    def render_GET(self, request: Request) -> bytes | int:
        secure_headers(request)
        upgrade = request.getHeader("upgrade")
        if not isinstance(upgrade, str) or upgrade.lower() != "websocket":
            return _plain(
                request,
                UPGRADE_REQUIRED,
                "This is the chat's WebSocket; the page is at /",
            )
        origin = request.getHeader("origin")
        refusal = self._policy.refusal(
            origin if isinstance(origin, str) else None,
            _host(request),
            request.isSecure(),
        )
        if refusal is not None:
            services = self._chat.services
            peer, address = describe_peer(request.channel.transport)
            services.limit_hits["origin"] += 1
            services.limit_log.hit(
                services.admission.refusals_logged(address),
                "origin",
                "{peer} refused: a WebSocket from the page of {origin}",
                LogLevel.warn,
                peer=peer,
                origin=origin,
            )
            return _plain(request, http.FORBIDDEN, refusal)
        return super().render_GET(request)

    def render_HEAD(self, request: Request) -> bytes:
        secure_headers(request)
        request.setResponseCode(UPGRADE_REQUIRED)
        return b""


def _plain(request: Request, code: int, line: str) -> bytes:
    request.setResponseCode(code, _REASONS.get(code))
    request.setHeader("Content-Type", "text/plain; charset=utf-8")
    return line.encode("utf-8") + b"\n"


class PageRoot(Resource):
    """C{/} and the page's files, C{/ws}, and 404 for anything else."""

    def __init__(self, files: dict[bytes, PageFile], socket: Resource) -> None:
        super().__init__()
        self._pages = {path: PageResource(page) for path, page in files.items()}
        self._socket = socket
        self._not_found = NotFound()

    def getChild(self, path: bytes, request: Request) -> Resource:
        if path == b"ws" and not request.postpath:
            return self._socket
        page = self._pages.get(path)
        if page is not None and not request.postpath:
            return page
        return self._not_found

    def render_GET(self, request: Request) -> bytes:
        # "/" itself, when Twisted asks the root rather than a child.
        return self._pages[b""].render_GET(request)


#: How long an HTTP connection may sit idle between requests (a WebSocket,
#: once open, is the session's business: its idle timeout and pings).
HTTP_IDLE_SECONDS = 60


class ChatSite(Site):
    """
    The site: the page and the WebSocket (L{build_site}).

    When its port stops listening (the daemon is stopping), every WebSocket
    closes as going away, so pages reconnect by themselves; requests are
    not logged one by one (sessions log their connections).
    """

    def __init__(self, root: Resource, chat: WebChatFactory) -> None:
        super().__init__(root, timeout=HTTP_IDLE_SECONDS)
        self.chat = chat

    def stopFactory(self) -> None:
        self.chat.stopping = True
        super().stopFactory()

    def log(self, request: http.Request) -> None:
        pass


def build_site(chat: WebChatFactory, policy: OriginPolicy) -> ChatSite:
    """The site of C{--web} for C{chat}'s sessions."""
    socket = ChatSocketResource(chat, policy)
    return ChatSite(PageRoot(read_page_files(), socket), chat)
