"""
The benchmark's WebSocket clients (C{--web-share}): how they are spread,
their frames, and runs against the real daemon with half the members, or
all, on the browser page's WebSocket.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from wsproto.frame_protocol import FrameProtocol

from tests.support import run_command
from tests.web_support import WebDaemon
from twisted_chat.benchmark.websocket import client_frame, on_websocket, telnet_line

BENCHMARK = [sys.executable, "-m", "twisted_chat.benchmark"]


def benchmark(*arguments: str) -> dict[str, Any]:
    result = run_command([*BENCHMARK, "--json", "-", *arguments], timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def assert_every_line_arrived_once(report: dict[str, Any]) -> None:
    for key in ("lost", "duplicate", "out_of_order", "corrupt"):
        assert report[key] == 0, key
    assert report["deliveries"] == report["expected"]


@pytest.mark.parametrize(("share", "count"), [(0.5, 5), (0.25, 2), (1.0, 10), (0.0, 0)])
def test_the_share_on_websockets_is_spread_over_the_clients(
    share: float, count: int
) -> None:
    chosen = [n for n in range(10) if on_websocket(n, share)]
    assert len(chosen) == count
    if share == 0.5:
        assert chosen == [1, 3, 5, 7, 9]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_a_client_frame_is_what_a_server_parses(size: int) -> None:
    """Masked with the zero key, at every length encoding."""
    payload = b"a" * size
    server = FrameProtocol(client=False, extensions=[])
    server.receive_bytes(client_frame(0x1, payload))
    (frame,) = server.received_frames()
    assert frame.payload == payload.decode()
    assert frame.frame_finished and frame.message_finished


def test_events_are_heard_as_telnet_would_show_them() -> None:
    assert telnet_line({"type": "said", "name": "a", "texts": ["x", "y"]}) == (
        "<a> x\n<a> y"
    )
    assert telnet_line({"type": "now_in", "text": "You are in #b: 2 here"}) == (
        "*** You are in #b: 2 here"
    )
    assert telnet_line({"type": "refused", "text": "No.", "error": True}) == "! No."


def test_half_the_members_on_websockets_every_line_arrives_once() -> None:
    report = benchmark("-n", "10", "-s", "4", "-m", "300", "--web-share", "0.5")
    assert report["plan"]["web_share"] == 0.5
    assert report["deliveries"] == 4 * 300 * 9
    assert_every_line_arrived_once(report)


def test_websockets_in_rooms_every_line_arrives_once() -> None:
    report = benchmark(
        "-n", "12", "-s", "4", "-m", "100", "--rooms", "2", "--web-share", "1"
    )
    assert_every_line_arrived_once(report)
    assert report["foreign"] == 0


def test_a_running_daemon_page_is_targeted(tmp_path: Path) -> None:
    daemon = WebDaemon(tmp_path, "--rate", "0").start()
    try:
        report = benchmark(
            "--target",
            f"127.0.0.1:{daemon.port}",
            "--web-target",
            f"127.0.0.1:{daemon.web_port}",
            "--web-share",
            "0.5",
            "-n",
            "6",
            "-s",
            "2",
            "-m",
            "100",
        )
    finally:
        daemon.stop(strict=False)
    assert_every_line_arrived_once(report)


def test_web_share_with_a_target_needs_its_page() -> None:
    result = run_command([*BENCHMARK, "--target", "127.0.0.1:9", "--web-share", "1"])
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "error: --web-share with --target needs --web-target (where its page is)"
    )
