"""
/metrics scraped over HTTP from the real daemon after some traffic, and the
endpoint kept from costing the chat anything: its own small connection cap,
short timeouts, no descriptors from the chat's headroom, no log lines.
"""

from __future__ import annotations

import re
import select
import socket
import time
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from tests.support import ChatDaemon, LineClient, bin_command, run_command, wait_for
from twisted_chat import text

StartDaemon = Callable[..., ChatDaemon]

#: The documented guarantees of the metrics endpoint (README, Metrics).
CAP = 16
IDLE_SECONDS = 5.0
SCRAPE_SECONDS = 10.0
#: A descriptor limit low enough for a scraper storm to starve the chat.
DESCRIPTOR_LIMIT = 64
METRICS = ("--metrics", "tcp:0:interface=127.0.0.1")
OUT_OF_DESCRIPTORS = text.ERROR.format(
    text="Server out of file descriptors; try again later."
)


def exactly(line: text.LineFormat, **fields: object) -> str:
    """A pattern for exactly this line of the chat, whatever its format."""
    return f"^{re.escape(line.format(**fields))}$"


def metrics_port(daemon: ChatDaemon) -> int:
    """The metrics endpoint's port, once the daemon listens on both."""
    ports = wait_for(
        lambda: (
            (found := re.findall(r"listening on tcp\S* \((\d+)\)", daemon.log()))
            and len(found) == 2
            and found
        ),
        what="both ports",
    )
    return int(ports[1])


def connect_idle(port: int, count: int) -> list[socket.socket]:
    """C{count} connections to C{port} that send nothing."""
    return [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]


def closed_by_server(sockets: list[socket.socket]) -> list[socket.socket]:
    """Those of C{sockets} the server has closed (EOF or reset), without waiting."""
    readable, _, _ = select.select(sockets, [], [], 0)
    closed = []
    for sock in readable:
        try:
            data = sock.recv(1024)
        except ConnectionResetError:
            data = b""
        assert data == b"", f"unexpected data from the metrics endpoint: {data!r}"
        closed.append(sock)
    return closed


def wait_closed(sockets: list[socket.socket], count: int, timeout: float) -> None:
    """Wait until the server has closed C{count} of C{sockets}."""
    gone: set[socket.socket] = set()

    def enough() -> bool:
        gone.update(closed_by_server([s for s in sockets if s not in gone]))
        return len(gone) >= count

    wait_for(enough, timeout=timeout, what=f"{count} connections closed")
    assert len(gone) == count


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/metrics", timeout=10
    ) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain")
        body = reply.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_metrics_after_some_traffic(start_daemon: StartDaemon) -> None:
    daemon = start_daemon(*METRICS, "--burst", "5", "--max-line-length", "50")
    port = metrics_port(daemon)
    alice, bob, carol = daemon.connect(), daemon.connect(), daemon.connect()
    alice.send(b"one\ntwo\n")
    bob.expect(r"^<guest1> two$")
    alice.send(b"x" * 60 + b"\n")
    alice.expect(r"^! Line too long")
    alice.send(b"".join(b"flood %d\n" % n for n in range(10)))
    alice.expect(r"^! Slow down")
    carol.reset()
    alice.expect(exactly(text.LEFT, name="guest3"))

    samples = scrape(port)
    assert samples[("chat_clients_connected", ())] == 2
    # one, two, the overlong line is not counted as received, then 10 floods
    assert samples[("chat_lines_received_total", ())] == 12
    # one, two and the 3 floods left of the burst of 5; 2 recipients each
    assert samples[("chat_deliveries_total", ())] == (2 + 3) * 2
    assert samples[("chat_bytes_out_total", ())] > 0
    assert samples[("chat_limit_hits_total", (("limit", "line_length"),))] == 1
    assert samples[("chat_limit_hits_total", (("limit", "rate"),))] == 7
    assert samples[("chat_disconnects_total", (("reason", "lost"),))] == 1
    assert samples[("chat_rooms", ())] == 1  # the lobby
    # one, two and the 3 floods, each kept in the lobby's history
    assert samples[("chat_history_lines", ())] == 5
    assert ("chat_history_write_failures_total", ()) not in samples  # no database


def test_a_bad_metrics_endpoint_is_one_line() -> None:
    result = run_command([bin_command("twistd"), "-n", "chat", "--metrics", "nope:1"])
    assert result.returncode == 1
    assert result.stderr.startswith("twistd chat: invalid --metrics 'nope:1'")
    assert result.stderr.count("\n") == 1


