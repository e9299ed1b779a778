"""
After the load: every line each reader received, checked against what the
senders sent. Nothing here runs while the load does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from itertools import groupby
from operator import itemgetter, lt
from typing import Any

from twisted_chat.benchmark.clients import Recording
from twisted_chat.benchmark.load import STAMP_LENGTH, LoadResult

#: A stamped line: "@" sender "." sequence "." send time in ns "." padding "$".
STAMP = re.compile(rb"@(\d{5})\.(\d{9})\.(\d{19})\.(x*)\$")

#: (sender, sequence, send time in ns), as the digits of a stamp.
Stamp = tuple[bytes, bytes, bytes]


def percentile(ordered: Sequence[float], share: float) -> float | None:
    """The value below which C{share} of C{ordered} lies (nearest rank)."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def analyse(result: LoadResult) -> dict[str, Any]:
    """
    Deliveries, losses, duplicates, reordering, corruption and latency.

    Every reader is owed each line of every sender but itself: all
    C{plan.lines} of them, or with C{plan.duration} as many as the sender
    sent. A line is delivered each time it arrives intact, so
    C{deliveries - duplicate + lost == expected} unless a line arrives
    that was never owed. A line that holds an "@" but no intact stamp is
    corrupt; one without an "@" (a join, a notice, a probe) is not counted.
    A line is out of order when its sequence number is below that of the
    line from the same sender that reached the same reader just before it.
    """
    plan = result.plan
    padding = plan.size - STAMP_LENGTH - 1
    owed = result.sent if plan.duration else [plan.lines] * plan.senders
    latencies: list[int] = []  # in ns
    lost = duplicates = reordered = corrupt = expected = 0
    for reader, recording in zip(result.readers, result.received, strict=True):
        stamps: list[Stamp] = []
        for arrival, found, broken in _stamps(recording, padding):
            corrupt += broken
            stamps += found
            latencies += [arrival - int(sent) for _, _, sent in found]
        # Stable: each sender's lines stay in the order they arrived in.
        # Sequence numbers are compared as their digits, all of one width.
        stamps.sort(key=_sender)
        received: dict[int, int] = {}
        for sender, lines in groupby(stamps, _sender):
            sequences = list(map(_sequence, lines))
            unique = len(set(sequences))
            duplicates += len(sequences) - unique
            reordered += sum(map(lt, sequences[1:], sequences))
            received[int(sender)] = unique
        for number, lines_owed in enumerate(owed):
            if number != reader:
                expected += lines_owed
                lost += lines_owed - received.get(number, 0)
    latencies.sort()
    deliveries = len(latencies)

    def ms(ns: float | None) -> float | None:
        return None if ns is None else ns / 1e6

    return {
        "expected": expected,
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
        "lost": lost,
        "duplicate": duplicates,
        "out_of_order": reordered,
        "corrupt": corrupt,
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
