"""
After the load: every line each reader received, checked against what the
senders sent. Nothing here runs while the load does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import groupby
from operator import itemgetter, lt
from typing import Any

from twisted_chat.benchmark.clients import Recording
from twisted_chat.benchmark.load import (
    STAMP_LENGTH,
    LoadResult,
    in_room,
    room_name,
    room_of,
)

#: A stamped line: "@" sender "." sequence "." send time in ns "." padding "$".
STAMP = re.compile(rb"@(\d{5})\.(\d{9})\.(\d{19})\.(x*)\$")

#: (sender, sequence, send time in ns), as the digits of a stamp.
Stamp = tuple[bytes, bytes, bytes]


def percentile(ordered: Sequence[float], share: float) -> float | None:
    """The value below which C{share} of C{ordered} lies (nearest rank)."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class RoomCounts:
    """What one room's readers were owed and received (see L{analyse})."""

    #: Its name on the server; None with one room (wherever the server put all).
    room: str | None
    clients: int
    senders: int
    readers: int = 0
    expected: int = 0
    deliveries: int = 0
    lost: int = 0
    duplicate: int = 0
    out_of_order: int = 0
    corrupt: int = 0
    #: Intact lines from a sender not in this room.
    foreign: int = 0


#: What is counted for each room, and added up for the run.
COUNTS = ("expected", "lost", "duplicate", "out_of_order", "corrupt", "foreign")


def analyse(result: LoadResult) -> dict[str, Any]:
    """
    Deliveries, losses, duplicates, reordering, corruption, crosstalk and
    latency, in all and for each room.

    Every reader is owed each line of every sender in its room but itself
    (with one room: of every sender): all C{plan.lines} of them, or with
    C{plan.duration} as many as the sender sent. A line is delivered each
    time it arrives intact from a sender of the reader's room, so
    C{deliveries - duplicate + lost == expected} unless a reader is sent
    its own lines. An intact line from any other sender (another room's,
    or one this run does not have) is foreign: counted as such, and
    neither a delivery nor a latency. A line that holds an "@" but no
    intact stamp is corrupt; one without an "@" (a join, a notice, a probe)
    is not counted. A line is out of order when its sequence number is
    below that of the line from the same sender that reached the same
    reader just before it.
    """
    plan = result.plan
    rooms = plan.rooms
    padding = plan.size - STAMP_LENGTH - 1
    owed = result.sent if plan.duration else [plan.lines] * plan.senders
    # Each room's senders, by their stamps' digits.
    members: list[set[bytes]] = [set() for _ in range(rooms)]
    for number in range(plan.senders):
        members[room_of(number, rooms)].add(b"%05d" % number)
    latencies: list[int] = []  # in ns
    by_room = [
        RoomCounts(
            room_name(room) if rooms > 1 else None,
            in_room(room, plan.clients, rooms),
            len(members[room]),
        )
        for room in range(rooms)
    ]
    for reader, recording in zip(result.readers, result.received, strict=True):
        room = room_of(reader, rooms)
        counts = by_room[room]
        counts.readers += 1
        own = members[room]
        stamps: list[Stamp] = []
        heard: list[int] = []  # in ns
        for arrival, found, broken in _stamps(recording, padding):
            counts.corrupt += broken
            stamps += found
            heard += [arrival - int(sent) for _, _, sent in found]
        # Stable: each sender's lines stay in the order they arrived in.
        # Sequence numbers are compared as their digits, all of one width.
        stamps.sort(key=_sender)
        received: dict[int, int] = {}
        foreign = 0
        for sender, lines in groupby(stamps, _sender):
            sequences = list(map(_sequence, lines))
            if sender not in own:
                foreign += len(sequences)
                continue
            unique = len(set(sequences))
            counts.duplicate += len(sequences) - unique
            counts.out_of_order += sum(map(lt, sequences[1:], sequences))
            received[int(sender)] = unique
        if foreign:  # crosstalk, rare: their latencies are not deliveries'
            counts.foreign += foreign
            heard = [
                arrival - int(sent)
                for arrival, found, _ in _stamps(recording, padding)
                for sender, _, sent in found
                if sender in own
            ]
        counts.deliveries += len(heard)
        latencies += heard
        for number, lines_owed in enumerate(owed):
            if number != reader and room_of(number, rooms) == room:
                counts.expected += lines_owed
                counts.lost += lines_owed - received.get(number, 0)
    latencies.sort()
    deliveries = len(latencies)

    def ms(ns: float | None) -> float | None:
        return None if ns is None else ns / 1e6

    return {
        **{key: sum(getattr(c, key) for c in by_room) for key in COUNTS},
        "deliveries": deliveries,
        "deliveries_per_second": round(deliveries / result.window_seconds)
        if result.window_seconds
        else 0,
        "latency_ms": {
            "p50": ms(percentile(latencies, 0.50)),
            "p90": ms(percentile(latencies, 0.90)),
            "p99": ms(percentile(latencies, 0.99)),
            "max": ms(latencies[-1] if latencies else None),
        },
        "rooms": [asdict(counts) for counts in by_room],
    }


_sender = itemgetter(0)
_sequence = itemgetter(1)


def _stamps(
    recording: Recording, padding: int
) -> Iterator[tuple[int, list[Stamp], int]]:
    """
    For each read that ended at least one line: its arrival time, the
    intact stamps of the lines it ended, in order, and how many of those
    lines were corrupt.

    Where every "@" in those lines starts an intact stamp that ends its
    line, one C{findall} over the buffer finds them all; anywhere else the
    lines are looked at one by one.
    """
    intact = re.compile(rb"@(\d{5})\.(\d{9})\.(\d{19})\.x{%d}\$\r?\n" % padding)
    buffer = recording.buffer
    start = 0  # where the first line not yet looked at begins
    for arrival, end in recording.reads:
        stop = buffer.rfind(b"\n", start, end) + 1
        if stop <= start:
            continue  # no line ends in this read
        found: list[Stamp] = intact.findall(buffer, start, stop)
        if len(found) == buffer.count(b"@", start, stop):
            yield arrival, found, 0
        else:
            yield arrival, *_line_by_line(bytes(buffer[start:stop]), padding)
        start = stop


def _line_by_line(lines: bytes, padding: int) -> tuple[list[Stamp], int]:
    """The intact stamps of these complete lines, and how many are corrupt."""
    stamps: list[Stamp] = []
    corrupt = 0
    for line in lines.split(b"\n")[:-1]:
        if b"@" not in line:
            continue
        match = STAMP.search(line)
        if match is None or len(match.group(4)) != padding:
            corrupt += 1
        else:
            stamps.append((match.group(1), match.group(2), match.group(3)))
    return stamps, corrupt
