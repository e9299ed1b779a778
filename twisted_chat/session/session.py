"""
One person connected, whatever the front end: the core's L{Member}, with
everything every front end needs around it.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall, ITransport
from twisted.logger import Logger, LogLevel

from twisted_chat import text
from twisted_chat.core import events
from twisted_chat.core.commands import run_command, split_command, unescape_text
from twisted_chat.core.limits import FloodControl, Limits, Verdict
from twisted_chat.core.moderation import describe
from twisted_chat.core.room import Renderer
from twisted_chat.session.outbound import OutboundQueue
from twisted_chat.session.services import Services

log = Logger()


def _not_connected(data: bytes) -> None:
    """Where output goes before a session is admitted: nowhere."""


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class Session:
    """
    A member of the hub over one transport: the output queue and its cap,
    read throttling, flood control, admission and connection accounting,
    the idle timeout and close reasons. A front end only frames its input
    (L{receive_line}, L{receive_plain}, L{end_of_read}) and names its
    renderer.

    Guarantees: C{send} reaches the transport in order, through an
    L{OutboundQueue} that drops the connection past C{max_queue} bytes;
    each line is checked (UTF-8, cleaned, not blank, within the rate)
    before it reaches the hub; consecutive text lines of one read reach the
    hub as one batch, a command in between keeping its place; every reply
    and refusal goes through the hub, in order with the room's lines; a
    count of lines the rate refused is reported before the answer to the
    next command.
    """

    __slots__ = (
        "_batch",
        "_close_description",
        "_close_reason",
        "_closing",
        "_filter",
        "_flood",
        "_idle_call",
        "_idle_timeout",
        "_joined",
        "_logged",
        "_outbound",
        "_services",
        "_transport",
        "_unreported_refusals",
        "account",
        "address",
        "name",
        "peer",
        "renderer",
        "send",
    )

    def __init__(
        self,
        services: Services,
        transport: ITransport,
        renderer: Renderer,
        peer: str,
        address: str | None,
    ) -> None:
        self._services = services
        self._transport = transport
        self.renderer = renderer
        self.peer = peer
        self.address = address
        self.name = ""
        self.account: str | None = None
        #: Queue bytes for this session: L{OutboundQueue.write}, rebound as
        #: the flow changes so the fan-out calls the transport directly.
        self.send: Callable[[bytes], None] = _not_connected
        self._outbound: OutboundQueue | None = None
        self._filter: Callable[[bytes], bytes] | None = None
        self._flood: FloodControl | None = None
        # Made when there is something to say: thousands of idle sessions
        # would otherwise each hold an empty list.
        self._batch: list[str] | None = None
        self._unreported_refusals = 0
        self._idle_call: IDelayedCall | None = None
        self._idle_timeout = 0.0
        self._joined = False
        self._closing = False
        # This connection's record of the limit hits it logged (LimitLog).
        self._logged: dict[str, list[float]] | None = None
        #: Why we closed (a metrics label) and how to say it in the log.
        self._close_reason = ""
        self._close_description = ""

    # Admission and the connection's life

    def admit(self, descriptor: int | None) -> bool:
        """
        Let the connection in, or refuse it with one line (and close it).
        Once in, it is counted, has an output queue and is read-throttled.
        """
        services = self._services
        limits = services.limits
        refused = (
            services.admission.refusal(
                self.address, descriptor, limits.max_clients, limits.max_per_ip
            )
            or self._banned()
        )
        if refused is not None:
            limit, refusal = refused
            services.limit_hits[limit] += 1
            services.limit_log.hit(
                services.admission.refusals_logged(self.address),
                limit,
                "{peer} refused: {reason}",
                LogLevel.warn,
                peer=self.peer,
                reason=refusal,
            )
            self._closing = True
            # In the front end's own format (for telnet, "! ..."), but not
            # through the queue: the connection was never let in.
            self._transport.write(self.renderer.render(events.Refused(refusal)))
            self._transport.loseConnection()
            return False
        self._outbound = OutboundQueue(
            self._transport,
            limits.max_queue,
            self._overflowed,
            self._write_changed,
            self._queue_changed,
        )
        self.send = self._outbound.write
        services.admission.opened(self, self.address)
        services.throttle.add(self, self._transport)  # type: ignore[arg-type]
        return True

    def _banned(self) -> tuple[str, str] | None:
        """A server ban on this connection's address, as a refusal."""
        hub = self._services.hub
        ban = hub.moderation.in_force("ban", ("",), None, None, self.address)
        if ban is None:
            return None
        return "banned", f"Banned from this server{describe(ban, hub.now())}."

    @property
    def admitted(self) -> bool:
        """Whether L{admit} let the connection in."""
        return self._outbound is not None

    @property
    def closing(self) -> bool:
        """Whether the session is closing or closed: input is ignored."""
        return self._closing

    @property
    def joined(self) -> bool:
        """Whether the session is in the hub (L{join})."""
        return self._joined

    def join(self) -> None:
        """Come into the hub: a guest name, the greeting, the default room."""
        self._joined = True
        self._set_idle_timer()
        self._services.hub.connect(self)
        log.info("{peer} connected as {name}", peer=self.peer, name=self.name)

    def connection_lost(self, reason: str, label: str) -> None:
        """
        The transport is gone: leave the hub, stop counting. C{reason} is
        how it ended, for the log; C{label} for the metrics, when we did
        not end it ourselves.
        """
        self._closing = True
        if self._outbound is None:
            return
        services = self._services
        if self._idle_call is not None and self._idle_call.active():
            self._idle_call.cancel()
        self._idle_call = None
        services.disconnects[self._close_reason or label] += 1
        services.throttle.remove(self)
        if self._joined:
            services.hub.disconnect(self)
        services.admission.closed(self)
        if self._joined:
            log.info(
                "{peer} ({name}) disconnected: {reason}",
                peer=self.peer,
                name=self.name,
                reason=self._close_description or reason,
            )
        elif not self._close_reason:
            log.info("{peer} disconnected before joining", peer=self.peer)

    def close(self) -> None:
        """Close once everything sent, and everything the hub has for us, is written."""
        if self._closing:
            return
        self._closing = True
        self._flush_batch()
        self._services.hub.turn.flush()
        if self._outbound is not None:
            self._outbound.close()

    def close_as(self, reason: str, description: str) -> None:
        """L{close}, counted under C{reason} and logged as C{description}."""
        self._set_close_reason(reason, description)
        self.close()

    def apply_limits(self, limits: Limits) -> None:
        """Take new limits (a reload) without interrupting the connection."""
        if self._outbound is not None:
            self._outbound.max_queue = limits.max_queue
        if self._flood is not None:
            self._flood.rate = limits.rate
            self._flood.burst = max(limits.burst, 1)
            self._flood.disconnect_after = limits.flood_timeout
        if (
            self._joined
            and not self._closing
            and limits.idle_timeout != self._idle_timeout
        ):
            # Only a new value restarts the timer: reloads must not keep an
            # idle client alive.
            self._set_idle_timer()

    @property
    def limits(self) -> Limits:
        """The limits this session is held to (what /limits reports)."""
        return self._services.limits

    # Output that is the front end's own (telnet negotiation, echo)

    def write_direct(self, data: bytes) -> None:
        """Bytes of the front end's own, in order with everything sent."""
        if self._outbound is not None:
            self._outbound.write(data)

    def set_output_filter(self, output_filter: Callable[[bytes], bytes] | None) -> None:
        """Pass what the hub sends through C{output_filter} (telnet's echo mode)."""
        self._filter = output_filter
        if self._outbound is not None:
            self._write_changed()

    # Input

    def activity(self) -> None:
        """Something arrived: the idle timer starts again."""
        call = self._idle_call
        if call is not None and call.active():
            call.reset(self._idle_timeout)

    def receive_line(self, line: bytes) -> None:
        """One line as received (without its line end), any bytes at all."""
        if self._closing:
            return
        services = self._services
        services.lines_received += 1
        if not line.isascii() and not _is_utf8(line):
            self._refuse_not_utf8()
            return
        cleaned = text.clean_text(line)
        if not cleaned.strip() or not self._within_rate():
            return
        command = split_command(cleaned)
        if command is None:
            if self._batch is None:
                self._batch = []
            self._batch.append(unescape_text(cleaned))
            return
        self._flush_batch()
        # The reply follows whatever this session has been sent so far,
        # refusals included: a script that ends with a command knows, once
        # it is answered, how many of its lines were not sent.
        if self._unreported_refusals:
            self._report_refusals()
        run_command(self, services.hub, *command)

    def receive_plain(self, lines: list[str]) -> bool:
        """
        Take C{lines}, already known clean, not blank and no command (see
        L{text.plain_lines}), in one go if the rate allows every one of
        them; otherwise take nothing and return False, for the front end to
        hand them to L{receive_line} one by one.
        """
        if not self._flood_control().accept_all(len(lines)):
            return False
        self._services.lines_received += len(lines)
        if self._batch is None:
            self._batch = lines
        else:
            self._batch.extend(lines)
        return True

    def end_of_read(self) -> None:
        """What one read held has been framed: the batch goes to the hub."""
        self._flush_batch()

    def line_too_long(self, limit: int) -> None:
        """A line over C{limit} bytes arrived; it is refused, with a notice."""
        self._flush_batch()
        self.hit_limit(
            "line_length", "{peer} ({name}) sent a line over {limit} bytes", limit=limit
        )
        self._services.hub.tell(self, events.LineTooLong(limit))

    # Internals

    def _flush_batch(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, None
            self._services.hub.say(self, batch)

    def _refuse_not_utf8(self) -> None:
        self._flush_batch()
        self.hit_limit("not_utf8", "{peer} ({name}) sent a line that is not UTF-8")
        self._services.hub.tell(
            self,
            events.Refused(
                "Not sent: that line is not UTF-8 text "
                "(is your terminal set to UTF-8?)."
            ),
        )

    def _flood_control(self) -> FloodControl:
        if self._flood is None:
            # Made on the first line: idle connections (thousands) never pay.
            limits = self._services.limits
            self._flood = FloodControl(
                limits.rate, limits.burst, self._services.clock, limits.flood_timeout
            )
        return self._flood

    def _within_rate(self) -> bool:
        verdict = self._flood_control().check()
        if verdict is Verdict.ACCEPT:
            return True
        self._flush_batch()
        self.hit_limit("rate", "{peer} ({name}) over the line rate")
        self._unreported_refusals += 1
        if verdict is Verdict.REFUSE_WITH_NOTICE:
            self._report_refusals()
        elif verdict is Verdict.DISCONNECT:
            limits = self._services.limits
            self._services.hub.tell(
                self,
                events.Refused(
                    f"Disconnected: flooding for {limits.flood_timeout:g} s."
                ),
            )
            self.hit_limit(
                "flooding",
                "{peer} ({name}) disconnected for flooding",
                LogLevel.warn,
                counted=False,
            )
            self.close_as("flooding", "flooding")
        return False

    def _report_refusals(self) -> None:
        """Tell the client how many of its lines the rate refused, unsaid."""
        limits = self._services.limits
        self._services.hub.tell(
            self, events.SlowDown(limits.rate, limits.burst, self._unreported_refusals)
        )
        self._unreported_refusals = 0

    def _set_idle_timer(self) -> None:
        if self._idle_call is not None and self._idle_call.active():
            self._idle_call.cancel()
        timeout = self._idle_timeout = self._services.limits.idle_timeout
        self._idle_call = (
            self._services.clock.callLater(timeout, self._idle) if timeout else None
        )

    def _idle(self) -> None:
        self._idle_call = None
        self._flush_batch()
        timeout = self._idle_timeout
        self._services.hub.tell(
            self, events.Refused(f"Disconnected: idle for {timeout:g} s.")
        )
        self.close_as("idle", "idle timeout")

    def _write_changed(self) -> None:
        outbound = self._outbound
        assert outbound is not None
        write = outbound.write
        output_filter = self._filter
        if output_filter is not None:
            self.send = lambda data: write(output_filter(data))
        else:
            self.send = write

    def _queue_changed(self, nbytes: int, moved: bool) -> None:
        self._services.throttle.queued(self, nbytes, moved)

    def hit_limit(
        self,
        which: str,
        format: str,
        level: LogLevel = LogLevel.info,
        counted: bool = True,
        **fields: object,
    ) -> None:
        """
        Count a hit of the limit C{which} (unless not C{counted}: a
        disconnect reason counts it instead); log it unless that logs too
        much (L{LimitLog}). Front ends report their own limits here too.
        """
        if counted:
            self._services.limit_hits[which] += 1
        if self._logged is None:
            self._logged = {}
        self._services.limit_log.hit(
            self._logged, which, format, level, peer=self.peer, name=self.name, **fields
        )

    def _set_close_reason(self, reason: str, description: str) -> None:
        self._close_reason, self._close_description = reason, description

    def _overflowed(self) -> None:
        self.hit_limit(
            "max_queue",
            "{peer} ({name}) dropped: not reading, output queue over {limit} bytes",
            LogLevel.warn,
            limit=self._services.limits.max_queue,
        )
        self._closing = True
        self._set_close_reason("not_reading", "output queue full (not reading)")
        # Drop at once: what is buffered will never be read anyway.
        transport = self._transport
        getattr(transport, "abortConnection", transport.loseConnection)()
