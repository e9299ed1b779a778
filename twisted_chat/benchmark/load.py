"""
The load: N clients on one event loop, S of them sending M lines each, all
reading, every line stamped so delivery, order and latency can be checked.

Receivers only record (arrival time, bytes) while the load runs; lines are
parsed afterwards, so the load generator spends its CPU on the sockets.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

#: CPU seconds used so far: (the server's, or None if unknown; ours).
CpuSample = tuple[float | None, float]

#: A stamped line: "@" sender "." sequence "." send time in ns "." padding "$".
STAMP = re.compile(rb"@(\d{5})\.(\d{9})\.(\d{19})\.(x*)\$")
STAMP_LENGTH = len(b"@00000.000000000.0000000000000000000.$")
PROBE = b"?barrier?"


def stamped_line(sender: int, sequence: int, size: int) -> bytes:
    """One line of exactly C{size} bytes, newline included."""
    padding = b"x" * (size - STAMP_LENGTH - 1)
    return b"@%05d.%09d.%019d.%s$\n" % (sender, sequence, time.monotonic_ns(), padding)


@dataclass
class LoadPlan:
    """What to run."""

    host: str
    port: int
    clients: int
    senders: int
    lines: int
    size: int = 64
    #: Lines per second per sender; 0 sends as fast as the server takes them.
    rate: float = 0.0
    #: Lines per write when sending flat out; the sender yields to the
    #: readers after each write.
    batch: int = 4
    #: Clients (not senders) that stop reading once the load starts.
    nonreaders: int = 0
    timeout: float = 120.0


class Recording:
    """
    What one client received while the load ran: the bytes, in one buffer
    allocated (and its memory touched) before the load starts, and the
    arrival time of each read. Receiving then costs no allocation and no
    page fault, so the load generator measures the server, not its own
    memory.
    """

    def __init__(self, capacity: int) -> None:
        self.buffer = bytearray(capacity)  # zero-filled: every page touched
        self.filled = 0
        #: (arrival in ns, end offset in the buffer) for each read.
        self.reads: list[tuple[int, int]] = []

    def space(self) -> memoryview:
        """Room for the next read, growing the buffer if it runs short."""
        if len(self.buffer) - self.filled < LEAST_ROOM:
            # A new buffer, not a resize: the event loop may still hold a
            # view of the old one.
            grown = bytearray(max(2 * len(self.buffer), self.filled + GROWTH))
            grown[: self.filled] = self.buffer[: self.filled]
            self.buffer = grown
        return memoryview(self.buffer)[self.filled :]

    def add(self, nbytes: int) -> int:
        """Account for C{nbytes} just read into L{space}; return its '@' count."""
        start, self.filled = self.filled, self.filled + nbytes
        self.reads.append((time.monotonic_ns(), self.filled))
        return self.buffer.count(b"@", start, self.filled)

    @property
    def last_arrival(self) -> int | None:
        return self.reads[-1][0] if self.reads else None

    def chunks(self) -> Iterator[tuple[int, bytes]]:
        """(arrival, bytes) for each read, in order."""
        start = 0
        for arrival, end in self.reads:
            yield arrival, bytes(self.buffer[start:end])
            start = end


#: The least free space offered for one read, in bytes; when less is left,
#: the buffer grows by at least GROWTH bytes.
LEAST_ROOM = 4096
GROWTH = 256 * 1024
#: What a server may add to each line it relays (a "<name> " prefix, CR).
LINE_OVERHEAD = 24
#: Bytes of recording buffers made ready in advance, at most, in all.
RECORDING_BUDGET = 4 * 1024**3


# Where clients not yet recording read into: one buffer for all, since each
# read is looked at as soon as it lands (10,000 clients need no 64 KiB each).
_SCRATCH = bytearray(64 * 1024)
_SCRATCH_VIEW = memoryview(_SCRATCH)


class LoadClient(asyncio.BufferedProtocol):
    """One connection: records what arrives, and exposes write back-pressure."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.recording: Recording | None = None
        self.stamps = 0  # stamped lines received, counted by their "@"
        self.probed = False
        self.closed = asyncio.get_running_loop().create_future()
        self._writable = asyncio.Event()
        self._writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without being one.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=64 * 1024)

    def record(self, capacity: int) -> None:
        """From now on keep everything received, expecting about C{capacity} bytes."""
        self.recording = Recording(capacity)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.recording is not None:
            return self.recording.space()
        return _SCRATCH_VIEW

    def buffer_updated(self, nbytes: int) -> None:
        if self.recording is not None:
            self.stamps += self.recording.add(nbytes)
        elif PROBE in _SCRATCH[:nbytes]:
            self.probed = True

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._writable.set()
        if not self.closed.done():
            self.closed.set_result(exc)

    async def write(self, data: bytes) -> None:
        """Write, then wait while the kernel and our buffer are full."""
        assert self.transport is not None
        self.transport.write(data)
        await self._writable.wait()


