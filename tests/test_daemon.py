"""
The real daemon: C{twistd -n chat} as a child process, plain sockets on
127.0.0.1, stopped with SIGTERM.
"""

from __future__ import annotations

import re
import signal
import socket
from collections.abc import Callable
from pathlib import Path

from tests.support import ChatDaemon, LineClient, bin_command, run_command, wait_for


def test_lines_reach_every_other_client_not_the_sender(daemon: ChatDaemon) -> None:
    """A line goes to all others, prefixed with the sender's name, CRLF-ended."""
    alice, bob, carol = daemon.connect(), daemon.connect(), daemon.connect()
    alice.nick("alice")
    alice.send("hello room")
    for other in (bob, carol):
        other.expect(r"^<alice> hello room$")
    alice.send("/who")
    alice.expect(r"^\*\*\* 3 here: ")
    assert not any("<alice> hello room" in line for line in alice.lines)


def test_greeting_and_join_leave_announcements(daemon: ChatDaemon) -> None:
    first = daemon.connect()
    assert first.lines[0].startswith("*** Welcome to testhost, guest")
    assert "1 here now" in first.lines[0]
    assert "/help" in first.lines[0]
    second = daemon.connect()
    assert "2 here now" in second.lines[0]
    joined = first.expect(r"^\*\*\* (guest\d+) has joined$").group(1)
    second.close()
    first.expect(rf"^\*\*\* {joined} has left$")


def test_crlf_and_lf_input_and_blank_lines(daemon: ChatDaemon) -> None:
    """LF and CRLF both end a line; blank lines are not relayed."""
    sender, listener = daemon.connect(), daemon.connect()
    sender.nick("s")
    sender.send(b"one\r\ntwo\n\r\n\n   \nthree\r\n")
    assert listener.read_lines(4)[1:] == ["<s> one", "<s> two", "<s> three"]


def test_raw_bytes_are_framed_across_reads(daemon: ChatDaemon) -> None:
    """A line split over several packets arrives whole, once."""
    sender, listener = daemon.connect(), daemon.connect()
    sender.nick("s")
    listener.expect(r"is now known as s$")
    for piece in (b"hel", b"lo wo", b"rld\r", b"\nnext\n"):
        sender.send(piece)
    assert listener.read_lines(2) == ["<s> hello world", "<s> next"]


def test_nick_rules_and_conflicts(daemon: ChatDaemon) -> None:
    alice, bob = daemon.connect(), daemon.connect()
    alice.nick("Alice")
    bob.expect(r"^\*\*\* guest\d+ is now known as Alice$")
    bob.send("/nick alice")
    bob.expect(r"^! The name alice is taken\.$")
    bob.send("/nick " + "x" * 25)
    bob.expect(r"^! Invalid name .*1 to 24")
    bob.send("/nick bad!name")
    bob.expect(r"^! Invalid name 'bad!name'")
    bob.send("/nick")
    bob.expect(r"^! Usage: /nick NAME$")
    bob.nick("bob.b-1_")
    alice.expect(r"^\*\*\* guest\d+ is now known as bob\.b-1_$")


def test_who_me_help_and_unknown_command(daemon: ChatDaemon) -> None:
    alice, bob = daemon.connect(), daemon.connect()
    alice.nick("alice")
    bob.nick("bob")
    alice.send("/who")
    alice.expect(r"^\*\*\* 2 here: alice, bob$")
    alice.send("/me waves")
    bob.expect(r"^\* alice waves$")
    alice.send("/help")
    for command in ("/help", "/nick NAME", "/who", "/me ACTION", "/msg NAME TEXT"):
        alice.expect(rf"^\*\*\*   {re.escape(command)}\s")
    alice.send("/frobnicate now")
    alice.expect(r"^! Unknown command /frobnicate; type /help$")
    alice.send("//not a command")
    bob.expect(r"^<alice> /not a command$")
    assert not any("frobnicate" in line for line in bob.lines)


def test_private_messages(daemon: ChatDaemon) -> None:
    alice, bob, carol = daemon.connect(), daemon.connect(), daemon.connect()
    for client, name in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
        client.nick(name)
    alice.send("/msg BOB just you")
    bob.expect(r"^\*alice\* just you$")
    alice.expect(r"^-> \*bob\* just you$")
    alice.send("/msg nobody hello")
    alice.expect(r"^! No such name: nobody$")
    # carol sees none of it: the next thing she gets is a public line.
    alice.send("public")
    carol.expect(r"^<alice> public$")
    assert not any("just you" in line for line in carol.lines)


