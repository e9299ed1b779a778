"""
Connecting many clients to a server with a small listen backlog.

A connect completes as soon as the kernel has queued the connection, well
before the server accepts it; when the queue is full the kernel drops the
next SYN and retries it only after a second, then three, then seven. Left
to itself, a burst of connects to a server with a backlog of 10 takes tens
of seconds. So at most L{IN_FLIGHT} connects are under way at once (fewer
than such a backlog, so handshakes never overflow it), an attempt that has
no answer within L{ATTEMPT_SECONDS} is given up and made again, and one
refused or reset is made again after a back-off that doubles up to
L{LONGEST_BACKOFF}.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from twisted_chat.benchmark.errors import BenchmarkError, describe

P = TypeVar("P", bound=asyncio.BaseProtocol)

#: Connects under way at once: below the classic listen backlog of 10.
IN_FLIGHT = 8
#: An attempt with no answer by then is taken for a SYN the server's full
#: queue dropped; a connect on loopback otherwise takes microseconds.
ATTEMPT_SECONDS = 0.05
#: The first connect, which tells whether anything listens at all.
FIRST_ATTEMPT_SECONDS = 5.0
FIRST_BACKOFF = 0.005
LONGEST_BACKOFF = 0.5
#: Failures that a busy server causes, and that are worth another attempt.
RETRIED = (TimeoutError, ConnectionRefusedError, ConnectionResetError)


@dataclass
class Connected(Generic[P]):
    """The clients connected, in order, and the attempts that had to be made again."""

    clients: list[P] = field(default_factory=list)
    transports: list[asyncio.BaseTransport] = field(default_factory=list)
    retried: dict[str, int] = field(default_factory=dict)

    @property
    def retries(self) -> int:
        return sum(self.retried.values())


def where(host: str, port: int) -> str:
    """C{host}:C{port} as people write it, an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def resolve(host: str, port: int) -> tuple[int, tuple[Any, ...]]:
    """(address family, socket address) for C{host}:C{port}, or BenchmarkError."""
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )[0]
    except (OSError, UnicodeError) as error:
        raise BenchmarkError(f"cannot resolve {host}: {describe(error)}") from None
    return family, tuple(address)


async def connect_all(
    host: str,
    port: int,
    count: int,
    make_protocol: Callable[[], P],
    deadline: float,
) -> Connected[P]:
    """
    C{count} connections to C{host}:C{port}, each with a protocol from
    C{make_protocol}, paced as the module describes, by the monotonic
    C{deadline} at the latest.

    Raises L{BenchmarkError}, with one line saying what failed, if the first
    connect fails (nothing listens there), if a connect fails in a way that
    another attempt cannot mend (out of descriptors, say), or if not all
    C{count} are connected by the deadline.
    """
    loop = asyncio.get_running_loop()
    family, address = resolve(host, port)
    target = where(host, port)
    outcome: Connected[P] = Connected()

    async def attempt(seconds: float) -> None:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(seconds):
                # A socket of our own: no name lookup per connection.
                await loop.sock_connect(sock, address)
            transport, protocol = await loop.create_connection(make_protocol, sock=sock)
        except BaseException:
            sock.close()
            raise
        outcome.transports.append(transport)
        outcome.clients.append(protocol)

    try:
        await attempt(FIRST_ATTEMPT_SECONDS)
    except TimeoutError:
        raise BenchmarkError(
            f"cannot connect to {target}: no answer within {FIRST_ATTEMPT_SECONDS:g} s"
        ) from None
    except OSError as error:
        raise BenchmarkError(f"cannot connect to {target}: {describe(error)}") from None

    remaining = iter(range(1, count))

    async def connector() -> None:
        for number in remaining:
            backoff = FIRST_BACKOFF
            while True:
                try:
                    await attempt(ATTEMPT_SECONDS)
                    break
                except RETRIED as error:
                    name = type(error).__name__
                    outcome.retried[name] = outcome.retried.get(name, 0) + 1
                except OSError as error:
                    raise BenchmarkError(
                        f"connecting client {number + 1} of {count} to {target}: "
                        f"{describe(error)}"
                    ) from None
                if time.monotonic() + backoff > deadline:
                    return
                await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
                backoff = min(2 * backoff, LONGEST_BACKOFF)

    workers = [asyncio.ensure_future(connector()) for _ in range(IN_FLIGHT)]
    try:
        try:
            async with asyncio.timeout_at(_loop_time(loop, deadline)):
                await asyncio.gather(*workers)
        except TimeoutError:
            pass
        if len(outcome.clients) < count:
            retried = ", ".join(
                f"{name} x {times}" for name, times in sorted(outcome.retried.items())
            )
            raise BenchmarkError(
                f"only {len(outcome.clients)} of {count} clients connected to "
                f"{target} in time (attempts made again: {retried or 'none'})"
            )
    except BaseException:
        for worker in workers:
            worker.cancel()
        for transport in outcome.transports:
            transport.close()
        raise
    return outcome


def _loop_time(loop: asyncio.AbstractEventLoop, deadline: float) -> float:
    """The event loop's clock reading at the monotonic C{deadline}."""
    return loop.time() + (deadline - time.monotonic())
