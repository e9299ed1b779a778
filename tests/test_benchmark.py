"""The benchmark end to end (it starts the daemon, or targets one), and its parts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support import ChatDaemon, run_command
from twisted_chat.benchmark.load import LEAST_ROOM, Recording


def benchmark(*arguments: str) -> dict[str, object]:
    result = run_command(
        [sys.executable, "-m", "twisted_chat.benchmark", "--json", "-", *arguments],
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "[benchmark] connected" in result.stderr  # progress goes to stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_benchmark_starts_the_daemon_and_counts_every_line() -> None:
    report = benchmark("-n", "6", "-s", "3", "-m", "200", "--size", "100")
    assert report["deliveries"] == 3 * 200 * 5
    for key in ("lost", "duplicate", "out_of_order", "corrupt"):
        assert report[key] == 0, key
    server = report["server"]
    assert isinstance(server, dict) and server["peak_rss_kib"]
    # Who was busy while the lines flowed: the daemon, or the load itself.
    assert server["cpu_percent"] is not None and server["cpu_percent"] >= 0
    assert report["load_cpu_percent"] is not None and report["load_cpu_percent"] > 0


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
    result = run_command(
        [sys.executable, "-m", "twisted_chat.benchmark", "--target", "127.0.0.1:1"],
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("benchmark: ")
    assert "Traceback" not in result.stderr


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
