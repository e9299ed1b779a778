"""
C{twistd chat}: the command-line options and the service they describe.
"""

from __future__ import annotations

import resource
import signal
import sys
from collections.abc import Sequence
from typing import Any, ClassVar

from twisted.application.service import IService, Service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IReactorCore,
    IReactorTime,
    IStreamServerEndpoint,
)
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.failure import Failure

from twisted_chat import text
from twisted_chat.config import (
    BY_NAME,
    PARAMETERS,
    ConfigError,
    limits_from,
    read_config,
    read_motd,
)
from twisted_chat.room import Room
from twisted_chat.server import ChatFactory
from twisted_chat.signals import in_reactor, move_shutdown_handlers

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


def check_endpoint(value: str, option: str = "port") -> str:
    """The endpoint description for a --port value, or a one-line refusal."""
    description = endpoint_description(value)
    try:
        serverFromString(_reactor(), description)
    except Exception as error:
        reason = str(error)
        if description.startswith("ssl:") and isinstance(error, ImportError):
            reason = text.TLS_MISSING
        elif description.startswith("systemd:") and isinstance(
            error, IndexError | KeyError
        ):
            reason = (
                "no socket inherited from systemd by that index or name "
                "(LISTEN_FDS, LISTEN_FDNAMES)"
            )
        raise usage.UsageError(f"invalid --{option} {value!r}: {reason}") from None
    return description


def _reactor() -> IReactorCore:
    from twisted.internet import reactor

    return reactor


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
        [p.name, None, p.default, p.help, p.coerce] for p in PARAMETERS
    ]

    def __init__(self) -> None:
        super().__init__()
        self["port"] = []
        self["config"] = None
        #: The options given on the command line: they win over the file.
        self.given: dict[str, Any] = {}

    def opt_config(self, path: str) -> None:
        """
        Read settings from this TOML file (any option of twistd chat, by
        name); the command line wins. SIGHUP reads it again.
        """
        self["config"] = path

    opt_config.__doc__ = " ".join((opt_config.__doc__ or "").split())

    def opt_port(self, value: str) -> None:
        """
        Where to listen: a port number (TCP on all interfaces, listen
        backlog 1024) or a Twisted endpoint description
        (tcp:5000:interface=127.0.0.1, tcp6:5000, unix:/path/chat.sock,
        ssl:..., systemd:...; add :backlog=N to a tcp one for many clients
        joining at once). Repeat to listen on several. [default: 5000]
        """
        self["port"].append(value)

    # usage.Options shows a docstring as is; fold it into one paragraph.
    opt_port.__doc__ = " ".join((opt_port.__doc__ or "").split())
    opt_p = opt_port

    def postOptions(self) -> None:
        if self["port"]:
            self.given["port"] = self["port"]
        if self["config"]:
            try:
                from_file = read_config(self["config"])
            except ConfigError as error:
                raise usage.UsageError(str(error)) from None
            for name, value in from_file.items():
                if name not in self.given:
                    self[name] = value
        self["port"] = [
            check_endpoint(value) for value in self["port"] or [DEFAULT_PORT]
        ]
        if self["metrics"]:
            self["metrics"] = check_endpoint(self["metrics"], "metrics")

    def settings(self) -> dict[str, Any]:
        """Every option's value, as parsed."""
        return {parameter.name: self[parameter.name] for parameter in PARAMETERS}

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        arguments = list(sys.argv[1:] if options is None else options)
        for argument in arguments:
            if argument.startswith("--") and argument != "--":
                name = argument[2:].split("=", 1)[0]
                if name in BY_NAME:
                    self.given[name] = None  # the value is filled in below
        try:
            super().parseOptions(options)
            for name in self.given:
                if name != "port":
                    self.given[name] = self[name]
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
        endpoints: Sequence[tuple[str, IStreamServerEndpoint, IProtocolFactory]],
        options: Options | None = None,
        clock: IReactorTime | None = None,
    ) -> None:
        self.factory = factory
        self.endpoints = list(endpoints)
        self.options = options
        self.ports: list[IListeningPort] = []
        self._clock = clock

    def privilegedStartService(self) -> None:
        # Listening here, before twistd drops privileges, allows ports < 1024.
        super().privilegedStartService()
        for description, endpoint, factory in self.endpoints:
            failures: list[Failure] = []
            listening = endpoint.listen(factory)
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
        if self.options is not None:
            reactor = _reactor()
            signal.signal(
                signal.SIGHUP,
                in_reactor(reactor, lambda number, frame: self.reload()),  # type: ignore[arg-type]
            )
            # After startup: the reactor installs its own handlers then.
            reactor.callWhenRunning(move_shutdown_handlers, reactor)

    def reload(self) -> None:
        """
        Read the configuration file and the MOTD again and apply them to
        everyone, without dropping a connection; with an error, log it and
        keep the settings in force. Listening ports change only on restart.
        """
        assert self.options is not None
        path = self.options["config"]
        try:
            from_file = read_config(path) if path else {}
            settings: dict[str, Any] = {p.name: p.default for p in PARAMETERS}
            settings.update(
                {k: v for k, v in from_file.items() if k != "port"},
            )
            settings.update(
                {k: v for k, v in self.options.given.items() if k != "port"}
            )
            motd = read_motd(settings["motd"])
        except ConfigError as error:
            log.error(
                "reload failed; keeping the current settings: {error}", error=str(error)
            )
            return
        room = self.factory.room
        room.server_name = settings["server-name"]
        room.announce_limit = settings["announce-limit"]
        room.motd = motd
        self.factory.apply_limits(limits_from(settings))
        log.info(
            "reloaded {path}: settings applied to {count} connections",
            path=path or "(no configuration file)",
            count=len(self.factory.connections),
        )

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
    settings = options.settings()
    try:
        motd = read_motd(settings["motd"])
    except ConfigError as error:
        raise SystemExit(f"twistd chat: {error}") from None
    reactor = _reactor()
    room = Room(
        server_name=settings["server-name"],
        announce_limit=settings["announce-limit"],
        # One relay per reactor turn: one write per member, however many spoke.
        schedule=lambda relay: reactor.callLater(0, relay),  # type: ignore[attr-defined]
    )
    room.motd = motd
    factory = ChatFactory(room, limits_from(settings))
    endpoints: list[tuple[str, IStreamServerEndpoint, IProtocolFactory]] = [
        (description, serverFromString(reactor, description), factory)
        for description in options["port"]
    ]
    if settings["metrics"]:
        # Imported only when asked for: prometheus-client and twisted.web
        # cost the daemon about 4 MB of memory.
        from twisted_chat.metrics import metrics_site

        metrics = settings["metrics"]
        endpoints.append(
            (metrics, serverFromString(reactor, metrics), metrics_site(factory))
        )
    return ChatService(factory, endpoints, options)
