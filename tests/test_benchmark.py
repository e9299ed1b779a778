"""The benchmark end to end (it starts the daemon, or targets one), and its parts."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import ChatDaemon, run_command
from twisted_chat.benchmark.clients import LEAST_ROOM, Recording
from twisted_chat.benchmark.errors import describe

BENCHMARK = [sys.executable, "-m", "twisted_chat.benchmark"]


def benchmark(*arguments: str) -> dict[str, Any]:
    result = run_command([*BENCHMARK, "--json", "-", *arguments], timeout=120)
    assert result.returncode == 0, result.stderr
    assert "[benchmark] connected" in result.stderr  # progress goes to stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def assert_every_line_arrived_once(report: dict[str, Any]) -> None:
    """Nothing lost, doubled, reordered or corrupt, and the counts add up."""
    for key in ("lost", "duplicate", "out_of_order", "corrupt"):
        assert report[key] == 0, key
    assert report["deliveries"] == report["expected"]


def test_benchmark_starts_the_daemon_and_counts_every_line() -> None:
    report = benchmark("-n", "6", "-s", "3", "-m", "200", "--size", "100")
    assert report["deliveries"] == 3 * 200 * 5
    assert report["sent"] == 3 * 200
    assert report["stopped_by"] == "lines"
    assert_every_line_arrived_once(report)
    server = report["server"]
    assert isinstance(server, dict) and server["peak_rss_kib"]
    # Who was busy while the lines flowed: the daemon, or the load itself.
    assert server["cpu_percent"] is not None and server["cpu_percent"] >= 0
    assert report["load_cpu_percent"] is not None and report["load_cpu_percent"] > 0
    # And in CPU seconds, for deliveries per second of the server's CPU.
    assert server["cpu_seconds"] is not None and server["cpu_seconds"] >= 0
    assert report["load_cpu_seconds"] is not None and report["load_cpu_seconds"] > 0


def test_benchmark_targets_a_running_server(
    start_daemon: Callable[..., ChatDaemon], tmp_path: Path
) -> None:
    daemon = start_daemon("--rate", "0")
    out = tmp_path / "result.json"
    result = run_command(
        [
            sys.executable,
            "-m",
            "twisted_chat.benchmark",
            "--target",
            f"127.0.0.1:{daemon.port}",
            "--server-pid",
            str(daemon.pid),
            "-n",
            "4",
            "-s",
            "2",
            "-m",
            "100",
            "--nonreaders",
            "1",
            "--json",
            str(out),
        ],
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "deliveries/s" in result.stdout  # the readable table
    report = json.loads(out.read_text())
    assert report["deliveries"] == 2 * 100 * 2  # 3 readers: 2 senders and 1 other
    assert report["lost"] == 0


def test_benchmark_refuses_an_unreachable_target() -> None:
    result = run_command([*BENCHMARK, "--target", "127.0.0.1:1"], timeout=60)
    assert result.returncode == 1
    assert (
        result.stderr
        == "benchmark: cannot connect to 127.0.0.1:1: connection refused\n"
    )
    assert result.stdout == ""


def test_every_sender_may_be_a_client_too() -> None:
    """-n N -s N: every client sends, and each reads the others' lines."""
    report = benchmark("-n", "4", "-s", "4", "-m", "50")
    assert report["deliveries"] == 4 * 50 * 3
    assert_every_line_arrived_once(report)


