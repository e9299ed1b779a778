"""
Every limit of the hardening work, its default and its refusal message,
against the real daemon.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import ChatDaemon, LineClient, bin_command, run_command, wait_for
from twisted_chat.core.limits import Limits

StartDaemon = Callable[..., ChatDaemon]


def test_defaults_are_documented_in_help() -> None:
    result = run_command([bin_command("twistd"), "chat", "--help"])
    expected = {
        "--max-line-length": "2048",
        "--rate": "5",
        "--burst": "20",
        "--max-queue": "1048576",
        "--max-clients": "10000",
        "--max-per-ip": "20",
        "--idle-timeout": "0",
        "--flood-timeout": "30",
    }
    help_text = " ".join(result.stdout.split())
    for option, default in expected.items():
        assert re.search(rf"{option}=.*?\[default: {default}(\.0)?\]", help_text), (
            option
        )


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--rate", "fast"),
        ("--burst", "0"),
        ("--max-queue", "-1"),
        ("--max-clients", "lots"),
        ("--idle-timeout", "nan"),
    ],
)
def test_bad_option_values_are_one_line(option: str, value: str) -> None:
    result = run_command([bin_command("twistd"), "-n", "chat", option, value])
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"twistd chat: {option} takes ")
    assert repr(value) in result.stderr


def test_line_length_default_and_refusal(daemon: ChatDaemon) -> None:
    sender, listener = daemon.connect(), daemon.connect()
    sender.nick("s")
    longest = "x" * (Limits.max_line_length - len("\r"))
    sender.send(longest.encode() + b"\n")
    listener.expect(rf"^<s> {longest}$")
    sender.send(b"y" * (Limits.max_line_length + 1) + b"\nnext one\n")
    sender.expect(r"^! Line too long \(over 2048 bytes\); not sent\.$")
    listener.expect(r"^<s> next one$")
    assert not any("yyyy" in line for line in listener.lines)


def test_endless_line_is_refused_once_and_held_within_the_limit(
    start_daemon: StartDaemon,
) -> None:
    daemon = start_daemon("--max-line-length", "100", "--rate", "0")
    sender, listener = daemon.connect(), daemon.connect()
    sender.nick("s")
    before = daemon.rss_kib()
    chunk = b"z" * 65536
    for _ in range(320):  # 20 MiB without a newline
        sender.send(chunk)
    sender.send(b"\nafter\n")
    listener.expect(r"^<s> after$")
    sender.expect(r"^! Line too long \(over 100 bytes\)")
    assert daemon.rss_kib() - before < 8 * 1024
    assert sum("Line too long" in line for line in sender.lines) == 1


def test_flood_control_defaults(daemon: ChatDaemon) -> None:
    """20 lines at once go through; the rest are refused with one notice."""
    flooder, listener = daemon.connect(), daemon.connect()
    flooder.nick("f")
    flooder.send(b"".join(b"line %d\n" % n for n in range(30)))
    flooder.expect(r"^! Slow down: at most 5 lines a second \(bursts of 20\)")
    flooder.send("/who")  # refused too, quietly: within a second of the notice
    # The /nick took one line of the burst of 20: 19 lines go through.
    for number in range(19):
        listener.expect(rf"^<f> line {number}$")
    listener.send("/who")
    listener.expect(r"^\*\*\* 2 here")
    assert not any(line.startswith("<f> line 19") for line in listener.lines)
    assert sum("Slow down" in line for line in flooder.lines) == 1


def test_rate_zero_turns_flood_control_off(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--rate", "0")
    flooder, listener = daemon.connect(), daemon.connect()
    flooder.nick("f")
    flooder.send(b"".join(b"line %d\n" % n for n in range(1000)))
    for number in range(1000):
        listener.expect(rf"^<f> line {number}$")


def test_flooding_without_pause_disconnects(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--rate", "10", "--burst", "5", "--flood-timeout", "2")
    flooder, listener = daemon.connect(), daemon.connect()
    flooder.nick("f")
    deadline = time.monotonic() + 30
    try:
        # Bounded in count and time; each round waits up to 10 ms for an answer.
        for number in range(10_000):
            if time.monotonic() > deadline or any(
                "Disconnected" in line for line in flooder.lines
            ):
                break
            flooder.send(f"flood {number}")
            flooder._read_some(time.monotonic() + 0.01)
    except OSError:  # the server closed while we were sending
        pass
    flooder.expect(r"^! Disconnected: flooding for 2 s\.$")
    flooder.expect_closed()
    listener.expect(r"^\*\*\* f has left$")
    wait_for(lambda: "(f) disconnected for flooding" in daemon.log(), what="the log")


def test_a_client_that_never_reads_is_dropped_and_delays_no_one(
    start_daemon: StartDaemon,
) -> None:
    daemon = start_daemon("--rate", "0", "--max-queue", "262144")
    sender, listener = daemon.connect(), daemon.connect()
    sender.nick("s")
    stuck = daemon.connect(receive_buffer=4096)
    stuck.nick("stuck")
    listener.expect(r"is now known as stuck$")
    before = daemon.rss_kib()
    payload = "p" * 1000
    # 20 MB through the room in 2,000 rounds of 10 lines; the listener keeps up.
    for round_number in range(2000):
        sender.send(
            "".join(f"{round_number} {n} {payload}\r\n" for n in range(10)).encode()
        )
        listener.count_lines(
            lambda line: line.startswith("<s> "), 10 * (round_number + 1)
        )
    assert "*** stuck has left" in listener.lines
    relayed = [line.split()[1:3] for line in listener.lines if line.startswith("<s> ")]
    assert relayed == [[str(r), str(n)] for r in range(2000) for n in range(10)]
    assert daemon.rss_kib() - before < 16 * 1024
    wait_for(lambda: "(stuck) dropped: not reading" in daemon.log(), what="the log")


def test_max_clients(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--max-clients", "3")
    clients = [daemon.connect() for _ in range(3)]
    refused = LineClient(daemon.port)
    refused.expect(r"^! Server full \(3 clients\); try again later\.$")
    refused.expect_closed()
    clients[0].close()
    clients[1].expect(r"has left$")
    daemon.connect()  # a place is free again
    wait_for(lambda: "refused: Server full" in daemon.log(), what="the log")


def test_max_per_ip(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--max-per-ip", "2")
    kept = [daemon.connect() for _ in range(2)]
    refused = LineClient(daemon.port)
    refused.expect(
        r"^! Too many connections from 127\.0\.0\.1 \(at most 2\); try again later\.$"
    )
    refused.expect_closed()
    other = LineClient(daemon.port, source="127.0.0.2")  # another address is fine
    other.expect(r"^\*\*\* Welcome")
    # Only the admitted ones were announced: kept[1], then other.
    kept[0].count_lines(lambda line: line.endswith(" has joined"), 2)
    kept[0].send("/who")
    kept[0].expect(r"^\*\*\* 3 here: ")


def test_running_out_of_descriptors_refuses_and_recovers(
    start_daemon: StartDaemon,
) -> None:
    daemon = start_daemon(
        "--max-clients", "0", "--max-per-ip", "0", descriptor_limit=64
    )
    admitted: list[LineClient] = []
    refusals = 0
    for _ in range(80):
        client = LineClient(daemon.port)
        try:
            first = client.read_lines(1)[0]
        except ConnectionError:  # closed by Twisted's emergency reserve
            refusals += 1
            continue
        if first.startswith("*** Welcome"):
            admitted.append(client)
        else:
            assert first == "! Server out of file descriptors; try again later."
            refusals += 1
    assert refusals > 0
    assert 20 < len(admitted) < 64
    for client in admitted[:10]:
        client.close()
    wait_for(
        lambda: daemon.log().count("disconnected:") >= 10,
        what="the daemon to see the closes",
    )
    again = LineClient(daemon.port)
    assert again.read_lines(1)[0].startswith("*** Welcome")
    assert "Server out of file descriptors" in daemon.log()


def test_idle_timeout(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--idle-timeout", "1")
    idle = daemon.connect()
    idle.expect(r"^! Disconnected: idle for 1 s\.$", timeout=10)
    idle.expect_closed()
    wait_for(lambda: "disconnected: idle timeout" in daemon.log(), what="the log")


def test_idle_timeout_spares_clients_that_talk(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--idle-timeout", "2")
    talker, idle = daemon.connect(), daemon.connect()
    talker.nick("talker")
    # Speak every half second for three seconds; idle is dropped meanwhile.
    for _ in range(6):
        talker.send("still here")
        with contextlib.suppress(AssertionError):
            idle.expect(r"^<talker> still here$", timeout=0.5)
    talker.expect(r"^\*\*\* guest2 has left$")
    talker.send("/who")
    talker.expect(r"^\*\*\* 1 here: talker$")


@pytest.mark.parametrize(
    ("options", "seconds"), [((), 60), (("--keepalive", "20"), 20)]
)
def test_keepalive_on_client_connections(
    start_daemon: StartDaemon, options: tuple[str, ...], seconds: int
) -> None:
    """
    The daemon's side of a client connection has its keepalive timer armed,
    to fire within a minute by default (the kernel's default is two hours),
    or within --keepalive seconds.
    """
    daemon = start_daemon(*options)
    client = daemon.connect()
    client_port = client.sock.getsockname()[1]

    def timer_of_server_side() -> str | None:
        # /proc/net/tcp: "tr" is the active timer; 2 is the keepalive timer.
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if local.endswith(f":{daemon.port:04X}") and remote.endswith(
                f":{client_port:04X}"
            ):
                return fields[5]
        return None

    timer = wait_for(timer_of_server_side, what="the connection in /proc/net/tcp")
    kind, when = timer.split(":")
    assert kind == "02"
    # When it fires, in clock ticks (USER_HZ, 100 a second).
    assert 0 < int(when, 16) <= seconds * os.sysconf("SC_CLK_TCK")


def test_announce_limit(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("--announce-limit", "2")
    first, second = daemon.connect(), daemon.connect()
    first.expect(r"^\*\*\* guest2 has joined$")
    third = LineClient(daemon.port)
    third.expect(r"^\*\*\* Welcome to testhost, guest3! 3 here now\.")
    third.expect(r"^\*\*\* Over 2 people here: joins and leaves are not announced\.$")
    third.send("/who")
    third.expect(r"^\*\*\* 3 here: guest1, guest2, guest3$")
    third.expect(r"^\*\*\* Over 2 people here")
    third.close()
    second.send("marker")
    first.expect(r"^<guest2> marker$")
    assert not any("guest3" in line for line in first.lines)


def test_a_flood_of_bad_lines_writes_a_few_log_lines(
    start_daemon: StartDaemon,
) -> None:
    """Five connections sending overlong lines as fast as they can: the log
    grows by a few lines a second, and says how many hits it left out."""
    daemon = start_daemon("--rate", "0", "--max-line-length", "100")
    flooders = [daemon.connect() for _ in range(5)]
    for flooder in flooders:
        flooder.nick(f"f{flooders.index(flooder)}")
    before = daemon.log().count("\n")
    line = b"x" * 150 + b"\n"
    for _ in range(200):
        for flooder in flooders:
            flooder.send(line * 20)
    for flooder in flooders:
        flooder.count_lines(lambda text: text.startswith("! Line too long"), 4000)
    logged = daemon.log().count("\n") - before
    assert logged <= 5 + 5 * 2
    assert "sent a line over 100 bytes (not logged before this: 0 here" in daemon.log()


def test_an_ipv4_peer_counts_once_on_tcp_and_tcp6_ports(
    start_daemon: StartDaemon,
) -> None:
    """--max-per-ip counts 127.0.0.1 and ::ffff:127.0.0.1 as one address."""
    daemon = start_daemon(
        "--max-per-ip",
        "2",
        "--port",
        "tcp:0:interface=127.0.0.1",
        "--port",
        r"tcp6:0:interface=\:\:",
    )

    def both_ports() -> list[int]:
        found = re.findall(r"listening on (tcp6?):\S* \((\d+)\)", daemon.log())
        return [int(port) for _, port in sorted(found)] if len(found) == 2 else []

    ports = wait_for(both_ports, what="both ports")
    kept = LineClient(ports[0])
    kept.expect(r"Welcome to ")
    mapped = LineClient(ports[1], host="::ffff:127.0.0.1")
    mapped.expect(r"Welcome to ")
    third = LineClient(ports[0])
    third.expect(r"^! Too many connections from 127\.0\.0\.1 \(at most 2\)")
