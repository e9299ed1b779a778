"""
L{RedisLink}: a self-healing link to Redis, one connection for commands and
one for subscriptions (RESP2 allows no PUBLISH on a subscribed connection).

Each connection is made again with back-off after it is lost or refused; on
every connect it sends AUTH (if a password is set), SELECT (if the database
is not 0), PING, and on the subscriber every channel subscribed so far. The
link is up once both have done so. While it is down, commands fail at once
with L{LinkDown}: nothing is queued. A PING every C{ping_interval} seconds,
unanswered for C{ping_timeout}, closes a half-open connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, FirstError, fail, gatherResults, succeed
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import (
    IDelayedCall,
    IReactorTime,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat.backplane.address import RedisAddress
from twisted_chat.backplane.connection import LinkDown, RespConnection
from twisted_chat.backplane.resp import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_REPLY_BYTES,
    Arg,
    ProtocolError,
    RedisError,
    Reply,
    ReplyParser,
)

__all__ = ["LinkDown", "RedisLink"]

log = Logger()

#: Called with the payload of each message on a subscribed channel.
Handler = Callable[[bytes], None]


def _first_failure(failure: Failure) -> Failure:
    error = failure.value
    if isinstance(error, FirstError):
        return error.subFailure
    return failure


class _Line:
    """One connection kept alive: connect, handshake, ping, back-off."""

    def __init__(self, link: RedisLink, subscriber: bool) -> None:
        self.link = link
        self.subscriber = subscriber
        self.ready: RespConnection | None = None  # handshake done
        self.attempts = 0  # connections tried, ever
        self._proto: RespConnection | None = None
        self._failures = 0
        self._since = 0.0
        self._retry: IDelayedCall | None = None
        self._timer: IDelayedCall | None = None
        self._connecting: Deferred[Any] | None = None
        self._stopped = False
        self._sent: set[bytes] = set()

    def start(self) -> None:
        self._retry = None
        self.attempts += 1
        link = self.link
        on_message = link._message if self.subscriber else None
        on_pause = None if self.subscriber else link._pause
        parser = ReplyParser(link.max_reply_bytes, link.max_depth)
        proto = RespConnection(str(link.address), parser, on_message, on_pause)
        factory = Factory.forProtocol(lambda: proto)
        factory.noisy = False  # a line per connection attempt in the log
        self._connecting = link._endpoint().connect(factory)
        self._connecting.addCallbacks(self._connected, self._refused)

    def _refused(self, failure: Failure) -> None:
        self._connecting = None
        if not self._stopped:
            self.link._problem(f"cannot connect: {failure.getErrorMessage()}")
            self._back_off()

    def _connected(self, proto: RespConnection) -> None:
        self._connecting = None
        self._proto = proto
        self._since = self.link.clock.seconds()
        proto.lost.addCallback(lambda _: self._lost(proto))
        address = self.link.address
        commands: list[list[Arg]] = []
        if address.password is not None:
            user = [address.username] if address.username else []
            commands.append([b"AUTH", *user, address.password])
        if address.db:
            commands.append([b"SELECT", address.db])
        commands.append([b"PING"])
        answers = proto.pipeline(commands)
        channels = sorted(self.link._handlers) if self.subscriber else []
        self._sent = set(channels)
        if channels:
            answers.append(proto.subscribe(channels))  # type: ignore[arg-type]
        self._watch(proto)
        done = gatherResults(answers, consumeErrors=True)
        done.addCallbacks(lambda _: self._handshaken(proto), self._refused_handshake)
        done.addErrback(lambda f: log.failure("redis link handshake", f))

    def _refused_handshake(self, failure: Failure) -> None:
        failure = _first_failure(failure)
        if failure.check(LinkDown):
            return  # lost meanwhile; _lost backs off
        assert self._proto is not None
        if failure.check(RedisError):
            self.link._problem(f"the handshake was refused: {failure.value}")
        else:
            self.link._problem(f"the handshake failed: {failure.getErrorMessage()}")
        self._proto.said_why = True
        self._proto.abort()

    def _handshaken(self, proto: RespConnection) -> None:
        if proto is not self._proto or self._stopped:
            return
        self._cancel_timer()
        self._timer = self.link.clock.callLater(
            self.link.ping_interval, self._ping, proto
        )
        if self.ready is not proto:
            # Channels added while this handshake was in flight.
            missing = (
                sorted(set(self.link._handlers) - self._sent) if self.subscriber else []
            )
            if missing:
                proto.subscribe(missing).addErrback(lambda _: proto.abort())
        self.ready = proto
        self.link._changed()

    def _watch(self, proto: RespConnection) -> None:
        """Abort C{proto} unless it answers within the ping timeout."""
        self._cancel_timer()

        def silent() -> None:
            self._timer = None
            proto.fail(f"no answer in {self.link.ping_timeout:g} s")

        self._timer = self.link.clock.callLater(self.link.ping_timeout, silent)

    def _ping(self, proto: RespConnection) -> None:
        self._timer = None
        try:
            answer = proto.command(b"PING")
        except LinkDown:
            return
        self._watch(proto)
        answer.addCallbacks(lambda _: self._handshaken(proto), lambda _: None)

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _lost(self, proto: RespConnection) -> None:
        if proto is not self._proto:
            return
        self._proto = None
        self._cancel_timer()
        if self.link.clock.seconds() - self._since >= self.link.reset_after:
            self._failures = 0
        reason = proto.lost_reason
        why = reason.getErrorMessage() if reason is not None else "closed"
        if self.ready is proto:
            self.ready = None
            if not self._stopped:
                log.warn(
                    "redis at {address}: connection lost ({why})",
                    address=str(self.link.address),
                    why=why,
                )
            self.link._changed()
        elif not self._stopped and not proto.said_why:
            # Lost before the handshake was answered, and not by us after
            # saying why: a TLS certificate that cannot be verified, a
            # server that closes at once. Said once, like a refusal.
            self.link._problem(f"the connection was lost during the handshake ({why})")
        if not self._stopped:
            self._back_off()

    def _back_off(self) -> None:
        link = self.link
        delay = min(link.initial_delay * 2**self._failures, link.max_delay)
        self._failures += 1
        self._retry = link.clock.callLater(delay, self.start)

    def stop(self) -> Deferred[None]:
        self._stopped = True
        self._cancel_timer()
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        if self._connecting is not None:
            self._connecting.cancel()
        proto = self._proto
        if proto is None:
            return succeed(None)
        proto.close()
        # Don't wait for a peer that reads nothing.
        abort = self.link.clock.callLater(self.link.ping_timeout, proto.abort)
        proto.lost.addCallback(lambda _: abort.cancel() if abort.active() else None)
        lost: Deferred[None] = Deferred()
        proto.lost.addCallback(lambda _: lost.callback(None))
        return lost


class RedisLink:
    """
    A link to the Redis at C{address}, made by L{start}, ended by L{close}.

    C{endpoint}, when given, replaces the connection made from the address
    (tests); C{tls_options} replaces C{optionsForClientTLS(host)} for
    C{rediss://} (a private CA).
    """

    def __init__(
        self,
        reactor: IReactorTime,
        address: RedisAddress,
        *,
        endpoint: IStreamClientEndpoint | None = None,
        tls_options: Any = None,
        initial_delay: float = 1.0,
        max_delay: float = 30.0,
        reset_after: float = 10.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        self.clock = reactor
        self.address = address
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.reset_after = reset_after
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.connect_timeout = connect_timeout
        self.max_reply_bytes = max_reply_bytes
        self.max_depth = max_depth
        self._given_endpoint = endpoint
        self._tls_options = tls_options
        self._handlers: dict[bytes, Handler] = {}
        self._state_callbacks: list[Callable[[bool], None]] = []
        self._pause_callbacks: list[Callable[[bool], None]] = []
        self._up = False
        self._last_problem: str | None = None
        self._closed = False
        self._commands = _Line(self, subscriber=False)
        self._subscriber = _Line(self, subscriber=True)

    def __repr__(self) -> str:
        state = "up" if self._up else "down"
        return f"<RedisLink {self.address} {state}>"

    def _endpoint(self) -> IStreamClientEndpoint:
        if self._given_endpoint is not None:
            return self._given_endpoint
        address = self.address
        endpoint: IStreamClientEndpoint = HostnameEndpoint(
            self.clock, address.host, address.port, timeout=self.connect_timeout
        )
        if address.tls:
            from twisted.internet.ssl import optionsForClientTLS

            options = self._tls_options or optionsForClientTLS(address.host)
            endpoint = wrapClientTLS(options, endpoint)
        return endpoint

    # -- state --------------------------------------------------------------
    def start(self) -> None:
        """Connect, and keep connecting until L{close}."""
        self._commands.start()
        self._subscriber.start()

    @property
    def up(self) -> bool:
        """Both connections made and their handshakes answered."""
        return self._up

    @property
    def attempts(self) -> int:
        """Connections tried so far (both connections together)."""
        return self._commands.attempts + self._subscriber.attempts

    @property
    def inflight(self) -> int:
        """Commands sent on the command connection and not yet answered."""
        ready = self._commands.ready
        return ready.inflight if ready is not None else 0

    @property
    def write_paused(self) -> bool:
        """The command connection's write buffer is full: stop publishing."""
        ready = self._commands.ready
        return ready.write_paused if ready is not None else False

    def on_state(self, callback: Callable[[bool], None]) -> None:
        """Call C{callback(up)} each time the link goes up or down."""
        self._state_callbacks.append(callback)

    def on_pause(self, callback: Callable[[bool], None]) -> None:
        """Call C{callback(paused)} as L{write_paused} changes."""
        self._pause_callbacks.append(callback)

    def _changed(self) -> None:
        up = (
            not self._closed
            and self._commands.ready is not None
            and self._subscriber.ready is not None
        )
        if up == self._up:
            return
        self._up = up
        if up:
            self._last_problem = None
            log.info("redis at {address}: link up", address=str(self.address))
        for callback in list(self._state_callbacks):
            callback(up)

    def _problem(self, problem: str) -> None:
        """Log why a connection failed, once until the link has been up."""
        if problem != self._last_problem:
            self._last_problem = problem
            log.error(
                "redis at {address}: {problem}; retrying with back-off",
                address=str(self.address),
                problem=problem.rstrip("."),
            )

    def _pause(self, paused: bool) -> None:
        for callback in list(self._pause_callbacks):
            callback(paused)

    def _message(self, channel: bytes, payload: bytes) -> None:
        handler = self._handlers.get(channel)
        if handler is not None:
            handler(payload)

    # -- commands -----------------------------------------------------------
    def command(self, *args: Arg) -> Deferred[Reply]:
        """Send a command now, or fail with L{LinkDown} if the link is down."""
        ready = self._commands.ready
        if not self._up or ready is None:
            return fail(LinkDown(f"the link to {self.address} is down"))
        return ready.command(*args)

    def read_command(self, *args: Arg) -> Deferred[Reply]:
        """
        Send a command on the second connection (one that may block, such
        as XREAD BLOCK, without holding up the others), or fail with
        L{LinkDown} if the link is down.
        """
        ready = self._subscriber.ready
        if not self._up or ready is None:
            return fail(LinkDown(f"the link to {self.address} is down"))
        return ready.command(*args)

    def publish(self, channel: bytes, payload: bytes) -> Deferred[int]:
        """PUBLISH; fires with how many subscribers Redis gave it to."""

        def count(reply: Reply) -> int:
            if not isinstance(reply, int):
                raise ProtocolError(f"PUBLISH answered {reply!r}")
            return reply

        return self.command(b"PUBLISH", channel, payload).addCallback(count)

    def ping(self) -> Deferred[float]:
        """Seconds PING took; fails with L{LinkDown}, or on the ping timeout."""
        started = self.clock.seconds()
        answer = self.command(b"PING").addTimeout(self.ping_timeout, self.clock)
        return answer.addCallback(lambda _: self.clock.seconds() - started)

    def subscribe(self, channel: bytes, handler: Handler) -> Deferred[None]:
        """
        Give the messages of C{channel} to C{handler}, on this connection and
        every later one. Fires once subscribed now; fails with L{LinkDown} if
        the link is down (the channel will be subscribed when it is up).
        """
        if channel in self._handlers:
            raise ValueError(f"already subscribed to {channel!r}")
        self._handlers[channel] = handler
        ready = self._subscriber.ready
        if ready is None:
            return fail(LinkDown(f"the link to {self.address} is down"))
        answer = ready.subscribe([channel])
        answer.addErrback(_first_failure)
        return answer.addCallback(lambda _: None)

    def close(self) -> Deferred[None]:
        """Stop reconnecting and close both connections; fires once closed."""
        self._closed = True
        done = gatherResults([self._commands.stop(), self._subscriber.stop()])
        self._changed()
        return done.addCallback(lambda _: None)
