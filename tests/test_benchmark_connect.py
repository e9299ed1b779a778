"""
The benchmark's connects are paced: a server with a small listen backlog
gets all its clients, and what cannot connect is one line saying so.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import kill_quietly, run_command, wait_for
from twisted_chat.benchmark.connect import Connected, connect_all
from twisted_chat.benchmark.errors import BenchmarkError

PROJECT = Path(__file__).resolve().parent.parent
#: The classic select() chat server, with listen(10), from the shared yardstick.
SELECT_SERVER = PROJECT.parent / "shared" / "bench" / "peers" / "select_server.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def accepts_connections(port: int, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"the select server exited with {process.returncode}")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def select_server() -> Iterator[tuple[int, int]]:
    """(port, pid) of the select() server, its backlog 10."""
    if not SELECT_SERVER.exists():
        pytest.skip(f"no {SELECT_SERVER} (the shared yardstick) beside the project")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(SELECT_SERVER), str(port), "--quiet"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: accepts_connections(port, process), what="the select server")
        yield port, process.pid
    finally:
        kill_quietly(process)


def test_many_more_clients_than_the_backlog_all_connect(
    select_server: tuple[int, int], tmp_path: Path
) -> None:
    """200 clients to a server with listen(10): all join, every line arrives."""
    port, pid = select_server
    out = tmp_path / "result.json"
    result = run_command(
        [
            *(sys.executable, "-m", "twisted_chat.benchmark"),
            *("--target", f"127.0.0.1:{port}", "--server-pid", str(pid)),
            # Paced, one line a write: the select server reads whole lines.
            *("-n", "200", "-s", "2", "-m", "20", "--rate", "100"),
            *("--timeout", "60", "--json", str(out)),
        ],
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["connect"]["connected"] == 200
    assert report["connections_lost"] == 0
    assert report["deliveries"] == report["expected"] == 2 * 20 * 199
    for key in ("lost", "duplicate", "out_of_order", "corrupt"):
        assert report[key] == 0, key


class SlowListener:
    """
    A listening socket with a backlog of 1 whose connections are accepted,
    if at all, one every C{interval} seconds, by a thread.
    """

    def __init__(self, interval: float | None) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(1)
        self.port: int = self.socket.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, args=(interval,))
        self._thread.start()

    def _accept(self, interval: float | None) -> None:
        self.socket.settimeout(0.1)
        while not self._stopping.is_set():
            if interval is None:
                self._stopping.wait(0.1)
                continue
            try:
                self.accepted.append(self.socket.accept()[0])
            except TimeoutError:
                continue
            self._stopping.wait(interval)  # the slowness under test

    def close(self) -> None:
        self._stopping.set()
        self._thread.join()
        for connection in self.accepted:
            connection.close()
        self.socket.close()


@pytest.fixture
def listeners() -> Iterator[list[SlowListener]]:
    made: list[SlowListener] = []
    yield made
    for listener in made:
        listener.close()


def connect(port: int, count: int, seconds: float) -> Connected[asyncio.Protocol]:
    async def run() -> Connected[asyncio.Protocol]:
        connected = await connect_all(
            "127.0.0.1", port, count, asyncio.Protocol, time.monotonic() + seconds
        )
        for transport in connected.transports:
            transport.close()
        return connected

    return asyncio.run(run())


def test_connects_dropped_by_a_full_queue_are_made_again(
    listeners: list[SlowListener],
) -> None:
    listener = SlowListener(interval=0.005)
    listeners.append(listener)
    connected = connect(listener.port, 30, seconds=30)
    assert len(connected.clients) == 30
    # The queue holds two; the SYNs beyond it were dropped and sent again.
    assert set(connected.retried) == {"TimeoutError"}
    assert connected.retries > 0


def test_clients_still_unconnected_at_the_deadline_are_one_line(
    listeners: list[SlowListener],
) -> None:
    listener = SlowListener(interval=None)  # never accepts
    listeners.append(listener)
    with pytest.raises(BenchmarkError) as failed:
        connect(listener.port, 10, seconds=1)
    match = re.fullmatch(
        rf"only (\d+) of 10 clients connected to 127\.0\.0\.1:{listener.port} "
        r"in time \(attempts made again: TimeoutError x \d+\)",
        str(failed.value),
    )
    assert match is not None, str(failed.value)
    # The first connect, at least, is queued; the queue cannot hold all ten.
    assert 1 <= int(match.group(1)) < 10


def test_nothing_listening_is_one_line_at_once() -> None:
    with socket.socket() as bound:  # bound, not listening: connects are refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        with pytest.raises(BenchmarkError) as failed:
            connect(port, 10, seconds=60)
    assert str(failed.value) == (
        f"cannot connect to 127.0.0.1:{port}: connection refused"
    )