def test_quit_says_goodbye_and_closes(daemon: ChatDaemon) -> None:
    alice, bob = daemon.connect(), daemon.connect()
    alice.nick("alice")
    alice.send("/quit")
    alice.expect(r"^\*\*\* Goodbye, alice\.$")
    alice.expect_closed()
    bob.expect(r"^\*\*\* alice has left$")


def test_reset_mid_traffic_never_stops_the_others(
    start_daemon: Callable[..., ChatDaemon],
) -> None:
    """Clients that vanish (RST, close) are announced; the rest keep chatting."""
    daemon = start_daemon("--rate", "0")
    talker, listener = daemon.connect(), daemon.connect()
    talker.nick("talker")
    doomed = [daemon.connect() for _ in range(5)]
    for client in doomed:
        client.nick(f"doomed{doomed.index(client)}")
    for number in range(200):
        talker.send(f"line {number}")
        if number == 100:
            for client in doomed[:3]:
                client.reset()
            for client in doomed[3:]:
                client.close()
    for number in range(200):
        listener.expect(rf"^<talker> line {number}$")
    talker.count_lines(lambda line: line.endswith(" has left"), 5)
    left = {line.split()[1] for line in talker.lines if line.endswith(" has left")}
    assert left == {f"doomed{index}" for index in range(5)}
    talker.send("/who")
    talker.expect(r"^\*\*\* 2 here: ")


def test_invalid_port_stops_with_one_line(tmp_path: Path) -> None:
    for bad in ("foo:bar", "tcp:notaport", "ssl:0:privateKey=/nonexistent.pem"):
        result = run_command(
            [bin_command("twistd"), "-n", "--pidfile=", "chat", "--port", bad],
            cwd=tmp_path,
        )
        assert result.returncode != 0
        assert "Traceback" not in result.stdout + result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"twistd chat: invalid --port {bad!r}")


def test_port_in_use_stops_with_one_line(daemon: ChatDaemon, tmp_path: Path) -> None:
    result = run_command(
        [
            bin_command("twistd"),
            "-n",
            "--pidfile=",
            "--logfile",
            str(tmp_path / "second.log"),
            "chat",
            "--port",
            f"tcp:{daemon.port}:interface=127.0.0.1",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"twistd chat: cannot listen on tcp:{daemon.port}:interface=127.0.0.1: "
        f"Couldn't listen on 127.0.0.1:{daemon.port}: "
        "[Errno 98] Address already in use."
    ]


def test_several_endpoints_and_a_unix_socket(
    start_daemon: Callable[..., ChatDaemon], tmp_path: Path
) -> None:
    """One daemon, two TCP ports and a unix socket: all in the same room."""
    sock_path = tmp_path / "chat.sock"
    chat = start_daemon(
        "--port",
        "tcp:0:interface=127.0.0.1",
        "--port",
        "tcp:0:interface=127.0.0.1",
        "--port",
        f"unix:{sock_path}",
    )
    # All three are listening once the log names all three.
    wait_for(lambda: chat.log().count("listening on ") == 3, what="three endpoints")
    ports = [int(p) for p in re.findall(r"listening on tcp\S* \((\d+)\)", chat.log())]
    assert len(set(ports)) == 2
    over_unix = socket.socket(socket.AF_UNIX)
    over_unix.connect(str(sock_path))
    over_unix.settimeout(15)
    wait_for(lambda: b"Welcome" in over_unix.recv(4096), what="greeting on unix")
    first = chat.connect()
    second = LineClient(ports[1])
    second.expect("Welcome")
    over_unix.sendall(b"/nick unixer\nfrom the socket file\n")
    first.expect(r"^<unixer> from the socket file$")
    second.expect(r"^<unixer> from the socket file$")


def test_sigterm_tells_clients_and_exits(daemon: ChatDaemon) -> None:
    client = daemon.connect()
    # twistd ends by re-raising the signal, so the parent sees why it stopped.
    assert daemon.stop(signal.SIGTERM) == -signal.SIGTERM
    client.expect(r"^\*\*\* server shutting down$")
    client.expect_closed()
    assert "Received SIGTERM" in daemon.log()


def test_limits_tells_a_client_its_limits(
    start_daemon: Callable[..., ChatDaemon],
) -> None:
    daemon = start_daemon("--rate", "0.5", "--burst", "3", "--max-line-length", "100")
    client = daemon.connect()
    client.send("/limits")
    client.expect(
        r"^\*\*\* Limits: 0\.5 lines a second, bursts of 3, 100 bytes a line$",
        timeout=5,
    )
