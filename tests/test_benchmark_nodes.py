"""
The benchmark over linked daemons: C{--nodes K} starts a redis-server and
K daemons linked through it and spreads the clients over them; several
C{--target} name daemons already linked. Every line still reaches every
reader once and in order, and the report says what each process used.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import RedisServer
from tests.support import ChatDaemon, run_command
from tests.test_benchmark_options import assert_refused
from twisted_chat.benchmark import options
from twisted_chat.benchmark.nodes import table_rows
from twisted_chat.benchmark.options import parse_arguments
from twisted_chat.benchmark.spread import node_of

PROG = "python -m twisted_chat.benchmark"
BENCHMARK = [sys.executable, "-m", "twisted_chat.benchmark"]


def benchmark(*arguments: str) -> dict[str, Any]:
    result = run_command([*BENCHMARK, "--json", "-", *arguments], timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def assert_every_line_arrived_once(report: dict[str, Any]) -> None:
    for key in ("lost", "duplicate", "out_of_order", "corrupt", "foreign"):
        assert report[key] == 0, key
    assert report["deliveries"] == report["expected"]


def test_two_nodes_carry_every_line_once_in_order_between_them() -> None:
    report = benchmark("--nodes", "2", "-n", "6", "-s", "2", "-m", "100")
    assert_every_line_arrived_once(report)
    assert report["expected"] == 2 * 100 * 5
    nodes = report["nodes"]
    # Client i on node i mod 2: a sender and two more on each.
    assert [(n["node"], n["clients"], n["senders"]) for n in nodes] == [
        ("node1", 3, 1),
        ("node2", 3, 1),
    ]
    assert nodes[0]["target"] != nodes[1]["target"]
    for node in nodes:
        # Each heard the other's 100 lines through Redis, and published its own.
        assert node["link"]["lines_received"] == 100
        assert node["link"]["lines_published"] == 100
        assert node["link"]["gaps"] == node["link"]["lines_dropped"] == 0
        assert node["cpu_seconds"] is not None and node["peak_rss_kib"]
    redis = report["redis"]
    assert redis["cpu_seconds"] is not None and redis["url"].startswith("redis://")
    assert redis["commands"]["eval"]["calls"] > 0
    assert report["server"]["cpu_seconds"] is not None
    assert report["load_cpu_seconds"] > 0
    # Every delivery (at most 10 readers a node are looked at: all here),
    # from a sender on the reader's node or through Redis from the other.
    paths = report["latency_ms_by_path"]
    assert paths["same_node"]["deliveries"] == 2 * 100 * 2  # 2 readers a node
    assert paths["other_node"]["deliveries"] == 2 * 100 * 3
    assert paths["other_node"]["p99"] > 0
    # Everything it started is gone (stopped by PID, and reaped).
    for pid in [redis["pid"], *(n["pid"] for n in nodes)]:
        assert not Path(f"/proc/{pid}").exists()


def test_rooms_over_nodes_have_members_and_senders_on_every_node() -> None:
    report = benchmark(
        *("--nodes", "2", "-n", "8", "-s", "4", "-m", "50", "--rooms", "2"),
        "--batch",
        "1",
    )
    assert_every_line_arrived_once(report)
    assert [(n["clients"], n["senders"]) for n in report["nodes"]] == [(4, 2), (4, 2)]
    # Room r's clients are r, r+2, r+4, r+6: on node1, node2, node1, node2.
    assert [node_of(i, 2, 2) for i in (0, 2, 4, 6)] == [0, 1, 0, 1]
    assert [node_of(i, 2, 2) for i in (1, 3, 5, 7)] == [0, 1, 0, 1]
    for node in report["nodes"]:
        assert node["link"]["lines_received"] == 2 * 50


def test_the_table_names_each_node_and_what_each_process_used() -> None:
    result = run_command(
        [*BENCHMARK, "--nodes", "2", "-n", "4", "-s", "2", "-m", "20"], timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "[benchmark] 2 daemons linked through redis-server" in result.stderr
    assert "every node (2) lists every client of the room" in result.stderr
    table = result.stdout
    assert "node1 2 clients (1 sending), node2 2 clients (1 sending)" in table
    assert "CPU s, node1 / node2 / redis / load" in table
    assert "link lines per message" in table
    assert re.search(r"^lost/dup/reordered/corrupt +0 / 0 / 0 / 0$", table, re.M)


def test_given_linked_targets_are_spread_over(
    start_daemon: Callable[..., ChatDaemon], redis_server: RedisServer
) -> None:
    linked = [
        start_daemon("--rate", "0", "--redis", redis_server.url, "--node-name", name)
        for name in ("a", "b")
    ]
    report = benchmark(
        *(f"--target=127.0.0.1:{d.port}" for d in linked),
        *(f"--server-pid={d.pid}" for d in linked),
        *("-n", "4", "-s", "2", "-m", "50"),
    )
    assert_every_line_arrived_once(report)
    assert [n["target"] for n in report["nodes"]] == [
        f"127.0.0.1:{d.port}" for d in linked
    ]
    assert [n["pid"] for n in report["nodes"]] == [d.pid for d in linked]
    assert all(n["cpu_seconds"] is not None for n in report["nodes"])
    assert report["redis"] is None  # not ours: its figures are not known
    assert report["label"] == " + ".join(n["target"] for n in report["nodes"])


def test_targets_that_are_not_linked_are_one_line(
    start_daemon: Callable[..., ChatDaemon],
) -> None:
    apart = [start_daemon("--rate", "0") for _ in range(2)]
    result = run_command(
        [
            *BENCHMARK,
            *(f"--target=127.0.0.1:{d.port}" for d in apart),
            *("-n", "4", "-s", "2", "-m", "10", "--timeout", "3"),
        ],
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()[-1:]
    assert line.startswith(f"benchmark: 127.0.0.1:{apart[0].port} lists 2 of the 4 ")
    assert line.endswith(" (/who): the daemons are not linked with each other")


REFUSED = [
    (["--nodes", "0"], "argument --nodes: must be at least 1, not 0"),
    (["--nodes", "17"], "argument --nodes: must be at most 16, not 17"),
    (["--nodes", "two"], "argument --nodes: 'two' is not a whole number"),
    (
        ["--nodes", "2", "--target", "127.0.0.1:6000"],
        "--nodes starts its own daemons: give --nodes or --target, not both",
    ),
    (
        ["--nodes", "3", "-n", "2", "-s", "1"],
        "--nodes (3) needs a client on every daemon: -n/--clients (2) must be "
        "at least 3",
    ),
    (
        ["--target", "127.0.0.1:6000", "--target", "127.0.0.1:6000"],
        "each --target must be another daemon (one is given twice)",
    ),
    (
        [
            *("--target", "127.0.0.1:6000", "--target", "127.0.0.1:6001"),
            *("--target", "127.0.0.1:6002", "-n", "2", "-s", "1"),
        ],
        "3 --target needs a client on every daemon: -n/--clients (2) must be "
        "at least 3",
    ),
    (
        ["--nodes", "2", "--daemon-option=--redis=redis://127.0.0.1:1"],
        "--daemon-option=--redis is set by --nodes for each daemon",
    ),
    (
        ["--nodes", "2", "--daemon-option=--node-name", "--daemon-option=x"],
        "--daemon-option=--node-name is set by --nodes for each daemon",
    ),
]


@pytest.mark.parametrize(("arguments", "message"), REFUSED)
def test_nodes_that_cannot_be_spread_over_are_one_line_and_status_2(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_refused(arguments, message, capsys)


@pytest.mark.parametrize(("targets", "pids"), [(2, 3), (2, 1), (1, 2)])
def test_a_server_pid_for_each_target(
    targets: int, pids: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_arguments(
            [
                *(f"--target=127.0.0.1:{6000 + k}" for k in range(targets)),
                *("--server-pid=1" for _ in range(pids)),
            ]
        )
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        f"{PROG}: error: give one --server-pid for each --target, in the same "
        f"order ({targets} --target, {pids} --server-pid)\n"
    )


def test_nodes_without_redis_server_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(options.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit) as exited:
        parse_arguments(["--nodes", "2"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        f"{PROG}: error: --nodes needs redis-server, and there is none on PATH "
        "(apt-get install redis-server)\n"
    )


@pytest.mark.parametrize(
    "arguments",
    [
        ["--nodes", "1"],
        ["--nodes", "2", "-n", "2", "-s", "1"],
        ["--nodes", "2", "--daemon-option=--history=0"],
        ["--target", "127.0.0.1:6000", "--target", "127.0.0.1:6001"],
        [
            *("--target", "127.0.0.1:6000", "--target", "127.0.0.1:6001"),
            *("--server-pid", "1", "--server-pid", "1"),
        ],
    ],
)
def test_nodes_arguments_that_make_a_run_are_taken(arguments: list[str]) -> None:
    parsed = parse_arguments(arguments)
    assert parsed.target == (parsed.targets[0] if parsed.targets else None)


def test_one_target_stays_as_it_was() -> None:
    parsed = parse_arguments(["--target", "127.0.0.1:6000", "--server-pid", "1"])
    assert parsed.target == ("127.0.0.1", 6000) and parsed.server_pid == 1
    assert parsed.nodes is None


def test_node_of_spreads_each_room_over_the_nodes() -> None:
    # One room: round-robin.
    assert [node_of(i, 1, 3) for i in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    # Two rooms over two nodes: not room 0 all on node 0.
    assert [node_of(i, 2, 2) for i in range(8)] == [0, 0, 1, 1, 0, 0, 1, 1]


def test_one_daemon_adds_no_rows() -> None:
    assert table_rows({"label": "x"}) == []


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_stopped_with_sigterm_it_stops_what_it_started() -> None:
    bench = subprocess.Popen(
        [
            *BENCHMARK,
            *("--nodes", "2", "-n", "4", "-s", "1"),
            *("--duration", "60", "--rate", "10", "--timeout", "90"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert bench.stderr is not None
        for line in bench.stderr:
            if "sending" in line:
                break
        started = _children(bench.pid)
        assert len(started) == 3  # redis-server and two daemons
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=60) == 1
        assert bench.stderr.read().splitlines()[-1] == "benchmark: interrupted"
        assert not any(Path(f"/proc/{pid}").exists() for pid in started)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
