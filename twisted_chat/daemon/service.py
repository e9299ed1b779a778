"""
C{twistd chat}'s service: the listening ports and the room behind them,
built from parsed L{Options} by L{makeService}, reloaded on SIGHUP and
shut down gracefully.
"""

from __future__ import annotations

import resource
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any

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
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from twisted_chat.backplane.store import SharedStore
from twisted_chat.core.hub import Hub
from twisted_chat.daemon import logs
from twisted_chat.daemon.config import (
    RESTART_ONLY,
    ConfigError,
    limits_from,
    load_settings,
    read_motd,
)
from twisted_chat.daemon.linking import Linking, linking_from
from twisted_chat.daemon.options import Options
from twisted_chat.daemon.signals import (
    handle_unless_handled,
    in_reactor,
    move_shutdown_handlers,
)
from twisted_chat.frontends.line.factory import LineFactory
from twisted_chat.names import name_key
from twisted_chat.session.services import Services
from twisted_chat.store import HistoryStore, StoreError, open_store

log = Logger()

#: Threads that hash and check passwords: two, so that a storm of logins
#: costs at most two cores' worth of hashing (and 2 x 16 MiB of scrypt's
#: memory), never the reactor's time.
HASHING_THREADS = 2

#: How often lines older than --history-max-age are dropped from the store.
PRUNE_SECONDS = 3600.0

#: How long shutdown waits for queued output to reach clients.
SHUTDOWN_GRACE_SECONDS = 5.0