def test_a_daemon_that_does_not_start_is_one_line() -> None:
    result = run_command([*BENCHMARK, "--daemon-option=--no-such-option"], timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("benchmark: the daemon did not start (exit status 1): ")
    assert "--no-such-option" in line


def test_duration_sends_for_that_long_and_every_line_arrives() -> None:
    """
    Flat out for a set time: the senders stop at the duration (the
    recordings have room to spare), and every line they sent arrived once.
    """
    report = benchmark("-n", "3", "-s", "1", "--duration", "0.5", "--memory", "256")
    assert report["stopped_by"] == "duration"
    assert report["send_seconds"] >= 0.5
    assert report["window_seconds"] >= 0.5
    assert report["sent"] > 0
    assert report["expected"] == report["sent"] * 2  # one sender, two others read
    assert_every_line_arrived_once(report)
    assert report["server"]["cpu_percent"] is not None
    assert report["load_cpu_percent"] is not None and report["load_cpu_percent"] > 0


def test_duration_at_a_rate_sends_at_most_the_rate_times_the_duration() -> None:
    report = benchmark(
        "-n", "4", "-s", "2", "--duration", "1", "--rate", "200", "--memory", "16"
    )
    assert report["stopped_by"] == "duration"
    # Paced: line k goes at k / rate s, so at most 201 each go within 1 s.
    assert 0 < report["sent"] <= 2 * 201
    assert report["expected"] == report["sent"] * 3
    assert_every_line_arrived_once(report)


def test_duration_stops_early_when_the_recordings_fill(tmp_path: Path) -> None:
    """With too little --memory the senders stop, and what they sent is whole."""
    out = tmp_path / "result.json"
    result = run_command(
        [
            *BENCHMARK,
            *("-n", "4", "-s", "2", "--duration", "5", "--memory", "1"),
            *("--json", str(out)),
        ],
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "recordings are full (1 MiB, --memory)" in result.stderr
    assert re.search(
        r"^stopped +after [\d.]+ s: the readers' recordings were full \(--memory\)$",
        result.stdout,
        re.MULTILINE,
    ), result.stdout
    report = json.loads(out.read_text())
    assert report["stopped_by"] == "memory"
    assert report["send_seconds"] < 5
    assert report["expected"] == report["sent"] * 3
    assert_every_line_arrived_once(report)


def test_recording_grows_past_its_guess_and_keeps_every_read() -> None:
    recording = Recording(16)
    reads = [b"@a\n", b"x" * 300_000, b"@b@c\n"]
    counts, landed = [], []
    for data in reads:
        while data:  # as recv_into does: as much as the space offered takes
            space = recording.space()
            assert len(space) >= LEAST_ROOM
            piece, data = data[: len(space)], data[len(space) :]
            space[: len(piece)] = piece
            counts.append(recording.add(len(piece)))
            landed.append(piece)
    assert sum(counts) == 3
    assert [chunk for _, chunk in recording.chunks()] == landed
    assert b"".join(landed) == b"".join(reads)
    assert recording.last_arrival == recording.reads[-1][0]


def test_a_recording_says_once_when_its_reserve_is_reached() -> None:
    """
    Once fewer than reserve bytes are left it calls on_full, once, and goes
    on filling what is left before it grows: lines still on their way are
    kept.
    """
    calls: list[None] = []
    recording = Recording(10 * LEAST_ROOM, 4 * LEAST_ROOM, lambda: calls.append(None))
    for _ in range(7):
        assert len(recording.space()) >= LEAST_ROOM
        recording.add(LEAST_ROOM)
        assert calls == []
    space = recording.space()  # 3 x LEAST_ROOM left: within the reserve
    assert calls == [None]
    assert len(space) == 3 * LEAST_ROOM  # the same buffer, not a new one
    for _ in range(3):
        assert len(recording.space()) >= LEAST_ROOM
        recording.add(LEAST_ROOM)
    assert len(recording.space()) >= LEAST_ROOM  # now grown, nothing lost
    assert recording.filled == 10 * LEAST_ROOM
    assert calls == [None]


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (TimeoutError(), "timed out"),
        (OSError(), "OSError"),
        (RuntimeError(""), "RuntimeError"),
        (
            ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)"),
            "connection refused",
        ),
        (
            FileNotFoundError(2, "No such file or directory", "x.json"),
            "x.json: no such file or directory",
        ),
        (ValueError("two\nlines"), "two lines"),
    ],
)
def test_a_failure_is_never_described_by_nothing(
    error: BaseException, said: str
) -> None:
    assert describe(error) == said
