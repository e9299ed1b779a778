"""
The benchmark's analysis counts each received line as the plain
line-by-line reading does: intact, duplicate, out of order, corrupt or not
a stamped line at all, with the arrival of the read that ended it.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from twisted_chat.benchmark.analysis import analyse
from twisted_chat.benchmark.clients import Recording
from twisted_chat.benchmark.load import LoadPlan, LoadResult

SIZE = 48
PADDING = SIZE - 39
STAMP = re.compile(rb"@(\d{5})\.(\d{9})\.(\d{19})\.(x*)\$")


def stamp(sender: int, sequence: int, sent: int = 0, padding: int = PADDING) -> bytes:
    return b"@%05d.%09d.%019d.%s$" % (sender, sequence, sent, b"x" * padding)


def recorded(data: bytes, cuts: list[int]) -> Recording:
    """C{data} as a reader gets it: in reads ending at C{cuts}, as recv_into does."""
    recording = Recording(16)
    start = 0
    for end in [*sorted(set(cuts)), len(data)]:
        piece = data[start:end]
        while piece:
            space = recording.space()
            taken, piece = piece[: len(space)], piece[len(space) :]
            space[: len(taken)] = taken
            recording.add(len(taken))
        start = max(start, end)
    return recording


def result_of(
    recordings: list[Recording], senders: int, lines: int, **plan: Any
) -> LoadResult:
    return LoadResult(
        plan=LoadPlan("127.0.0.1", 1, len(recordings), senders, lines, SIZE, **plan),
        connect_seconds=0,
        connected=len(recordings),
        connect_errors={},
        send_seconds=1,
        window_seconds=1,
        received=recordings,
        readers=list(range(len(recordings))),
        sent=[lines] * senders,
    )


def line_by_line(result: LoadResult) -> dict[str, Any]:
    """The reference: each complete line on its own, as the benchmark once did."""
    plan = result.plan
    latencies: list[float] = []
    lost = duplicates = reordered = corrupt = 0
    for reader, recording in zip(result.readers, result.received, strict=True):
        seen: dict[int, set[int]] = {}
        last: dict[int, int] = {}
        partial = b""
        for arrival, chunk in recording.chunks():
            *lines, partial = (partial + chunk).split(b"\n")
            for line in lines:
                if b"@" not in line:
                    continue
                match = STAMP.search(line)
                if match is None or len(match.group(4)) != PADDING:
                    corrupt += 1
                    continue
                sender, sequence = int(match.group(1)), int(match.group(2))
                latencies.append((arrival - int(match.group(3))) / 1e6)
                numbers = seen.setdefault(sender, set())
                duplicates += sequence in numbers
                numbers.add(sequence)
                reordered += sequence < last.get(sender, -1)
                last[sender] = sequence
        for sender in range(plan.senders):
            if sender != reader:
                lost += plan.lines - len(seen.get(sender, ()))
    latencies.sort()
    return {
        "deliveries": len(latencies),
        "lost": lost,
        "duplicate": duplicates,
        "out_of_order": reordered,
        "corrupt": corrupt,
        "latency_ms": {"max": latencies[-1] if latencies else None},
    }


def counts(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("deliveries", "lost", "duplicate", "out_of_order", "corrupt")
    return {key: report[key] for key in keys} | {"max": report["latency_ms"]["max"]}


def test_a_clean_stream_is_every_line_once() -> None:
    data = b"".join(
        b"<guest%d> %s\r\n" % (sender + 1, stamp(sender, sequence))
        for sequence in range(5)
        for sender in (1, 2)
    )
    report = analyse(
        result_of([recorded(b"* guest3 has joined\r\n" + data, [7])], 3, 5)
    )
    faults = [report[key] for key in ("lost", "duplicate", "out_of_order", "corrupt")]
    assert faults == [0, 0, 0, 0]
    assert report["deliveries"] == report["expected"] == 10  # senders 1 and 2


def test_each_kind_of_fault_is_counted() -> None:
    data = b"".join(
        [
            stamp(1, 0) + b"\n",
            stamp(1, 2) + b"\n",
            stamp(1, 1) + b"\n",  # out of order
            stamp(1, 1) + b"\n",  # a duplicate, in order after 1
            stamp(1, 3, padding=PADDING - 1) + b"\n",  # corrupt: padding short
            b"\r<('127.0.0.1', 5)> " + stamp(1, 4)[:20] + b"\n",  # corrupt: cut
            stamp(2, 0) + stamp(2, 1) + b"\n",  # two in one line: the first counts
            b"<x> @ not a stamp\n",  # corrupt: an "@" without a stamp
        ]
    )
    result = result_of([recorded(data, [30, 31, 100])], 3, 5)
    report = analyse(result)
    assert counts(report) == counts(line_by_line(result))
    assert (report["duplicate"], report["out_of_order"], report["corrupt"]) == (1, 1, 3)
    assert report["lost"] == (5 - 3) + (5 - 1)  # sender 1 lost 3, 4; sender 2 1-4


def test_two_stamps_run_together_are_one_line() -> None:
    """A server that drops a newline delivers one line: the first stamp counts."""
    data = stamp(1, 0) + stamp(1, 1) + b"\n"
    report = analyse(result_of([recorded(data, [])], 2, 2))
    assert (report["deliveries"], report["lost"], report["corrupt"]) == (1, 1, 0)


def test_a_run_for_a_set_time_owes_what_each_sender_sent() -> None:
    data = stamp(1, 0) + b"\n" + stamp(1, 1) + b"\n" + stamp(2, 0) + b"\n"
    result = result_of([recorded(data, [])], 3, 0, duration=1.0)
    result.sent = [7, 2, 3]
    report = analyse(result)
    assert report["expected"] == 2 + 3
    assert report["lost"] == 2  # sender 2's lines 1 and 2
    assert report["deliveries"] - report["duplicate"] + report["lost"] == 5


line = st.one_of(
    st.builds(
        lambda sender, sequence, sent: stamp(sender, sequence, sent) + b"\r\n",
        st.integers(0, 3),
        st.integers(0, 6),
        st.integers(0, 10**6),
    ),
    st.builds(
        lambda prefix, sender, sequence: prefix + stamp(sender, sequence) + b"\n",
        st.sampled_from([b"<guest1> ", b"\r<('127.0.0.1', 9)> ", b""]),
        st.integers(0, 3),
        st.integers(0, 6),
    ),
    st.builds(stamp, st.integers(0, 3), st.integers(0, 6)),  # its line goes on
    st.binary(max_size=60).map(lambda noise: noise.replace(b"\n", b"") + b"\n"),
    st.sampled_from([b"@", b"$", b"x", b"\n", b"\r\n", b"@00001."]),
)


@settings(max_examples=300, deadline=None)
@given(
    streams=st.lists(
        st.tuples(
            st.lists(line, max_size=30).map(b"".join),
            st.lists(st.integers(0, 2000), max_size=12),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_it_agrees_with_the_line_by_line_reading(
    streams: list[tuple[bytes, list[int]]],
) -> None:
    result = result_of([recorded(data, cuts) for data, cuts in streams], 4, 7)
    assert counts(analyse(result)) == counts(line_by_line(result))