@dataclass
class LoadResult:
    """Raw outcome, before analysis."""

    plan: LoadPlan
    connect_seconds: float
    connected: int
    connect_errors: dict[str, int]
    send_seconds: float
    window_seconds: float
    received: list[Recording] = field(default_factory=list)
    readers: list[int] = field(default_factory=list)
    lost_connections: int = 0
    #: CPU used from the first line sent until every line arrived (or the
    #: deadline), as a percentage of one core: (server or None, load).
    cpu_percent: tuple[float | None, float | None] = (None, None)


async def _connect_all(plan: LoadPlan) -> tuple[list[LoadClient], dict[str, int]]:
    """Connect C{plan.clients}, a few at a time so the listen backlog keeps up."""
    loop = asyncio.get_running_loop()
    clients: list[LoadClient] = []
    errors: dict[str, int] = {}
    remaining = iter(range(plan.clients))
    family, _, _, _, address = socket.getaddrinfo(
        plan.host, plan.port, type=socket.SOCK_STREAM
    )[0]

    async def connector() -> None:
        for _ in remaining:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                # A socket of our own: no name lookup per connection.
                await loop.sock_connect(sock, address)
                _, client = await loop.create_connection(LoadClient, sock=sock)
            except OSError as error:
                sock.close()
                name = type(error).__name__
                errors[name] = errors.get(name, 0) + 1
            else:
                clients.append(client)

    await asyncio.wait_for(
        asyncio.gather(*(connector() for _ in range(min(8, plan.clients)))),
        plan.timeout,
    )
    return clients, errors


async def _barrier(clients: list[LoadClient], deadline: float) -> None:
    """Until every client has seen a probe line, so all are in the room."""
    prober, others = clients[0], clients[1:]
    while not all(client.probed for client in others):
        if time.monotonic() > deadline:
            missing = sum(not client.probed for client in others)
            raise TimeoutError(f"{missing} clients never joined the room")
        await prober.write(PROBE + b"\n")
        await asyncio.sleep(0.2)


async def _send(
    client: LoadClient, sender: int, plan: LoadPlan, deadline: float
) -> None:
    sequence = 0
    start = time.monotonic()
    while sequence < plan.lines and time.monotonic() < deadline:
        if plan.rate:
            due = min(plan.lines, int((time.monotonic() - start) * plan.rate) + 1)
            if due <= sequence:
                await asyncio.sleep(start + sequence / plan.rate - time.monotonic())
                continue
            count = due - sequence
        else:
            count = min(plan.batch, plan.lines - sequence)
        await client.write(
            b"".join(
                stamped_line(sender, sequence + n, plan.size) for n in range(count)
            )
        )
        sequence += count
        if not plan.rate:
            await asyncio.sleep(0)  # let the readers in


def _cpu_percent(
    before: CpuSample, after: CpuSample, seconds: float
) -> tuple[float | None, float | None]:
    if seconds <= 0:
        return None, None
    server = (
        None
        if before[0] is None or after[0] is None
        else round(100 * (after[0] - before[0]) / seconds, 1)
    )
    return server, round(100 * (after[1] - before[1]) / seconds, 1)


