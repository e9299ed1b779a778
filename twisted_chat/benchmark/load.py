"""
The load: N clients on one event loop, S of them sending M lines each (or
for a set time), all reading, every line stamped so delivery, order and
latency can be checked. With R rooms (C{--rooms}), client i joins room
C{i % R} before the load starts, and reads only its room's senders.

Receivers only record (arrival time, bytes) while the load runs; lines are
parsed afterwards (L{twisted_chat.benchmark.analysis}), so the load
generator spends its CPU on the sockets.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from twisted_chat.benchmark.clients import (
    LEAST_ROOM,
    LINE_OVERHEAD,
    PROBE,
    LoadClient,
    Recording,
)
from twisted_chat.benchmark.errors import BenchmarkError, describe, one_line
from twisted_chat.benchmark.spread import connect_spread, seen_everywhere
from twisted_chat.text import NOW_IN

#: CPU seconds used so far: (the server's, or None if unknown; ours).
CpuSample = tuple[float | None, float]

#: A stamped line, "@" sender "." sequence "." send time in ns "." padding
#: "$", without its padding and newline.
STAMP_LENGTH = len(b"@00000.000000000.0000000000000000000.$")
#: The largest sender number and sequence number a stamp holds.
MOST_SENDERS = 99_999
MOST_LINES = 999_999_999


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
    #: Seconds to keep sending for, instead of C{lines} lines each (0: off).
    duration: float = 0.0
    #: Bytes of what the readers receive that may be kept, in all.
    memory: int = 4 * 1024**3
    #: Rooms the clients are spread over (1: all stay where the server
    #: puts them, as for any chat server).
    rooms: int = 1
    #: The share of clients on the browser page's WebSocket, at
    #: C{web_host}:C{web_port} (L{twisted_chat.benchmark.websocket}).
    web_share: float = 0.0
    web_host: str = ""
    web_port: int = 0
    #: Linked daemons the clients are spread over, as (host, port)
    #: (L{twisted_chat.benchmark.spread}); empty: host:port alone.
    targets: list[tuple[str, int]] = field(default_factory=list)


def room_of(client: int, rooms: int) -> int:
    """The room client number C{client} is in (a sender's number is its client's)."""
    return client % rooms


def room_name(room: int) -> str:
    """What room number C{room} is called on the server (with C{--rooms} > 1)."""
    return f"bench-{room}"


def in_room(room: int, count: int, rooms: int) -> int:
    """How many of the first C{count} client numbers are in room C{room}."""
    return len(range(room, count, rooms))


def room_senders(plan: LoadPlan) -> list[int]:
    """How many senders each room has."""
    return [in_room(k, plan.senders, plan.rooms) for k in range(plan.rooms)]


def joined_answer(room: int) -> bytes:
    """
    How the server's answer to C{/join} starts (the count of people there
    follows): C{twisted_chat.text.NOW_IN}, the same line as after the greeting.
    """
    head = NOW_IN.template.partition("{count}")[0]
    return head.format(room=room_name(room)).encode()


def probe_line(token: bytes, room: int) -> bytes:
    """The probe line of one run (C{token}) in one room, newline included."""
    return PROBE + b"-" + token + b"-%d?\n" % room


@dataclass
class LoadResult:
    """Raw outcome, before analysis."""

    plan: LoadPlan
    connect_seconds: float
    connected: int
    #: Connect attempts made again, by the failure that ended the first one.
    connect_errors: dict[str, int]
    send_seconds: float
    window_seconds: float
    received: list[Recording] = field(default_factory=list)
    readers: list[int] = field(default_factory=list)
    #: Lines each sender sent.
    sent: list[int] = field(default_factory=list)
    #: What ended the sending: "lines" (all sent), "duration", "memory"
    #: (the readers' recordings filled) or "timeout".
    stopped_by: str = "lines"
    lost_connections: int = 0
    #: CPU used from the first line sent until every line arrived (or the
    #: deadline), as a percentage of one core: (server or None, load).
    cpu_percent: tuple[float | None, float | None] = (None, None)
    #: The same CPU use in seconds: (server or None, load).
    cpu_seconds: tuple[float | None, float | None] = (None, None)


def _closed_early(clients: list[LoadClient]) -> None:
    """A BenchmarkError if the server has closed any of C{clients}."""
    closed = sum(client.closed.done() for client in clients)
    if closed:
        raise BenchmarkError(
            f"the server closed {closed} of {len(clients)} connections "
            "before the load started"
        )


async def _join_rooms(
    clients: list[LoadClient],
    rooms: int,
    deadline: float,
    progress: Callable[[str], None] | None,
) -> None:
    """
    Client i sends C{/join bench-(i % rooms)} and waits for the server's
    answer (L{joined_answer}). A BenchmarkError if the server refuses one
    (an error line, "! ..."), relays the command as a chat line (it has no
    rooms), closes a connection, or has not answered them all by the
    deadline. Whatever the joins bring (who is there, a topic, history)
    arrives before the answer's probe line does, and so before recording.
    """
    for number, client in enumerate(clients):
        room = room_of(number, rooms)
        client.expect(joined_answer(room))
        await client.write(b"/join %s\n" % room_name(room).encode())
    last_report = time.monotonic()
    while True:
        waiting = [
            (number, client)
            for number, client in enumerate(clients)
            if not client.answered
        ]
        if not waiting:
            return
        _closed_early(clients)
        for number, client in waiting:
            said = _refusal(client.heard)
            if said is not None:
                raise BenchmarkError(
                    f"the server refused /join {room_name(room_of(number, rooms))}"
                    f" (client {number + 1}): {said}"
                )
        for client in clients:
            if b"/join " + room_name(0).encode() in client.heard:
                raise BenchmarkError(
                    "the server relayed /join as a chat line: it has no rooms "
                    "(--rooms needs a server with /join, such as twisted_chat)"
                )
        if time.monotonic() > deadline:
            number, client = waiting[0]
            last = _last_line(client.heard)
            raise BenchmarkError(
                f"{len(waiting)} of {len(clients)} clients had no answer to /join "
                f"by --timeout (client {number + 1}, for "
                f"#{room_name(room_of(number, rooms))}, last heard "
                + (repr(last) if last else "nothing")
                + ")"
            )
        if progress and time.monotonic() - last_report > 2:
            progress(f"{len(clients) - len(waiting)}/{len(clients)} clients in rooms")
            last_report = time.monotonic()
        await asyncio.sleep(0.05)


def _lines(heard: bytes) -> list[str]:
    return [
        one_line(line.decode("utf-8", "replace"))
        for line in heard.split(b"\n")
        if line.strip()
    ]


def _refusal(heard: bytes) -> str | None:
    """The first error line ("! ...") in what a client heard, if any."""
    return next((line for line in _lines(heard) if line.startswith("! ")), None)


def _last_line(heard: bytes) -> str:
    lines = _lines(heard)
    return lines[-1][:200] if lines else ""


async def _barrier(
    clients: list[LoadClient],
    rooms: int,
    deadline: float,
    node: int = 0,
    nodes: int = 1,
) -> None:
    """
    Until every client has seen a probe line from its room (the first
    client of each room on C{node} of C{nodes} sends them, see
    L{twisted_chat.benchmark.spread.node_of}), so all are in their rooms;
    a BenchmarkError if the server closes any connection first, or at the
    deadline.
    """
    token = os.urandom(4).hex().encode()
    groups = [clients[room::rooms] for room in range(rooms)]
    # The j-th client of a room is on node j mod nodes.
    groups = [
        [group[node], *group[:node], *group[node + 1 :]] if node < len(group) else group
        for group in groups
    ]
    for room, group in enumerate(groups):
        for client in group:
            client.probe = probe_line(token, room).rstrip(b"\n")
            client.probed = False
    while True:
        probing = [
            (room, group)
            for room, group in enumerate(groups)
            if not all(client.probed for client in group[1:])
        ]
        if not probing:
            return
        _closed_early(clients)
        if time.monotonic() > deadline:
            missing = sum(
                not client.probed for _, group in probing for client in group[1:]
            )
            where = "the room" if rooms == 1 else "their rooms"
            raise BenchmarkError(
                f"{missing} of {len(clients)} clients never joined {where} "
                "(no probe line reached them)"
            )
        for room, group in probing:
            await group[0].write(probe_line(token, room))
        await asyncio.sleep(0.2)


class _Stop:
    """Tells the senders to stop early; set when the readers' recordings fill."""

    def __init__(self) -> None:
        self.now = False
        self.at = 0.0

    def set(self) -> None:
        if not self.now:
            self.now, self.at = True, time.monotonic()


