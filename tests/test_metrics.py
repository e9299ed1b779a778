"""/metrics scraped over HTTP from the real daemon after some traffic."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from tests.support import ChatDaemon, bin_command, run_command, wait_for

StartDaemon = Callable[..., ChatDaemon]


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
    daemon = start_daemon(
        "--metrics",
        "tcp:0:interface=127.0.0.1",
        "--burst",
        "5",
        "--max-line-length",
        "50",
    )
    ports = wait_for(
        lambda: (
            (found := re.findall(r"listening on tcp\S* \((\d+)\)", daemon.log()))
            and len(found) == 2
            and found
        ),
        what="both ports",
    )
    metrics_port = int(ports[1])
    alice, bob, carol = daemon.connect(), daemon.connect(), daemon.connect()
    alice.send(b"one\ntwo\n")
    bob.expect(r"^<guest1> two$")
    alice.send(b"x" * 60 + b"\n")
    alice.expect(r"^! Line too long")
    alice.send(b"".join(b"flood %d\n" % n for n in range(10)))
    alice.expect(r"^! Slow down")
    carol.reset()
    alice.expect(r"^\* guest3 has left$")

    samples = scrape(metrics_port)
    assert samples[("chat_clients_connected", ())] == 2
    # one, two, the overlong line is not counted as received, then 10 floods
    assert samples[("chat_lines_received_total", ())] == 12
    # one, two and the 3 floods left of the burst of 5; 2 recipients each
    assert samples[("chat_deliveries_total", ())] == (2 + 3) * 2
    assert samples[("chat_bytes_out_total", ())] > 0
    assert samples[("chat_limit_hits_total", (("limit", "line_length"),))] == 1
    assert samples[("chat_limit_hits_total", (("limit", "rate"),))] == 7
    assert samples[("chat_disconnects_total", (("reason", "lost"),))] == 1


def test_a_bad_metrics_endpoint_is_one_line() -> None:
    result = run_command([bin_command("twistd"), "-n", "chat", "--metrics", "nope:1"])
    assert result.returncode == 1
    assert result.stderr.startswith("twistd chat: invalid --metrics 'nope:1'")
    assert result.stderr.count("\n") == 1
