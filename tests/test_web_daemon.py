"""
C{twistd chat --web} end to end, with plain HTTP and WebSocket clients:
the page and its headers, the Origin check, the limits a browser user is
held to (line length, output cap, idle, pings), shutdown, and the options.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import bin_command, run_command, wait_for
from tests.web_support import WebDaemon, WebSocketClient, free_port

StartWeb = Callable[..., WebDaemon]

#: The page's scripts (ES modules).
SCRIPTS = ("chat.js", "view.js", "colours.js")


@pytest.fixture
def start_web(tmp_path: Path) -> Iterator[StartWeb]:
    """Start daemons with --web and chosen options; stopped after the test."""
    started: list[WebDaemon] = []

    def start(*options: str, web_port: int | None = None) -> WebDaemon:
        workdir = tmp_path / f"d{len(started)}"
        workdir.mkdir()
        daemon = WebDaemon(workdir, *options, web_port=web_port)
        started.append(daemon)
        return daemon.start()

    yield start
    for daemon in started:
        daemon.stop(strict=False)


def get(daemon: WebDaemon, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", daemon.web_port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_the_page_and_its_files_are_served_with_a_strict_policy(
    start_web: StartWeb,
) -> None:
    daemon = start_web()
    status, headers, body = get(daemon, "/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert b'<script type="module" src="chat.js"></script>' in body
    policy = headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "default-src 'none';" in policy
    assert "'unsafe-inline'" not in policy
    assert f"connect-src 'self' ws://127.0.0.1:{daemon.web_port} " in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    for path, kind in [
        ("/chat.js", "text/javascript"),
        ("/view.js", "text/javascript"),
        ("/colours.js", "text/javascript"),
        ("/chat.css", "text/css"),
        ("/favicon.svg", "image/svg+xml"),
    ]:
        status, headers, body = get(daemon, path)
        assert (status, headers["content-type"].split(";")[0]) == (200, kind)
        assert body
    for path in ("/static/chat.js", "/../setup.cfg", "/ws/x", "/nothing"):
        status, headers, _ = get(daemon, path)
        assert status == 404, path
        assert "content-security-policy" in headers


def test_the_page_needs_no_network_beyond_the_daemon() -> None:
    """No CDN, no remote font or script: every reference is relative."""
    static = Path(__file__).parent.parent / "twisted_chat/frontends/web/static"
    html = (static / "index.html").read_text()
    assert re.findall(r'(?:src|href)="([^"]+)"', html) == [
        "favicon.svg",
        "chat.css",
        "chat.js",
        "#input",
    ]
    script = "".join((static / name).read_text() for name in SCRIPTS)
    css = (static / "chat.css").read_text()
    assert re.findall(r"(?:https?|wss?)://", re.sub(r"//.*", "", script)) == []
    assert sorted(re.findall(r'from "([^"]+)"', script)) == [
        "./colours.js",
        "./view.js",
    ]
    assert "url(" not in css and "@import" not in css
    # Text only ever goes in as text.
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in script, sink
    assert "<script>" not in html and "style=" not in html


def test_a_websocket_from_a_foreign_origin_is_refused(start_web: StartWeb) -> None:
    daemon = start_web()
    refused = WebSocketClient(daemon.web_port, origin="http://evil.example")
    assert refused.status == 403
    assert b"not one from 'http://evil.example'" in refused.body
    wait_for(
        lambda: (
            "refused: a WebSocket from the page of http://evil.example" in daemon.log()
        ),
        what="the refusal in the log",
    )
    # The page's own origin, and a client that is no page, get in.
    assert daemon.websocket().greeted().status == 101
    assert daemon.websocket(origin=None).greeted().status == 101


def test_an_allowed_origin_gets_in(start_web: StartWeb) -> None:
    daemon = start_web("--web-origin", "https://chat.example.org")
    assert daemon.websocket(origin="https://chat.example.org").status == 101
    assert daemon.websocket(origin="https://other.example.org").status == 403


def test_a_telnet_user_and_a_websocket_user_talk(start_web: StartWeb) -> None:
    daemon = start_web()
    telnet = daemon.connect()
    telnet.nick("tel")
    web = daemon.websocket().greeted()
    web.nick("web")
    web.send("hello, telnet")
    telnet.expect(r"^<web> hello, telnet$")
    telnet.send("hello, browser")
    assert web.expect("said")["texts"] == ["hello, browser"]
    telnet.send("/msg web psst")
    assert web.expect("whispered") == {
        "type": "whispered",
        "name": "tel",
        "text": "psst",
    }


def test_a_frame_over_the_line_limit_is_refused(start_web: StartWeb) -> None:
    daemon = start_web("--max-line-length", "100")
    telnet = daemon.connect()
    web = daemon.websocket().greeted()
    web.send("y" * 5000)
    web.expect("line_too_long")
    web.send("next one")
    telnet.expect(r"^<guest2> next one$")
    assert not any("yyy" in line for line in telnet.lines)


def test_a_websocket_that_stops_reading_is_dropped_at_the_output_cap(
    start_web: StartWeb,
) -> None:
    daemon = start_web("--rate", "0", "--max-queue", "262144")
    sender, listener = daemon.connect(), daemon.connect()
    sender.nick("s")
    stuck = daemon.websocket(receive_buffer=4096).greeted()
    stuck.nick("stuck")
    listener.expect(r"is now known as stuck$")
    before = daemon.rss_kib()
    payload = "p" * 1000
    # 5 MB through the room; the telnet listener keeps up, the socket does not.
    for round_number in range(500):
        sender.send(
            "".join(f"{round_number} {n} {payload}\r\n" for n in range(10)).encode()
        )
        listener.count_lines(
            lambda line: line.startswith("<s> "), 10 * (round_number + 1)
        )
        if "*** stuck has left" in listener.lines:
            break
    listener.expect(r"^\*\*\* stuck has left$")
    assert daemon.rss_kib() - before < 16 * 1024
    wait_for(lambda: "(stuck) dropped: not reading" in daemon.log(), what="the log")


def test_the_idle_timeout_closes_a_websocket_for_good(start_web: StartWeb) -> None:
    # Pings every 0.2 s, all answered: they do not keep it alive.
    daemon = start_web("--idle-timeout", "1", "--keepalive", "0.2")
    web = daemon.websocket().greeted()
    refused = web.expect("refused", timeout=10)
    assert refused["text"] == "Disconnected: idle for 1 s."
    assert web.expect_closed() == 1000
    assert web.pings >= 2
    wait_for(lambda: "disconnected: idle timeout" in daemon.log(), what="the log")


def test_a_websocket_that_answers_no_ping_is_dropped(start_web: StartWeb) -> None:
    daemon = start_web("--keepalive", "0.2")
    silent = daemon.websocket(answer_pings=False).greeted()
    answering = daemon.websocket().greeted()

    def silent_dropped() -> bool:
        answering.poll()
        silent.poll()
        return silent.ended

    wait_for(silent_dropped, what="the silent WebSocket to be dropped")
    wait_for(
        lambda: "disconnected: no answer to WebSocket pings" in daemon.log(),
        what="the log",
    )

    # The one that answers stays, past several periods, alone.
    def answered_five() -> bool:
        answering.poll()
        return answering.pings >= 5

    wait_for(answered_five, what="five pings answered")
    answering.send("/who")
    assert answering.expect("who")["count"] == 1


def test_shutdown_says_so_and_closes_websockets_as_going_away(
    start_web: StartWeb,
) -> None:
    daemon = start_web()
    web = daemon.websocket().greeted()
    daemon.stop()
    assert web.expect("notice")["text"] == "server shutting down"
    assert web.expect_closed() == 1001


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["--web", "nonsense:1"], "invalid --web 'nonsense:1': "),
        (
            ["--web", "tcp:0", "--web-origin", "chat.lan"],
            "--web-origin takes an origin (http:// or https://",
        ),
        (["--web-origins", "http://a,,b"], "--web-origins takes origins"),
    ],
)
def test_bad_web_options_are_one_line(
    tmp_path: Path, options: list[str], error: str
) -> None:
    result = run_command([bin_command("twistd"), "-n", "chat", *options], cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"twistd chat: {error}"), lines[0]


def test_a_web_port_in_use_is_one_line(start_web: StartWeb, tmp_path: Path) -> None:
    first = start_web()
    result = run_command(
        [
            bin_command("twistd"),
            "-n",
            "--pidfile=",
            "--logfile",
            str(tmp_path / "second.log"),
            "chat",
            "--port",
            "tcp:0:interface=127.0.0.1",
            "--web",
            f"tcp:{first.web_port}:interface=127.0.0.1",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"twistd chat: cannot listen on tcp:{first.web_port}:interface=127.0.0.1: "
        f"Couldn't listen on 127.0.0.1:{first.web_port}: [Errno 98] Address already "
        "in use."
    ]


def test_the_configuration_file_names_the_web_endpoint_and_origins(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = tmp_path / "chat.toml"
    config.write_text(
        f'web = "tcp:{port}:interface=127.0.0.1"\n'
        'web-origins = ["https://chat.example.org"]\n'
    )
    daemon = WebDaemon(
        tmp_path, "--config", str(config), web_port=port, on_command_line=False
    ).start()
    try:
        assert daemon.websocket(origin="https://chat.example.org").status == 101
        assert daemon.websocket(origin="https://x.example.org").status == 403
    finally:
        daemon.stop(strict=False)