async def _send(
    client: LoadClient, sender: int, plan: LoadPlan, until: float, stop: _Stop
) -> int:
    """Send C{plan}'s lines, or for as long as it says; return how many were sent."""
    lines = MOST_LINES if plan.duration else plan.lines
    sequence = 0
    start = time.monotonic()
    while sequence < lines and time.monotonic() < until and not stop.now:
        if plan.rate:
            due = min(lines, int((time.monotonic() - start) * plan.rate) + 1)
            if due <= sequence:
                await asyncio.sleep(start + sequence / plan.rate - time.monotonic())
                continue
            count = due - sequence
        else:
            count = min(plan.batch, lines - sequence)
        await client.write(
            b"".join(
                stamped_line(sender, sequence + n, plan.size) for n in range(count)
            )
        )
        sequence += count
        if not plan.rate:
            await asyncio.sleep(0)  # let the readers in
    return sequence


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
    progress: Callable[[str], None] | None = None,
    sample_cpu: Callable[[], CpuSample] | None = None,
) -> LoadResult:
    """
    Connect, wait until all are in the room, send, collect; then close.
    C{sample_cpu}, if given, is read as sending starts and once every line
    has arrived, for the CPU shares in the result.

    Whatever fails raises L{BenchmarkError} naming the phase it failed in,
    with every connection closed.
    """
    deadline = time.monotonic() + plan.timeout
    started = time.monotonic()
    targets = plan.targets or [(plan.host, plan.port)]
    if plan.web_share:
        from twisted_chat.benchmark.websocket import connect_mixed

        connected = await connect_mixed(plan, deadline)
    else:
        connected = await connect_spread(targets, plan.clients, plan.rooms, deadline)
    clients = connected.clients
    phase = (
        "joining the rooms"
        if plan.rooms > 1
        else "waiting for every client to join the room"
    )
    try:
        connect_seconds = time.monotonic() - started
        if progress:
            progress(
                f"connected {len(clients)}/{plan.clients} in {connect_seconds:.2f} s"
                + (
                    f" ({connected.retries} attempts made again)"
                    if connected.retries
                    else ""
                )
            )
        if plan.rooms > 1:
            await _join_rooms(clients, plan.rooms, deadline, progress)
            phase = "waiting for every client to hear its room"
        if len(targets) > 1:
            phase = "waiting for every node to list every client"
            await seen_everywhere(clients, targets, plan.rooms, deadline, progress)
            phase = "waiting for every client to hear every node"
        await _barrier(clients, plan.rooms, deadline)
        for node in range(1, len(targets)):
            # Each room's probe lines from a client on each node in turn:
            # they reach the other nodes' clients through the link.
            await _barrier(clients, plan.rooms, deadline, node, len(targets))
        if progress:
            progress(
                "all clients are in the room; sending"
                if plan.rooms == 1
                else f"all clients are in their rooms ({plan.rooms}); sending"
            )
        phase = "sending"
        return await _load(
            plan,
            clients,
            connect_seconds,
            connected.retried,
            deadline,
            progress,
            sample_cpu,
        )
    except BenchmarkError:
        raise
    except Exception as error:
        raise BenchmarkError(f"{phase}: {describe(error)}") from error
    finally:
        for transport in connected.transports:
            transport.close()