def _reactor() -> IReactorCore:
    from twisted.internet import reactor

    return reactor


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
        factory: LineFactory,
        endpoints: Sequence[tuple[str, IStreamServerEndpoint, IProtocolFactory]],
        options: Options | None = None,
        clock: IReactorTime | None = None,
        store: HistoryStore | None = None,
    ) -> None:
        self.factory = factory
        self.endpoints = list(endpoints)
        self.options = options
        self.ports: list[IListeningPort] = []
        self._clock = clock
        #: Closed last on stop, once every line said is in it.
        self.store = store
        self._history_max_age: float = options["history-max-age"] if options else 0.0
        self._pruning: LoopingCall | None = None
        #: Where passwords are hashed (L{HASHING_THREADS}).
        self.hashing = ThreadPool(0, HASHING_THREADS, "twisted_chat passwords")
        #: The link with other daemons (--redis), if any.
        self.linking: Linking | None = None

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
        self.hashing.start()
        if self.linking is not None:
            self.linking.start()
        if self.store is not None or self._history_max_age:
            # Hourly, and once now: an old file may hold more than is kept.
            self._pruning = LoopingCall(self._prune)
            if self._clock is not None:
                self._pruning.clock = self._clock
            self._pruning.start(PRUNE_SECONDS, now=True)
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
        C{twisted_chat.daemon.logs.json_file} log if that is in use, and log
        what was done; with no file to rotate, only log that it was ignored.
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
        room = self.factory.services.hub
        room.server_name = settings["server-name"]
        room.announce_limit = settings["announce-limit"]
        room.motd = motd
        configure_rooms(room, settings)
        self._history_max_age = settings["history-max-age"]
        room.keeper.max_age = self._history_max_age * 86400
        room.moderation.server_operators = {
            name_key(name) for name in settings["operators"]
        }
        room.accounts.enabled = settings["accounts"]
        self.factory.apply_limits(limits_from(settings))
        log.info(
            "reloaded {path}: settings applied to {count} connections",
            path=path or "(no configuration file)",
            count=len(self.factory.services.admission),
        )

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        ports, self.ports = self.ports, []
        stopped = defer.gatherResults(
            [defer.maybeDeferred(port.stopListening) for port in ports]
        )
        stopped.addCallback(lambda _: self._say_goodbye())
        stopped.addCallback(lambda _: self.hashing.stop())
        if self.linking is not None:
            linking = self.linking
            # After the goodbyes: the other daemons hear everyone leave.
            stopped.addCallback(lambda _: linking.stop())
        if self._pruning is not None and self._pruning.running:
            self._pruning.stop()
        if self.store is not None:
            store, keeper = self.store, self.factory.services.hub.keeper

            def close_store(_: object) -> defer.Deferred[None]:
                # After the goodbyes, so everything said before them is kept.
                keeper.save()
                return store.close()

            stopped.addCallback(close_store)
        return stopped  # type: ignore[return-value]

    def _prune(self) -> None:
        """Drop what is older than --history-max-age, from memory and store."""
        hub = self.factory.services.hub
        hub.keeper.max_age = self._history_max_age * 86400
        hub.keeper.age_out(hub.rooms)
        if self.store is not None and self._history_max_age:
            self.store.prune(hub.now() - self._history_max_age * 86400)

    def _say_goodbye(self) -> defer.Deferred[None] | None:
        hub = self.factory.services.hub
        members = hub.members
        if not members:
            return None
        log.info("shutting down: closing {count} connections", count=len(members))
        all_gone = self.factory.services.admission.wait_until_empty()
        hub.notice_everyone("server shutting down")
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
    hashing = ThreadPool(0, HASHING_THREADS, "twisted_chat passwords")
    if settings["redis"] and settings["history-db"]:
        raise SystemExit(
            "twistd chat: --redis and --history-db do not go together: "
            "linked daemons keep history, accounts and bans in Redis"
        )
    shared = SharedStore(max(settings["history"], 1)) if settings["redis"] else None
    try:
        store = open_store(settings["history-db"]) if settings["history-db"] else shared
        hub = Hub(
            server_name=settings["server-name"],
            announce_limit=settings["announce-limit"],
            # One flush per reactor turn: one write per member, however many spoke.
            schedule=lambda flush: reactor.callLater(0, flush),  # type: ignore[attr-defined]
            clock=reactor,  # type: ignore[arg-type]
            default_room=settings["default-room"],
            store=store,
            operators=settings["operators"],
            accounts=settings["accounts"],
            run_blocking=lambda work: deferToThreadPool(reactor, hashing, work),  # type: ignore[arg-type]
        )
    except StoreError as error:
        raise SystemExit(f"twistd chat: {error}") from None
    # Before rooms read their lines, so none older than this comes back.
    hub.keeper.max_age = settings["history-max-age"] * 86400
    configure_rooms(hub, settings)
    hub.motd = motd
    services = Services(hub, limits_from(settings), reactor)  # type: ignore[arg-type]
    factory = LineFactory(services)
    endpoints: list[tuple[str, IStreamServerEndpoint, IProtocolFactory]] = [
        (description, serverFromString(reactor, description), factory)
        for description in options["port"]
    ]
    if settings["metrics"]:
        # Imported only when asked for: prometheus-client and twisted.web
        # cost the daemon about 4 MB of memory.
        from twisted_chat.daemon.metrics import metrics_factory

        metrics = settings["metrics"]
        endpoints.append(
            (
                metrics,
                serverFromString(reactor, metrics),
                metrics_factory(services, reactor),  # type: ignore[arg-type]
            )
        )
    if settings["web"]:
        # Imported only when asked for, like the metrics: twisted.web and wsproto.
        from twisted_chat.frontends.web.listener import web_listener

        endpoints.append(web_listener(reactor, services, settings))
    service = ChatService(factory, endpoints, options, store=store)
    service.hashing = hashing
    if shared is not None:
        service.linking = linking_from(settings, hub, shared, services, reactor)  # type: ignore[arg-type]
    return service


def configure_rooms(hub: Hub, settings: Mapping[str, Any]) -> None:
    """The room and history settings, at start-up and on reload."""
    hub.configure(
        settings["default-room"],
        settings["rooms"],
        settings["max-rooms"],
        settings["history"],
        settings["history-total"],
    )
