"""
The benchmark's C{--rooms R}: client i joins #bench-(i mod R) before the
load starts, the senders are spread the same way, each reader is owed the
lines of its own room's senders only, and a line from another room's sender
is foreign (crosstalk), counted, and never a delivery.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import run_command
from tests.test_benchmark_analysis import SIZE, recorded, stamp
from tests.test_benchmark_options import assert_refused
from twisted_chat import text
from twisted_chat.benchmark.analysis import analyse
from twisted_chat.benchmark.load import (
    LoadPlan,
    LoadResult,
    joined_answer,
    recording_bytes,
    room_of,
    room_senders,
)
from twisted_chat.benchmark.options import parse_arguments

PROG = "python -m twisted_chat.benchmark"
BENCHMARK = [sys.executable, "-m", "twisted_chat.benchmark"]

REFUSED = [
    (["--rooms", "0"], "argument --rooms: must be at least 1, not 0"),
    (["--rooms", "two"], "argument --rooms: 'two' is not a whole number"),
    (
        ["-n", "10", "-s", "2", "--rooms", "3"],
        "--rooms (3) needs a sender in every room: -s/--senders (2) must be at least 3",
    ),
    (
        ["-n", "5", "-s", "3", "--rooms", "3"],
        "--rooms (3) needs at least 2 clients in every room: -n/--clients (5) "
        "must be at least 6",
    ),
    (
        # Clients 0 to 2 read: #bench-1 keeps client 1 reading, not client 3.
        ["-n", "6", "-s", "2", "--rooms", "2", "--nonreaders", "3"],
        "--nonreaders (3) leaves #bench-1 1 reading client of 3; every room "
        "needs at least 2",
    ),
]


@pytest.mark.parametrize(("arguments", "message"), REFUSED)
def test_rooms_that_cannot_be_filled_are_one_line_and_status_2(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_refused(arguments, message, capsys)


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["-n", "6", "-s", "2", "--rooms", "2"],
        ["-n", "4", "-s", "2", "--rooms", "2"],
        ["-n", "100", "-s", "10", "--rooms", "10"],
        ["-n", "7", "-s", "3", "--rooms", "3", "--nonreaders", "1"],
        ["-n", "100", "-s", "10", "--rooms", "10", "--duration", "2"],
    ],
)
def test_rooms_that_can_be_filled_are_taken(arguments: list[str]) -> None:
    parse_arguments(arguments)


def test_the_default_is_one_room() -> None:
    assert parse_arguments([]).rooms == 1
    assert parse_arguments(["-n", "6", "-s", "2", "--rooms", "2"]).rooms == 2


def test_senders_and_clients_are_spread_in_proportion() -> None:
    plan = LoadPlan("127.0.0.1", 1, clients=100, senders=25, lines=1, rooms=10)
    assert room_senders(plan) == [3] * 5 + [2] * 5
    assert [room_of(i, 10) for i in range(12)] == [*range(10), 0, 1]
    assert sum(room_senders(plan)) == 25


def test_a_reader_keeps_only_what_its_own_room_sends() -> None:
    """
    The memory a run needs: each reader hears its own room's senders, so
    ten rooms of one sender each keep a tenth of one room of ten senders.
    """
    one = LoadPlan("127.0.0.1", 1, clients=100, senders=10, lines=2000)
    ten = LoadPlan("127.0.0.1", 1, clients=100, senders=10, lines=2000, rooms=10)
    assert recording_bytes(one) == 10 * (recording_bytes(ten) or 0)
    paced = LoadPlan("127.0.0.1", 1, 100, 10, 0, rate=100, duration=5)
    paced_ten = LoadPlan("127.0.0.1", 1, 100, 10, 0, rate=100, duration=5, rooms=10)
    assert (recording_bytes(paced) or 0) > 9 * (recording_bytes(paced_ten) or 0) > 0
    assert recording_bytes(LoadPlan("h", 1, 100, 10, 0, duration=5, rooms=10)) is None


def test_the_join_answer_is_the_line_twisted_chat_sends() -> None:
    line = text.NOW_IN.format(room="bench-12", count=7)
    assert line.encode().startswith(joined_answer(12))
    assert (
        not text.NOW_IN.format(room="bench-1", count=7)
        .encode()
        .startswith(joined_answer(12))
    )
    # "#bench-1:" is not "#bench-12:"
    assert not line.encode().startswith(joined_answer(1))


def rooms_result(recordings: list[bytes], senders: int, lines: int) -> LoadResult:
    """What readers 0..n-1 recorded, clients spread over 2 rooms."""
    return LoadResult(
        plan=LoadPlan("127.0.0.1", 1, len(recordings), senders, lines, SIZE, rooms=2),
        connect_seconds=0,
        connected=len(recordings),
        connect_errors={},
        send_seconds=1,
        window_seconds=1,
        received=[recorded(data, []) for data in recordings],
        readers=list(range(len(recordings))),
        sent=[lines] * senders,
    )


def lines_of(sender: int, lines: int, sent: int = 0) -> bytes:
    return b"".join(
        b"<guest%d> %s\r\n" % (sender + 1, stamp(sender, n, sent)) for n in range(lines)
    )


def test_each_reader_is_owed_its_own_rooms_senders_only() -> None:
    """
    Six clients, two rooms: senders 0 and 2 in #bench-0 (with reader 4),
    sender 1 in #bench-1 (with readers 3 and 5). Each hears its room only.
    """
    room0 = {0: lines_of(2, 3), 2: lines_of(0, 3), 4: lines_of(0, 3) + lines_of(2, 3)}
    room1 = {1: b"", 3: lines_of(1, 3), 5: lines_of(1, 3)}
    recordings = {**room0, **room1}
    report = analyse(rooms_result([recordings[i] for i in range(6)], 3, 3))
    assert report["expected"] == report["deliveries"] == 3 * (1 + 1 + 2) + 3 * 2
    for key in ("lost", "duplicate", "out_of_order", "corrupt", "foreign"):
        assert report[key] == 0, key
    first, second = report["rooms"]
    assert (first["room"], first["clients"], first["senders"]) == ("bench-0", 3, 2)
    assert (second["room"], second["clients"], second["senders"]) == ("bench-1", 3, 1)
    assert (first["expected"], second["expected"]) == (12, 6)


def test_a_line_from_another_room_is_foreign_not_a_delivery() -> None:
    """
    Crosstalk: reader 2 (#bench-0) gets sender 0's lines, as owed, and
    sender 1's (#bench-1) too; reader 3 (#bench-1) gets sender 0's only.
    The other room's lines are foreign, neither deliveries nor latencies;
    what each reader was owed counts as it would have.
    """
    now = time.monotonic_ns()  # the foreign lines say 0: hours of latency
    recordings = [
        b"",
        b"",
        lines_of(0, 4, sent=now) + lines_of(1, 4),
        lines_of(0, 4),
        b"",
        b"",
    ]
    report = analyse(rooms_result(recordings, 2, 4))
    first, second = report["rooms"]
    assert (first["foreign"], second["foreign"]) == (4, 4)
    assert report["foreign"] == 8
    assert (first["deliveries"], second["deliveries"]) == (4, 0)
    assert report["deliveries"] == 4
    # #bench-0 owes readers 2 and 4 sender 0's lines, #bench-1 readers 3
    # and 5 sender 1's: reader 4 lost 4, readers 3 and 5 lost 4 each.
    assert (first["expected"], second["expected"]) == (8, 8)
    assert (first["lost"], second["lost"]) == (4, 8)
    assert (report["expected"], report["lost"]) == (16, 12)
    assert report["latency_ms"]["max"] < 60_000


class FakeRoomsServer:
    """
    A line chat server on 127.0.0.1 in a thread that answers C{/join ROOM}
    as twisted_chat does (C{*** You are in #ROOM: 1 here}) but keeps no
    rooms: every line goes to everyone else, so each room hears the
    others. With C{answer} False it relays C{/join} as a line, as a server
    without rooms (ncat --chat) does; with C{refuse} it answers an error.
    """

    def __init__(self, answer: bool = True, refuse: bool = False) -> None:
        self.answer, self.refuse = answer, refuse
        self.loop = asyncio.new_event_loop()
        self.writers: list[asyncio.StreamWriter] = []
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port: int = self.server.sockets[0].getsockname()[1]
        self.thread = threading.Thread(target=self.loop.run_forever)
        self.thread.start()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.writers.append(writer)
        writer.write(b"*** Welcome to fake, guest! Type /help for commands.\r\n")
        try:
            while line := await reader.readline():
                if line.startswith(b"/join ") and self.refuse:
                    writer.write(b"! Unknown command /join; type /help\r\n")
                elif line.startswith(b"/join ") and self.answer:
                    room = line.split()[1].lstrip(b"#")
                    writer.write(b"*** You are in #%s: 1 here\r\n" % room)
                else:
                    for other in self.writers:
                        if other is not writer:
                            other.write(b"<guest> " + line)
        except ConnectionError:
            pass
        finally:
            self.writers.remove(writer)
            writer.close()

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            for writer in self.writers:
                writer.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def fake_servers() -> Iterator[list[FakeRoomsServer]]:
    made: list[FakeRoomsServer] = []
    yield made
    for server in made:
        server.close()


def benchmark(*arguments: str) -> tuple[dict[str, Any], str]:
    """The JSON report and the table of a run that succeeded."""
    result = run_command([*BENCHMARK, "--json", "-", *arguments], timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    return report, result.stderr


def test_two_rooms_on_the_real_daemon_each_hear_their_own(tmp_path: Path) -> None:
    """
    -n 6 -s 2 --rooms 2: three clients a room, one sender each; every
    reader gets its room's 50 lines and nothing from the other room.
    """
    out = tmp_path / "result.json"
    result = run_command(
        [
            *BENCHMARK,
            *("-n", "6", "-s", "2", "--rooms", "2", "-m", "50"),
            *("--json", str(out)),
        ],
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "all clients are in their rooms (2); sending" in result.stderr
    report = json.loads(out.read_text())
    assert report["plan"]["rooms"] == 2
    # Each room: one sender's 50 lines to the other two.
    assert report["deliveries"] == report["expected"] == 2 * 50 * 2
    for key in ("lost", "duplicate", "out_of_order", "corrupt", "foreign"):
        assert report[key] == 0, key
    assert [room["room"] for room in report["rooms"]] == ["bench-0", "bench-1"]
    for room in report["rooms"]:
        assert (room["clients"], room["senders"], room["readers"]) == (3, 1, 3)
        assert room["deliveries"] == room["expected"] == 100
    # The table says so.
    assert "6 clients in 2 rooms, 2 senders x 50 lines" in result.stdout
    assert (
        "rooms                             2 (#bench-0 to #bench-1), 3 clients "
        "each, 1 sending; 0 foreign lines"
    ) in result.stdout


def test_rooms_for_a_set_time_and_uneven_rooms_on_the_real_daemon() -> None:
    """
    -n 7 -s 3 --rooms 2, for half a second: #bench-0 has clients 0, 2, 4, 6
    and senders 0 and 2, #bench-1 clients 1, 3, 5 and sender 1. Paced, so
    that the time, not the --memory budget, ends the sending however fast
    the machine is.
    """
    report, _ = benchmark(
        *("-n", "7", "-s", "3", "--rooms", "2", "--duration", "0.5"),
        *("--rate", "200", "--memory", "64"),
    )
    assert report["stopped_by"] == "duration"
    first, second = report["rooms"]
    assert (first["clients"], first["senders"]) == (4, 2)
    assert (second["clients"], second["senders"]) == (3, 1)
    for key in ("lost", "duplicate", "out_of_order", "corrupt", "foreign"):
        assert report[key] == 0, key
    assert report["deliveries"] == report["expected"] > 0


def test_one_room_is_as_before_no_join_at_all(
    fake_servers: list[FakeRoomsServer],
) -> None:
    """Without --rooms no client sends /join: any line chat server will do."""
    server = FakeRoomsServer(answer=False)
    fake_servers.append(server)
    report, _ = benchmark(
        "--target", f"127.0.0.1:{server.port}", "-n", "4", "-s", "2", "-m", "20"
    )
    assert report["deliveries"] == report["expected"] == 2 * 20 * 3
    assert report["foreign"] == 0
    (room,) = report["rooms"]
    assert room["room"] is None and room["clients"] == 4


def test_crosstalk_between_rooms_is_counted_as_foreign(
    fake_servers: list[FakeRoomsServer], tmp_path: Path
) -> None:
    """
    A server that answers /join but relays every line to everyone: each
    reader gets what it is owed, and the other room's lines as foreign.
    """
    server = FakeRoomsServer()
    fake_servers.append(server)
    out = tmp_path / "result.json"
    result = run_command(
        [
            *BENCHMARK,
            *("--target", f"127.0.0.1:{server.port}", "--json", str(out)),
            *("-n", "6", "-s", "2", "--rooms", "2", "-m", "50"),
        ],
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "2 (#bench-0 to #bench-1), 3 clients each, 1 sending; 300 foreign lines"
    ) in result.stdout
    for room in ("#bench-0", "#bench-1"):
        assert f"  {room}  " in result.stdout
        assert "0 / 0 / 0 / 0 / 150 lost/dup/reordered/corrupt/foreign" in (
            result.stdout
        )
    report = json.loads(out.read_text())
    # Each sender's 50 lines reach its room's 2 others, and the other room's 3.
    assert report["deliveries"] == report["expected"] == 2 * 50 * 2
    assert report["foreign"] == 2 * 50 * 3
    assert [room["foreign"] for room in report["rooms"]] == [150, 150]
    assert report["lost"] == 0


def test_a_server_without_rooms_is_one_line_at_once(
    fake_servers: list[FakeRoomsServer],
) -> None:
    """It relays /join as a chat line (as ncat --chat does): said, not waited out."""
    server = FakeRoomsServer(answer=False)
    fake_servers.append(server)
    result = run_command(
        [
            *BENCHMARK,
            *("--target", f"127.0.0.1:{server.port}"),
            *("-n", "4", "-s", "2", "--rooms", "2", "--timeout", "60"),
        ],
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "benchmark: the server relayed /join as a chat line: it has no rooms "
        "(--rooms needs a server with /join, such as twisted_chat)"
    )


def test_a_refused_join_is_the_servers_own_words(
    fake_servers: list[FakeRoomsServer],
) -> None:
    server = FakeRoomsServer(refuse=True)
    fake_servers.append(server)
    result = run_command(
        [
            *BENCHMARK,
            *("--target", f"127.0.0.1:{server.port}"),
            *("-n", "4", "-s", "2", "--rooms", "2", "--timeout", "60"),
        ],
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "benchmark: the server refused /join bench-0 (client 1): "
        "! Unknown command /join; type /help"
    )


def test_the_real_daemon_refusing_a_room_is_one_line() -> None:
    """Past the daemon's --max-rooms (the lobby is one), its own refusal."""
    result = run_command(
        [
            *BENCHMARK,
            *("-n", "6", "-s", "3", "--rooms", "3"),
            *("--daemon-option=--max-rooms=2", "--timeout", "60"),
        ],
        timeout=90,
    )
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("benchmark: the server refused /join bench-"), last
    assert "no more can be made (at most 2)" in last