async def _load(
    plan: LoadPlan,
    clients: list[LoadClient],
    connect_seconds: float,
    connect_errors: dict[str, int],
    deadline: float,
    progress: Callable[[str], None] | None,
    sample_cpu: Callable[[], CpuSample] | None,
) -> LoadResult:
    """Send, and wait until every reader has every line or the deadline passes."""
    senders = clients[: plan.senders]
    # The non-readers are the last clients, never senders.
    readers = clients[: len(clients) - plan.nonreaders]
    nonreaders = clients[len(readers) :]
    stop = _Stop()
    if progress and plan.duration and not plan.rate:
        progress(
            f"keeping up to {plan.memory // 2**20} MiB of what arrives (--memory); "
            "the senders stop early if it fills"
        )
    _prepare_recordings(plan, clients, senders, readers, stop)
    for client in nonreaders:
        assert client.transport is not None
        client.transport.pause_reading()
    cpu_before = sample_cpu() if sample_cpu else None
    send_start = time.monotonic()
    until = min(deadline, send_start + plan.duration) if plan.duration else deadline
    sent = await asyncio.gather(
        *(_send(c, i, plan, until, stop) for i, c in enumerate(senders))
    )
    send_seconds = time.monotonic() - send_start
    if time.monotonic() >= deadline:
        stopped_by = "timeout"
    elif plan.duration:
        stopped_by = "memory" if stop.now and stop.at < until else "duration"
    else:
        stopped_by = "lines"
    if progress:
        if stopped_by == "memory":
            progress(
                f"stopped sending after {send_seconds:.2f} s: the readers' "
                f"recordings are full ({plan.memory // 2**20} MiB, --memory)"
            )
        progress(f"sent in {send_seconds:.2f} s; waiting for deliveries")
    # A reader expects every line of every sender in its room but itself.
    in_rooms = [0] * plan.rooms
    for number, lines in enumerate(sent):
        in_rooms[room_of(number, plan.rooms)] += lines
    expected = {
        id(c): in_rooms[room_of(number, plan.rooms)]
        - (sent[number] if number < len(sent) else 0)
        for number, c in enumerate(readers)
    }
    last_report = time.monotonic()
    while time.monotonic() < deadline:
        done = sum(c.stamps >= expected[id(c)] for c in readers)
        if done == len(readers):
            break
        if progress and time.monotonic() - last_report > 2:
            progress(f"{done}/{len(readers)} readers complete")
            last_report = time.monotonic()
        await asyncio.sleep(0.05)
    if any(c.stamps > expected[id(c)] for c in readers):
        # More than was owed (doubled lines, or another room's): a count
        # reached early says nothing of what is still on its way.
        await _settle(readers, deadline)
    cpu_percent: tuple[float | None, float | None] = (None, None)
    cpu_seconds: tuple[float | None, float | None] = (None, None)
    if sample_cpu and cpu_before:
        cpu_after = sample_cpu()
        cpu_percent = _cpu_percent(cpu_before, cpu_after, time.monotonic() - send_start)
        cpu_seconds = (
            None
            if cpu_before[0] is None or cpu_after[0] is None
            else round(cpu_after[0] - cpu_before[0], 3),
            round(cpu_after[1] - cpu_before[1], 3),
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
    return LoadResult(
        plan=plan,
        connect_seconds=connect_seconds,
        connected=len(clients),
        connect_errors=connect_errors,
        send_seconds=send_seconds,
        window_seconds=window,
        received=[c.recording or Recording(0) for c in readers],
        readers=list(range(len(readers))),
        sent=list(sent),
        stopped_by=stopped_by,
        lost_connections=sum(c.closed.done() for c in clients),
        cpu_percent=cpu_percent,
        cpu_seconds=cpu_seconds,
    )


#: Seconds without a stamped line arriving after which the flow has settled.
SETTLE_SECONDS = 0.25


async def _settle(readers: list[LoadClient], deadline: float) -> None:
    """Until no stamped line has arrived for SETTLE_SECONDS, or the deadline."""
    count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = sum(c.stamps for c in readers)
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since >= SETTLE_SECONDS:
            return
        await asyncio.sleep(0.05)


def recording_bytes(plan: LoadPlan) -> int | None:
    """
    What the readers' recordings take, in all: known for a count of lines,
    or for a set time at a rate (with an eighth more, see
    L{_prepare_recordings}); None for a set time flat out, which takes
    C{plan.memory}. Each reader hears the senders of its own room.
    """
    if plan.duration and not plan.rate:
        return None
    readers = plan.clients - plan.nonreaders
    lines = int(plan.rate * plan.duration) + 1 if plan.duration else plan.lines
    total = 0
    for room, senders in enumerate(room_senders(plan)):
        per_reader = (plan.size + LINE_OVERHEAD) * senders * lines
        if plan.duration:
            per_reader = per_reader * 9 // 8 + LEAST_ROOM
        total += per_reader * in_room(room, readers, plan.rooms)
    return total


def _prepare_recordings(
    plan: LoadPlan,
    clients: list[LoadClient],
    senders: list[LoadClient],
    readers: list[LoadClient],
    stop: _Stop,
) -> None:
    """Every client's recording buffer, made ready before the load starts."""
    per_line = plan.size + LINE_OVERHEAD
    reading = {id(c) for c in readers}
    heard = room_senders(plan)  # how many senders each reader hears, by room
    if plan.duration:
        # Every reader of a room receives about the same, so each gets a
        # share in proportion to its room's senders (with one room, equal
        # shares). The senders stop once any share is eight ninths full
        # (never, at a rate, for which a share holds an eighth more than the
        # rate sends); the last ninth takes in what is still on its way.
        kept = min(plan.memory, recording_bytes(plan) or plan.memory)
        weight = sum(heard[room_of(n, plan.rooms)] for n in range(len(readers)))
        for number, client in enumerate(clients):
            if id(client) in reading:
                share = kept * heard[room_of(number, plan.rooms)] // max(1, weight)
                client.record(share, share // 9, stop.set)
            else:
                client.record(LEAST_ROOM)
        return
    total = sum(plan.lines * heard[room_of(n, plan.rooms)] for n in range(len(readers)))
    budget = min(1.0, plan.memory / max(1, per_line * total))
    for number, client in enumerate(clients):
        # What it expects, and a little: 10,000 idle clients need 40 MB, not GBs.
        room = room_of(number, plan.rooms)
        expected = plan.lines * (heard[room] - (client in senders))
        if id(client) not in reading:
            expected = 0
        client.record(int(expected * per_line * budget) + LEAST_ROOM)