def test_a_scraper_storm_is_capped_and_the_chat_still_admits_newcomers(
    start_daemon: StartDaemon,
) -> None:
    """
    Idle connections past the cap are closed at once, so a storm of them
    cannot take the descriptors the chat needs; the ones held go idle-out.
    """
    daemon = start_daemon(*METRICS, descriptor_limit=DESCRIPTOR_LIMIT)
    port = metrics_port(daemon)
    before = len(daemon.log().splitlines())
    storm = connect_idle(port, DESCRIPTOR_LIMIT - 4)  # more than the daemon has
    try:
        # At once: well before the idle timeout would close any of them.
        wait_closed(storm, len(storm) - CAP, timeout=IDLE_SECONDS - 1)
        newcomer = LineClient(daemon.port)
        newcomer.expect(
            exactly(text.WELCOME, server="testhost", name="guest1", count=1)
        )
        wait_for(lambda: "connected as guest1" in daemon.log(), what="its log line")
        added = daemon.log().splitlines()[before:]
        assert len(added) == 1 and added[0].endswith(" connected as guest1"), added
        # The CAP held ones are closed once idle; then a scrape gets through.
        wait_closed(storm, len(storm), timeout=IDLE_SECONDS + 3)
        assert scrape(port)[("chat_clients_connected", ())] == 1
    finally:
        for sock in storm:
            sock.close()


def test_metrics_connections_never_take_the_chat_descriptor_headroom(
    start_daemon: StartDaemon,
) -> None:
    """
    With the chat at its descriptor limit, scrapers are closed at once, and a
    newcomer still gets the polite refusal instead of a bare EOF.
    """
    daemon = start_daemon(
        *METRICS, "--max-per-ip", "0", descriptor_limit=DESCRIPTOR_LIMIT
    )
    port = metrics_port(daemon)
    clients: list[LineClient] = []
    while True:
        assert len(clients) < DESCRIPTOR_LIMIT, "never refused for descriptors"
        client = LineClient(daemon.port)
        clients.append(client)
        [first] = client.read_lines(1)
        if text.WELCOME.parse(first) is None:
            assert first == OUT_OF_DESCRIPTORS
            client.expect_closed()
            break
    before = len(daemon.log().splitlines())
    scrapers: list[socket.socket] = []
    try:
        for _ in range(CAP):  # one after the other, each closed at once
            scrapers += connect_idle(port, 1)
            wait_closed(scrapers[-1:], 1, timeout=IDLE_SECONDS - 1)
        assert LineClient(daemon.port).read_lines(1) == [OUT_OF_DESCRIPTORS]
        # The daemon logs a refusal (or not: they are throttled) before it
        # sends it; the closed scrapers add nothing.
        added = daemon.log().splitlines()[before:]
        assert all(" refused: Server out of file descriptors" in a for a in added), (
            added
        )
    finally:
        for sock in scrapers:
            sock.close()


def test_a_half_sent_request_is_closed_after_the_idle_timeout(
    start_daemon: StartDaemon,
) -> None:
    """A request that stops half-way holds its connection 5 s, not a minute."""
    daemon = start_daemon(*METRICS)
    port = metrics_port(daemon)
    before = daemon.log()
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    started = time.monotonic()
    half.settimeout(IDLE_SECONDS + 3)
    assert half.recv(1024) == b""  # closed; a TimeoutError if it is not
    assert time.monotonic() - started >= IDLE_SECONDS - 0.5
    assert daemon.log() == before  # a timed-out scraper is not logged


def test_a_trickled_request_is_cut_off_at_the_scrape_deadline(
    start_daemon: StartDaemon,
) -> None:
    """
    A byte a second keeps the idle timer from firing, but not the 10 s
    deadline of the whole connection (the 1 s recv is the client's pace).
    """
    daemon = start_daemon(*METRICS)
    port = metrics_port(daemon)
    slow = socket.create_connection(("127.0.0.1", port))
    slow.settimeout(1.0)
    slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ")
    started = time.monotonic()
    reply = None  # a header that never ends, one byte a second
    while reply is None and time.monotonic() - started < SCRAPE_SECONDS + 2:
        try:
            slow.sendall(b"x")
            reply = slow.recv(1024)
        except TimeoutError:
            pass  # still open: the next byte
        except (ConnectionResetError, BrokenPipeError):
            reply = b""
    elapsed = time.monotonic() - started
    assert reply == b"", f"not cut off within {elapsed:.1f} s (got {reply!r})"
    assert SCRAPE_SECONDS - 0.5 <= elapsed <= SCRAPE_SECONDS + 2


def test_a_scrape_leaves_no_line_in_the_log(start_daemon: StartDaemon) -> None:
    """Prometheus scrapes every few seconds: that must not fill the chat's log."""
    daemon = start_daemon(*METRICS)
    port = metrics_port(daemon)
    before = len(daemon.log().splitlines())
    scrape(port)
    scrape(port)
    guest = LineClient(daemon.port)  # held open: its leaving would log a line
    guest.expect(
        exactly(text.WELCOME, server="testhost", name="guest1", count=1)
    )  # a line of the chat's own
    wait_for(lambda: "connected as guest1" in daemon.log(), what="the chat's line")
    added = daemon.log().splitlines()[before:]
    assert len(added) == 1 and added[0].endswith(" connected as guest1"), added
