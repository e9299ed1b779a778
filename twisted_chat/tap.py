"""
C{twistd chat}: the command-line options and the service they describe.
"""

from __future__ import annotations

import resource
import socket
import sys
from collections.abc import Sequence
from typing import Any, ClassVar

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

#: Connections the kernel may complete before the daemon accepts them; the
#: usual 50 drops SYNs (a 1 s retry each) when hundreds join at once.
LISTEN_BACKLOG = 1024
DEFAULT_PORT = f"tcp:5000:backlog={LISTEN_BACKLOG}"
#: How long shutdown waits for queued output to reach clients.
SHUTDOWN_GRACE_SECONDS = 5.0


def endpoint_description(value: str) -> str:
    """
    A bare port number means TCP on all interfaces, with a listen backlog of
    L{LISTEN_BACKLOG}; anything else is as given.
    """
    return f"tcp:{value}:backlog={LISTEN_BACKLOG}" if value.isdigit() else value


def _reactor() -> IReactorCore:
    from twisted.internet import reactor

    return reactor


def _number(option: str, kind: type[int] | type[float], minimum: float = 0) -> Any:
    """A coercer for a numeric option that names the option when it refuses."""
    what = "a whole number" if kind is int else "a number"

    def coerce(value: str) -> int | float:
        try:
            number = kind(value)
        except ValueError:
            number = minimum - 1
        if not number >= minimum:  # also refuses NaN
            raise ValueError(
                f"--{option} takes {what}, {minimum:g} or more, not {value!r}"
            )
        return number

    coerce.coerceDoc = f"{what.capitalize()}, {minimum:g} or more."  # type: ignore[attr-defined]
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
        ["server-name", None, socket.gethostname(), "The name the greeting shows."],
        [
            "max-line-length",
            None,
            Limits.max_line_length,
            "Longest line accepted, in bytes; a longer one is refused with a notice.",
            _number("max-line-length", int, 1),
        ],
        [
            "rate",
            None,
            Limits.rate,
            "Lines per second one client may send (0: no flood control).",
            _number("rate", float),
        ],
        [
            "burst",
            None,
            Limits.burst,
            "Lines one client may send at once before --rate applies.",
            _number("burst", int, 1),
        ],
        [
            "flood-timeout",
            None,
            Limits.flood_timeout,
            "Seconds a client may flood without pause before it is disconnected.",
            _number("flood-timeout", float, 1),
        ],
        [
            "max-queue",
            None,
            Limits.max_queue,
            "Bytes of output queued for a client that does not read before it "
            "is disconnected (0: no cap).",
            _number("max-queue", int),
        ],
        [
            "max-clients",
            None,
            Limits.max_clients,
            "Connections in all (0: no limit).",
            _number("max-clients", int),
        ],
        [
            "max-per-ip",
            None,
            Limits.max_per_ip,
            "Connections from one IP address (0: no limit).",
            _number("max-per-ip", int),
        ],
        [
            "announce-limit",
            None,
            100,
            "Above this many people, joins and leaves are not announced "
            "(0: always announced).",
            _number("announce-limit", int),
        ],
        [
            "idle-timeout",
            None,
            Limits.idle_timeout,
            "Seconds a client may send nothing before it is disconnected (0: off).",
            _number("idle-timeout", float),
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["port"] = []

    def opt_port(self, value: str) -> None:
        """
        Where to listen: a port number (TCP on all interfaces, listen
        backlog 1024) or a Twisted endpoint description
        (tcp:5000:interface=127.0.0.1, tcp6:5000, unix:/path/chat.sock,
        ssl:..., systemd:...; add :backlog=N to a tcp one for many clients
        joining at once). Repeat to listen on several. [default: 5000]
        """
        description = endpoint_description(value)
        try:
            serverFromString(_reactor(), description)
        except Exception as error:
            raise usage.UsageError(f"invalid --port {value!r}: {error}") from None
        self["port"].append(description)

    # usage.Options shows a docstring as is; fold it into one paragraph.
    opt_port.__doc__ = " ".join((opt_port.__doc__ or "").split())
    opt_p = opt_port

    def postOptions(self) -> None:
        if not self["port"]:
            self["port"] = [DEFAULT_PORT]

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


def raise_descriptor_limit() -> None:
    """
    Raise the soft limit on open descriptors to the hard limit: each client
    is a descriptor, and the usual soft limit of 1024 would cap the room.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1024 * 1024  # Linux's usual ceiling (fs.nr_open)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError) as error:
            log.warn("could not raise the descriptor limit: {error}", error=error)
            return
    log.info("descriptor limit: {limit}", limit=hard)


def makeService(options: Options) -> IService:
    """Build the service for C{twistd chat} from parsed L{Options}."""
    raise_descriptor_limit()
    limits = Limits(
        max_line_length=options["max-line-length"],
        max_queue=options["max-queue"],
        rate=options["rate"],
        burst=options["burst"],
        flood_timeout=options["flood-timeout"],
        max_clients=options["max-clients"],
        max_per_ip=options["max-per-ip"],
        idle_timeout=options["idle-timeout"],
    )
    room = Room(
        server_name=options["server-name"], announce_limit=options["announce-limit"]
    )
    factory = ChatFactory(room, limits)
    reactor = _reactor()
    endpoints = [
        (description, serverFromString(reactor, description))
        for description in options["port"]
    ]
    return ChatService(factory, endpoints)