async def run_load(
    plan: LoadPlan,
    progress: Any = None,
    sample_cpu: Callable[[], CpuSample] | None = None,
) -> LoadResult:
    """
    Connect, wait until all are in the room, send, collect; then close.
    C{sample_cpu}, if given, is read as sending starts and once every line
    has arrived, for the CPU shares in the result.
    """
    deadline = time.monotonic() + plan.timeout
    started = time.monotonic()
    clients, errors = await _connect_all(plan)
    connect_seconds = time.monotonic() - started
    if progress:
        progress(f"connected {len(clients)}/{plan.clients} in {connect_seconds:.2f} s")
    if len(clients) < max(2, plan.senders + 1):
        raise RuntimeError(f"only {len(clients)} clients connected: {errors}")
    await _barrier(clients, deadline)
    if progress:
        progress("all clients are in the room; sending")
    senders = clients[: plan.senders]
    nonreaders = clients[len(clients) - plan.nonreaders :] if plan.nonreaders else []
    readers = [c for c in clients if c not in nonreaders]
    # A reader expects every line of every sender but itself.
    total = plan.senders * plan.lines
    expected = {id(c): total - (plan.lines if c in senders else 0) for c in readers}
    per_line = plan.size + LINE_OVERHEAD
    budget = min(1.0, RECORDING_BUDGET / max(1, per_line * total * len(readers)))
    for client in clients:
        # What it expects, and a little: 10,000 idle clients need 40 MB, not GBs.
        client.record(int(expected.get(id(client), 0) * per_line * budget) + LEAST_ROOM)
    for client in nonreaders:
        assert client.transport is not None
        client.transport.pause_reading()
    cpu_before = sample_cpu() if sample_cpu else None
    send_start = time.monotonic()
    await asyncio.gather(*(_send(c, i, plan, deadline) for i, c in enumerate(senders)))
    send_seconds = time.monotonic() - send_start
    if progress:
        progress(f"sent in {send_seconds:.2f} s; waiting for deliveries")
    last_report = time.monotonic()
    while time.monotonic() < deadline:
        done = sum(c.stamps >= expected[id(c)] for c in readers)
        if done == len(readers):
            break
        if progress and time.monotonic() - last_report > 2:
            progress(f"{done}/{len(readers)} readers complete")
            last_report = time.monotonic()
        await asyncio.sleep(0.05)
    cpu_percent: tuple[float | None, float | None] = (None, None)
    if sample_cpu and cpu_before:
        cpu_percent = _cpu_percent(
            cpu_before, sample_cpu(), time.monotonic() - send_start
        )
    # From the first line sent to the last stamped line received: the
    # arrival times are exact, unlike this loop's 50 ms polling.
    last_arrival = (
        max(
            (c.recording.last_arrival or 0 for c in readers if c.recording),
            default=0,
        )
        or time.monotonic_ns()
    )
    window = max(last_arrival / 1e9 - send_start, 1e-9)
    lost_connections = sum(c.closed.done() for c in clients)
    for client in clients:
        assert client.transport is not None
        client.transport.close()
    return LoadResult(
        plan=plan,
        connect_seconds=connect_seconds,
        connected=len(clients),
        connect_errors=errors,
        send_seconds=send_seconds,
        window_seconds=window,
        received=[c.recording or Recording(0) for c in readers],
        readers=[clients.index(c) for c in readers],
        lost_connections=lost_connections,
        cpu_percent=cpu_percent,
    )


def percentile(ordered: list[float], share: float) -> float | None:
    """The value below which C{share} of C{ordered} lies (nearest rank)."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def analyse(result: LoadResult) -> dict[str, Any]:
    """Deliveries, losses, duplicates, reordering, corruption and latency."""
    plan = result.plan
    padding = plan.size - STAMP_LENGTH - 1
    latencies: list[float] = []
    lost = duplicates = reordered = corrupt = 0
    for reader, received in zip(result.readers, result.received, strict=True):
        seen: dict[int, set[int]] = {}
        last: dict[int, int] = {}
        for arrival, line in _lines(received.chunks()):
            if b"@" not in line:
                continue  # joins, notices, probes
            match = STAMP.search(line)
            if match is None or len(match.group(4)) != padding:
                corrupt += 1
                continue
            sender, sequence = int(match.group(1)), int(match.group(2))
            latencies.append((arrival - int(match.group(3))) / 1e6)
            numbers = seen.setdefault(sender, set())
            if sequence in numbers:
                duplicates += 1
            numbers.add(sequence)
            if sequence < last.get(sender, -1):
                reordered += 1
            last[sender] = sequence
        for sender in range(plan.senders):
            if sender != reader:
                lost += plan.lines - len(seen.get(sender, ()))
    latencies.sort()
    deliveries = len(latencies)
    return {
        "deliveries": deliveries,
        "deliveries_per_second": round(deliveries / result.window_seconds)
        if result.window_seconds
        else 0,
        "latency_ms": {
            "p50": percentile(latencies, 0.50),
            "p90": percentile(latencies, 0.90),
            "p99": percentile(latencies, 0.99),
            "max": latencies[-1] if latencies else None,
        },
        "lost": lost,
        "duplicate": duplicates,
        "out_of_order": reordered,
        "corrupt": corrupt,
    }


def _lines(chunks: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    """(arrival of its last byte, line) for each complete line."""
    partial = b""
    for arrival, chunk in chunks:
        pieces = (partial + chunk).split(b"\n")
        partial = pieces.pop()
        for piece in pieces:
            yield arrival, piece
