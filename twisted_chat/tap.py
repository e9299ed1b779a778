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

from twisted_chat import logs, text
from twisted_chat.config import (
    BY_NAME,
    PARAMETERS,
    RESTART_ONLY,
    ConfigError,
    check_endpoint,
    limits_from,
    load_settings,
    read_motd,
)
from twisted_chat.room import Room
from twisted_chat.server import ChatFactory
from twisted_chat.signals import (
    handle_unless_handled,
    in_reactor,
    move_shutdown_handlers,
)

log = Logger()

#: How long shutdown waits for queued output to reach clients.
SHUTDOWN_GRACE_SECONDS = 5.0


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
        try:
            self["port"].append(check_endpoint(value))
        except ValueError as error:
            raise usage.UsageError(str(error)) from None

    # usage.Options shows a docstring as is; fold it into one paragraph.
    opt_port.__doc__ = " ".join((opt_port.__doc__ or "").split())
    opt_p = opt_port

    def postOptions(self) -> None:
        for name in self.given:
            self.given[name] = self[name]
        if self["port"]:
            self.given["port"] = self["port"]
        try:
            settings = load_settings(self["config"], self.given)
        except ConfigError as error:
            raise usage.UsageError(str(error)) from None
        for name, value in settings.items():
            self[name] = value

    def settings(self) -> dict[str, Any]:
        """Every setting in force since start-up, C{port} included."""
        names = [parameter.name for parameter in PARAMETERS]
        return {name: self[name] for name in [*names, "port"]}

    def _long_option(self, name: str) -> str:
        """The option C{--name} means: getopt takes a unique prefix too."""
        names = [option.rstrip("=") for option in self.longOpt]
        if name in names:
            return name
        matches = [option for option in names if option.startswith(name)]
        return matches[0] if len(matches) == 1 else name

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        arguments = list(sys.argv[1:] if options is None else options)
        for argument in arguments:
            if argument.startswith("--") and argument != "--":
                name = self._long_option(argument[2:].split("=", 1)[0])
                if name in BY_NAME:
                    self.given[name] = None  # postOptions fills the value in
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
    close first, then every client is told C{*** server shutting down}, and
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
            # Without twistd's --logfile nothing handles SIGUSR1, and its
            # default action kills: a logrotate hook would stop the chat.
            handle_unless_handled(
                reactor,  # type: ignore[arg-type]
                signal.SIGUSR1,
                lambda number, frame: self.rotate_logs(),
            )
            # After startup: the reactor installs its own handlers then.
            reactor.callWhenRunning(move_shutdown_handlers, reactor)

    def rotate_logs(self) -> None:
        """
        SIGUSR1 where twistd does not rotate a --logfile: rotate the
        C{twisted_chat.logs.json_file} log if that is in use, and log what
        was done; with no file to rotate, only log that it was ignored.
        """
        done = logs.rotate_files()
        if done:
            log.info("SIGUSR1: {done}", done="; ".join(done))
        else:
            log.info("SIGUSR1 ignored: no log file to rotate")

    def reload(self) -> None:
        """
        Read and check the configuration file and the MOTD again, as
        start-up does (L{load_settings}), and apply them to everyone without
        dropping a connection. With an error anywhere, log it (one line:
        file, line, problem) and apply nothing. A changed setting that only
        a restart can apply (L{RESTART_ONLY}: ports, metrics) is logged as
        such, and the rest applies.
        """
        assert self.options is not None
        path = self.options["config"]
        try:
            settings = load_settings(path, self.options.given)
            motd = read_motd(settings["motd"])
        except ConfigError as error:
            log.error(
                "reload failed; keeping the current settings: {error}", error=str(error)
            )
            return
        running = self.options.settings()
        for name in RESTART_ONLY:
            if settings[name] != running[name]:
                log.warn(
                    "reload: {setting} changed: needs a restart "
                    "(in force until then: {current})",
                    setting=name,
                    current=_describe(running[name]),
                )
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


def _describe(value: object) -> str:
    """A setting's value for the log: a list joined, None as 'none'."""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "none" if value is None else str(value)


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
        from twisted_chat.metrics import metrics_factory

        metrics = settings["metrics"]
        endpoints.append(
            (
                metrics,
                serverFromString(reactor, metrics),
                metrics_factory(factory, reactor),  # type: ignore[arg-type]
            )
        )
    return ChatService(factory, endpoints, options)
