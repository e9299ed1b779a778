"""
One connection to Redis: commands pipelined, replies matched in order.

Redis answers a connection's commands in the order sent, so each command
appends a Deferred to a queue and each reply fires the oldest. A subscriber
connection also receives pushed messages, which go to its C{on_message}.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.interfaces import IConsumer, IPushProducer
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_chat.backplane.resp import (
    Arg,
    ProtocolError,
    RedisError,
    Reply,
    ReplyParser,
    encode_command,
)

__all__ = ["LinkDown", "MessageHandler", "RespConnection"]

log = Logger()

#: Called with (channel, payload) for each message pushed to a subscriber.
MessageHandler = Callable[[bytes, bytes], None]


class LinkDown(Exception):
    """The command was not answered: the link to Redis is down."""


@implementer(IPushProducer)
class RespConnection(Protocol):
    """
    A RESP2 connection. It registers itself as its transport's producer, to
    learn when the transport's write buffer is full (L{write_paused}).
    """

    def __init__(
        self,
        name: str,
        parser: ReplyParser,
        on_message: MessageHandler | None = None,
        on_pause: Callable[[bool], None] | None = None,
    ) -> None:
        self.name = name  # the address as it may be logged, for log lines
        self._parser = parser
        self._waiting: deque[Deferred[Reply]] = deque()
        self._on_message = on_message
        self._on_pause = on_pause
        self._broken = False
        #: Why it is being closed has been logged already.
        self.said_why = False
        self.write_paused = False
        #: Fires with None once the connection is lost.
        self.lost: Deferred[None] = Deferred()
        self.lost_reason: Failure | None = None

    @property
    def inflight(self) -> int:
        """Commands sent whose replies have not come back."""
        return len(self._waiting)

    def connectionMade(self) -> None:
        IConsumer(self.transport).registerProducer(self, True)

    def dataReceived(self, data: bytes) -> None:
        if self._broken:
            return
        try:
            replies = self._parser.feed(data)
        except ProtocolError as error:
            self.fail(f"{error}")
            return
        for reply in replies:
            if self._broken:
                return
            self._dispatch(reply)

    def fail(self, problem: str) -> None:
        """Log C{problem} in one line and drop the connection at once."""
        if self._broken:
            return
        self._broken = True
        self.said_why = True
        log.error(
            "redis at {address}: {problem}; closing the connection",
            address=self.name,
            problem=problem,
        )
        self.abort()

    def abort(self) -> None:
        """Drop the connection without waiting for the write buffer."""
        if self.transport is not None:
            IConsumer(self.transport).unregisterProducer()
            self.transport.abortConnection()  # type: ignore[attr-defined]

    def close(self) -> None:
        """Close once what was written is sent."""
        if self.transport is not None:
            # A TLS transport does not close while a producer is registered.
            IConsumer(self.transport).unregisterProducer()
            self.transport.loseConnection()

    def _dispatch(self, reply: Reply) -> None:
        if (
            self._on_message is not None
            and isinstance(reply, list)
            and len(reply) == 3
            and reply[0] == b"message"
        ):
            channel, payload = reply[1], reply[2]
            if isinstance(channel, bytes) and isinstance(payload, bytes):
                try:
                    self._on_message(channel, payload)
                except Exception:
                    log.failure("a redis message handler failed")
                return
        if not self._waiting:
            self.fail("a reply to no command")
            return
        waiting = self._waiting.popleft()
        if isinstance(reply, RedisError):
            waiting.errback(reply)
        else:
            waiting.callback(reply)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._broken = True
        self.lost_reason = reason
        waiting, self._waiting = self._waiting, deque()
        for unanswered in waiting:
            unanswered.errback(LinkDown("the connection was lost before the reply"))
        if self.write_paused:
            self.resumeProducing()
        self.lost.callback(None)

    def command(self, *args: Arg) -> Deferred[Reply]:
        """Send one command; fires with its reply, fails with L{RedisError}."""
        return self.pipeline([args])[0]

    def pipeline(self, commands: Sequence[Sequence[Arg]]) -> list[Deferred[Reply]]:
        """Send several commands in one write; one Deferred each."""
        if self._broken or self.transport is None:
            raise LinkDown("the connection is closed")
        data = b"".join(encode_command(args) for args in commands)
        answers: list[Deferred[Reply]] = [Deferred() for _ in commands]
        self._waiting.extend(answers)
        self.transport.write(data)
        return answers

    def subscribe(self, channels: Sequence[bytes]) -> Deferred[list[Reply]]:
        """SUBSCRIBE: Redis confirms each channel with a reply of its own."""
        if self._broken or self.transport is None:
            raise LinkDown("the connection is closed")
        answers: list[Deferred[Reply]] = [Deferred() for _ in channels]
        self._waiting.extend(answers)
        self.transport.write(encode_command([b"SUBSCRIBE", *channels]))
        return gatherResults(answers, consumeErrors=True)

    # IPushProducer: the transport calls pauseProducing on every write while
    # its buffer is full, so only the edges are passed on.
    def pauseProducing(self) -> None:
        if not self.write_paused:
            self.write_paused = True
            if self._on_pause is not None:
                self._on_pause(True)

    def resumeProducing(self) -> None:
        if self.write_paused:
            self.write_paused = False
            if self._on_pause is not None:
                self._on_pause(False)

    def stopProducing(self) -> None:
        pass
