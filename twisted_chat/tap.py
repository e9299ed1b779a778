"""
C{twistd chat}: the command-line options and the service they describe.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Sequence
from typing import ClassVar

from twisted.application.service import IService, Service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import (
    IListeningPort,
    IReactorCore,
    IReactorTime,
    IStreamServerEndpoint,
)
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.failure import Failure

from twisted_chat import text
from twisted_chat.room import Room
from twisted_chat.server import ChatFactory, Limits

log = Logger()

DEFAULT_PORT = "tcp:5000"
#: How long shutdown waits for queued output to reach clients.
SHUTDOWN_GRACE_SECONDS = 5.0


def endpoint_description(value: str) -> str:
    """A bare port number means TCP on all interfaces; anything else is as given."""
    return f"tcp:{value}" if value.isdigit() else value


def _reactor() -> IReactorCore:
    from twisted.internet import reactor

    return reactor


def _count(option: str) -> Callable[[str], int]:
    """A coercer for a whole-number option that names the option when it refuses."""

    def coerce(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = -1
        if number < 0:
            raise ValueError(
                f"--{option} takes a whole number, 0 or more, not {value!r}"
            )
        return number

    coerce.coerceDoc = "A whole number, 0 or more."  # type: ignore[attr-defined]
    return coerce


class Options(usage.Options):
    """
    Options of C{twistd chat}.

    Guarantees: a bad value stops start-up with one line on stderr naming
    it, and exit status 1, instead of twistd's full usage text.
    """

    synopsis = "[options]"
    longdesc = (
        "A line chat for telnet, nc and the twisted_chat client: every line a "
        "person types reaches everyone else in the room."
    )
    optParameters: ClassVar[list[list[object]]] = [
        [
            "server-name",
            None,
            socket.gethostname(),
            "The name the greeting shows.",
        ],
        [
            "max-line-length",
            None,
            Limits.max_line_length,
            "Longest line accepted, in bytes; longer lines are refused.",
            _count("max-line-length"),
        ],
        [
            "max-queue",
            None,
            Limits.max_queue,
            "Bytes of output queued for one client before it is dropped (0: no cap).",
            _count("max-queue"),
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["port"] = []

    def opt_port(self, value: str) -> None:
        """
        Where to listen: a port number or a Twisted endpoint description
        (tcp:5000:interface=127.0.0.1, tcp6:5000, unix:/path/chat.sock,
        ssl:..., systemd:...). Repeat to listen on several. [default: tcp:5000]
        """
        description = endpoint_description(value)
        try:
            serverFromString(_reactor(), description)
        except Exception as error:
            raise usage.UsageError(f"invalid --port {value!r}: {error}") from None
        self["port"].append(description)

    opt_p = opt_port

    def postOptions(self) -> None:
        if not self["port"]:
            self["port"] = [DEFAULT_PORT]
        if self["max-line-length"] < 1:
            raise usage.UsageError("--max-line-length must be at least 1")

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        try:
            super().parseOptions(options)
        except usage.UsageError as error:
            reason = str(error).removeprefix("Parameter type enforcement failed: ")
            sys.stderr.write(f"twistd chat: {reason}\n")
            raise SystemExit(1) from None


class ChatService(Service):
    """
    The listening ports and the room behind them.

    Guarantees on start: every endpoint listens, or start-up stops with one
    line naming the endpoint and the reason (exit status 1). On stop: ports
    close first, then every client is told C{* server shutting down}, and
    stopping waits until their queued output has been written or
    L{SHUTDOWN_GRACE_SECONDS} have passed.
    """

    def __init__(
        self,
        factory: ChatFactory,
        endpoints: Sequence[tuple[str, IStreamServerEndpoint]],
        clock: IReactorTime | None = None,
    ) -> None:
        self.factory = factory
        self.endpoints = list(endpoints)
        self.ports: list[IListeningPort] = []
        self._clock = clock

    def privilegedStartService(self) -> None:
        # Listening here, before twistd drops privileges, allows ports < 1024.
        super().privilegedStartService()
        for description, endpoint in self.endpoints:
            failures: list[Failure] = []
            listening = endpoint.listen(self.factory)
            listening.addCallbacks(self._listening, failures.append, (description,))
            if failures:
                reason = failures[0].getErrorMessage()
                log.critical(
                    "cannot listen on {endpoint}: {reason}",
                    endpoint=description,
                    reason=reason,
                )
                # twistd has swapped sys.stderr for its log by now.
                assert sys.__stderr__ is not None
                sys.__stderr__.write(
                    f"twistd chat: cannot listen on {description}: {reason}\n"
                )
                raise SystemExit(1)

    def _listening(self, port: IListeningPort, description: str) -> None:
        self.ports.append(port)
        address = port.getHost()
        log.info(
            "listening on {endpoint} ({address})",
            endpoint=description,
            address=getattr(address, "port", None) or getattr(address, "name", ""),
        )

    def startService(self) -> None:
        if not self.ports:
            self.privilegedStartService()
        super().startService()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        ports, self.ports = self.ports, []
        stopped = defer.gatherResults(
            [defer.maybeDeferred(port.stopListening) for port in ports]
        )
        stopped.addCallback(lambda _: self._say_goodbye())
        return stopped  # type: ignore[return-value]

    def _say_goodbye(self) -> defer.Deferred[None] | None:
        room = self.factory.room
        members = room.members
        if not members:
            return None
        log.info("shutting down: closing {count} connections", count=len(members))
        all_gone = self.factory.wait_until_empty()
        room.broadcast(text.NOTICE.encode(text="server shutting down"))
        for member in members:
            member.close()
        clock = self._clock if self._clock is not None else _reactor()
        all_gone.addTimeout(SHUTDOWN_GRACE_SECONDS, clock)  # type: ignore[arg-type]
        all_gone.addErrback(lambda failure: failure.trap(defer.TimeoutError))
        return all_gone


def makeService(options: Options) -> IService:
    """Build the service for C{twistd chat} from parsed L{Options}."""
    limits = Limits(
        max_line_length=options["max-line-length"],
        max_queue=options["max-queue"],
    )
    factory = ChatFactory(Room(server_name=options["server-name"]), limits)
    reactor = _reactor()
    endpoints = [
        (description, serverFromString(reactor, description))
        for description in options["port"]
    ]
    return ChatService(factory, endpoints)
