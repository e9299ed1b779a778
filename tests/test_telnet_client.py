"""
The stock telnet client (on a pseudo-terminal, its screen read through a
terminal emulator) and the real nc against the real daemon, as the people
who use them would: Ctrl-C, UTF-8 typed in telnet's default mode,
character mode, Are You There; and the strangers (a web browser, a TLS
client) who come to the chat port by mistake.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator

import pytest

from tests.support import ChatDaemon, run_command
from tests.telnet_screen import BytePeer, NcUser, TelnetScreen, require_tools
from twisted_chat import text

Opened = list[TelnetScreen | NcUser | BytePeer]


@pytest.fixture
def opened() -> Iterator[Opened]:
    """Every client a test opens, closed (telnet and nc killed) after it."""
    clients: Opened = []
    yield clients
    for client in clients:
        client.close()


def open_telnet(daemon: ChatDaemon, opened: Opened) -> TelnetScreen:
    require_tools("telnet")
    telnet = TelnetScreen("127.0.0.1", daemon.port)
    opened.append(telnet)
    telnet.join()
    return telnet


def open_peer(daemon: ChatDaemon, opened: Opened) -> BytePeer:
    peer = BytePeer(daemon.port)
    opened.append(peer)
    peer.join()
    return peer


def said(name: str, line: str) -> str:
    return text.MESSAGE.format(name=name, text=line)


def joined(name: str) -> bytes:
    return text.JOINED.format(name=name).encode()


def test_after_ctrl_c_the_room_and_commands_reach_the_telnet_screen(
    daemon: ChatDaemon, opened: Opened
) -> None:
    """
    Ctrl-C makes telnet send IAC IP IAC DO TIMING-MARK and discard all
    output until the mark comes back: answered every time, the session
    keeps showing the room and the answers to commands.
    """
    peer = open_peer(daemon, opened)
    telnet = open_telnet(daemon, opened)
    assert peer.next_raw_line() == joined(telnet.name)
    telnet.ctrl_c()  # the first telnet command of the session
    telnet.type("/who\r")
    names = ", ".join(sorted([peer.name, telnet.name], key=str.casefold))
    telnet.wait_for_text(text.WHO.format(count=2, text=names))
    peer.send("after the first ctrl-c")
    telnet.wait_for_text(said(peer.name, "after the first ctrl-c"))
    telnet.ctrl_c()  # again, with BINARY on by now
    telnet.type("/help\r")
    telnet.wait_for_text(text.NOTICE.format(text="Commands:"))
    peer.send("after the second ctrl-c")
    telnet.wait_for_text(said(peer.name, "after the second ctrl-c"))
    telnet.type("still talking\r")
    assert peer.next_raw_line() == said(telnet.name, "still talking").encode()


# Stock telnet in its default mode strips the top bit of each byte typed and
# sends a byte that then matches a special character as a telnet command.
FIRST_LINES = {
    "all": "ăîșț 中文 本 🙃 ß",  # C4 83: 83 is Ctrl-C, sent as IAC IP IAC DO TM
    "0x9c first": "本日",  # E6 9C AC: 9C is Ctrl-\, sent as IAC BRK; 97 is ^W
    "0x83 last of four": "🙃",  # F0 9F 99 83
    "text before": "中文 本",
    "two in one character": "Ⴣ ნ",  # E1 83 83, E1 83 9C
    # C4 9A (^Z: IAC SUSP), C4 8F (^O: IAC AO), then 94 84 95 88 97 92 96 9B
    # (^T ^D ^U ^H ^W ^R ^V ESC), which telnet sends as they are.
    "0x9a 0x8f and the other control keys": "ĚďĔĄĕĈėĒĖě",
}


@pytest.mark.parametrize("line", FIRST_LINES.values(), ids=FIRST_LINES.keys())
def test_utf8_typed_as_the_first_line_arrives_exact(
    daemon: ChatDaemon, opened: Opened, line: str
) -> None:
    """
    The first line of a session, typed before any telnet option is on,
    reaches the room byte for byte, whatever commands telnet made of its
    bytes; the session then shows the room, and later lines (BINARY on by
    then) arrive exact too, 0x9D and 0x85 included.
    """
    peer = open_peer(daemon, opened)
    telnet = open_telnet(daemon, opened)
    assert peer.next_raw_line() == joined(telnet.name)
    telnet.type(line + "\r")
    assert peer.next_raw_line() == said(telnet.name, line).encode()
    telnet.wait_for_text(line)  # the terminal's own echo, as typed
    peer.send("seen after the first line")
    telnet.wait_for_text(said(peer.name, "seen after the first line"))
    telnet.type("東京 Ņ\r")  # E6 9D B1 E4 BA AC, C5 85
    assert peer.next_raw_line() == said(telnet.name, "東京 Ņ").encode()


def test_after_one_ctrl_c_even_the_bytes_telnet_would_swallow_arrive_exact(
    daemon: ChatDaemon, opened: Opened
) -> None:
    """
    Until telnet has sent a command, it eats 0x85 and 0x9D itself (they
    are its ^E and ^] keys); one Ctrl-C, even after plain ASCII lines,
    turns BINARY on, and from then on every byte arrives as typed.
    """
    peer = open_peer(daemon, opened)
    telnet = open_telnet(daemon, opened)
    telnet.type("plain ascii first\r")
    assert peer.next_raw_line() == joined(telnet.name)
    assert peer.next_raw_line() == said(telnet.name, "plain ascii first").encode()
    telnet.ctrl_c()
    line = "東京 Ņ ą ĝ"  # E6 9D B1 E4 BA AC, C5 85, C4 85, C4 9D
    telnet.type(line + "\r")
    assert peer.next_raw_line() == said(telnet.name, line).encode()


def test_typed_lines_end_at_the_left_edge_after_the_first_telnet_command(
    daemon: ChatDaemon, opened: Opened
) -> None:
    """
    The negotiation the first telnet command starts leaves stock telnet's
    terminal as it was: the echo of Enter still returns to the left edge,
    so what the user types next and the room's next line each start a row
    there, as on any terminal.
    """
    peer = open_peer(daemon, opened)
    telnet = open_telnet(daemon, opened)
    telnet.type("ă starts the negotiation\r")
    assert peer.next_raw_line() == joined(telnet.name)
    assert (
        peer.next_raw_line() == said(telnet.name, "ă starts the negotiation").encode()
    )
    telnet.type("typed after it\r")
    assert peer.next_raw_line() == said(telnet.name, "typed after it").encode()
    peer.send("the room after it")
    rows = telnet.wait_for_screen(
        lambda rows: said(peer.name, "the room after it") in map(str.lstrip, rows),
        "the room's line",
    )
    shown = "\n".join(row for row in rows if row)
    expected = "\ntyped after it\n" + said(peer.name, "the room after it")
    assert expected in shown, f"the telnet screen:\n{shown}"


def test_character_mode_echoes_and_erases_whole_characters(
    daemon: ChatDaemon, opened: Opened
) -> None:
    """
    In character mode (^] mode character) the server echoes what is typed,
    and Backspace or Delete erase one character, UTF-8 or wide: the screen
    shows what the room receives.
    """
    peer = open_peer(daemon, opened)
    telnet = open_telnet(daemon, opened)
    telnet.character_mode()
    mark = len(telnet.output)
    telnet.type("fix\x7f\x7fne\r")
    assert peer.next_raw_line() == joined(telnet.name)
    assert peer.next_raw_line() == said(telnet.name, "fne").encode()
    telnet.wait_for_output(b"fix\b \b\b \bne\r\n", since=mark)
    telnet.wait_for_row("fne")
    mark = len(telnet.output)
    telnet.type("中文\x7fx\r")  # a wide character takes two cells to erase
    assert peer.next_raw_line() == said(telnet.name, "中x").encode()
    telnet.wait_for_output("中文\b\b  \b\bx\r\n".encode(), since=mark)
    telnet.wait_for_row("中x")
    mark = len(telnet.output)
    telnet.type("ăî\b!\r")  # Backspace as ^H, a two-byte character
    assert peer.next_raw_line() == said(telnet.name, "ă!").encode()
    telnet.wait_for_output("ăî\b \b!\r\n".encode(), since=mark)
    telnet.wait_for_row("ă!")
    peer.send("the room, in character mode")
    telnet.wait_for_row(said(peer.name, "the room, in character mode"))


def test_interrupt_in_character_mode_discards_the_half_typed_line(
    daemon: ChatDaemon, opened: Opened
) -> None:
    """IAC IP (^] send ip) drops what was typed and erases its echo."""
    peer = open_peer(daemon, opened)
    telnet = open_telnet(daemon, opened)
    telnet.character_mode()
    mark = len(telnet.output)
    telnet.type("abc")
    telnet.wait_for_output(b"abc", since=mark)
    telnet.telnet_command("send ip")
    telnet.wait_for_output(b"\b\b\b   \b\b\b", since=mark)
    telnet.type("def\r")
    assert peer.next_raw_line() == joined(telnet.name)
    assert peer.next_raw_line() == said(telnet.name, "def").encode()


def test_ctrl_c_in_character_mode_discards_the_half_typed_line(
    daemon: ChatDaemon, opened: Opened
) -> None:
    peer = open_peer(daemon, opened)
    telnet = open_telnet(daemon, opened)
    telnet.character_mode()
    mark = len(telnet.output)
    telnet.type("abc")
    telnet.wait_for_output(b"abc", since=mark)
    telnet.type("\x03def\r")
    assert peer.next_raw_line() == joined(telnet.name)
    assert peer.next_raw_line() == said(telnet.name, "def").encode()


def test_are_you_there_is_answered_on_screen_and_nothing_reaches_the_room(
    daemon: ChatDaemon, opened: Opened
) -> None:
    peer = open_peer(daemon, opened)
    telnet = open_telnet(daemon, opened)
    telnet.telnet_command("send ayt")
    telnet.wait_for_text(text.NOTICE.format(text="Yes, still here."))
    telnet.type("after ayt\r")
    assert peer.next_raw_line() == joined(telnet.name)
    assert peer.next_raw_line() == said(telnet.name, "after ayt").encode()


def test_nc_gets_no_telnet_byte_and_its_lines_arrive_exact(
    daemon: ChatDaemon, opened: Opened
) -> None:
    """
    An nc user in a room with a telnet user who negotiates, interrupts
    and asks AYT receives exactly the room's lines and never byte 255;
    what nc sends reaches telnet's screen and the room byte for byte.
    """
    require_tools("nc")
    peer = open_peer(daemon, opened)
    nc = NcUser("127.0.0.1", daemon.port)
    opened.append(nc)
    nc_name = nc.join()
    assert peer.next_raw_line() == joined(nc_name)
    telnet = open_telnet(daemon, opened)
    assert peer.next_raw_line() == joined(telnet.name)
    first = "ăîșț 中文 本 🙃 ß"
    telnet.type(first + "\r")
    assert peer.next_raw_line() == said(telnet.name, first).encode()
    telnet.ctrl_c()
    telnet.telnet_command("send ayt")
    telnet.wait_for_text(text.NOTICE.format(text="Yes, still here."))
    telnet.character_mode()
    telnet.type("東京 Ņ\r")
    assert peer.next_raw_line() == said(telnet.name, "東京 Ņ").encode()
    from_nc = "héllo from nc: 東京 Ņ 🙃 ß"
    nc.send(from_nc.encode() + b"\n")
    telnet.wait_for_text(said(nc_name, from_nc))
    assert peer.next_raw_line() == said(nc_name, from_nc).encode()
    peer.send("last line")
    nc.wait_for_line(lambda line: line == said(peer.name, "last line").encode(), "it")
    assert b"\xff" not in nc.received
    greeting = nc.lines()[0].decode()
    assert bytes(nc.received) == b"".join(
        [
            text.encode_line(greeting),
            text.NOW_IN.encode(room="lobby", count=welcome_count(greeting)),
            text.JOINED.encode(name=telnet.name),
            text.MESSAGE.encode(name=telnet.name, text=first),
            text.MESSAGE.encode(name=telnet.name, text="東京 Ņ"),
            text.MESSAGE.encode(name=peer.name, text="last line"),
        ]
    )


def test_latin1_from_nc_is_refused_and_its_iac_sb_swallows_nothing(
    daemon: ChatDaemon, opened: Opened
) -> None:
    """FF FA typed by a Latin-1 nc user is not the start of a subnegotiation."""
    require_tools("nc")
    peer = open_peer(daemon, opened)
    nc = NcUser("127.0.0.1", daemon.port)
    opened.append(nc)
    nc_name = nc.join()
    nc.send(b"caf\xe9 \xff\xfa x\nnext line\n")
    nc.wait_for_line(lambda line: b"not UTF-8" in line, "the refusal")
    assert peer.next_raw_line() == joined(nc_name)
    assert peer.next_raw_line() == said(nc_name, "next line").encode()


HTTP_400 = (
    b"HTTP/1.0 400 Bad Request\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 109\r\n"
    b"Connection: close\r\n"
    b"\r\n"
    b"This is a twisted_chat chat port, not a web server.\r\n"
    b"Join the chat with: telnet HOST PORT, or nc HOST PORT.\r\n"
)


def http_with_curl(port: int) -> bytes:
    if shutil.which("curl") is None:
        pytest.skip("curl not installed (the raw-socket case covers HTTP)")
    done = subprocess.run(
        ["curl", "-sS", "-i", "--max-time", "10", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def http_with_socket(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def assert_room_saw_nothing(
    daemon: ChatDaemon, watcher: BytePeer, opened: Opened
) -> None:
    """The next thing the room sees is a newcomer joining after the stranger."""
    after = open_peer(daemon, opened)
    assert watcher.next_raw_line() == joined(after.name)


@pytest.mark.parametrize("fetch", [http_with_curl, http_with_socket])
def test_http_gets_a_plain_400_and_the_room_sees_nothing(
    daemon: ChatDaemon, opened: Opened, fetch: Callable[[int], bytes]
) -> None:
    watcher = open_peer(daemon, opened)
    assert fetch(daemon.port) == HTTP_400
    assert_room_saw_nothing(daemon, watcher, opened)


def test_openssl_s_client_gets_a_tls_alert_and_the_room_sees_nothing(
    daemon: ChatDaemon, opened: Opened
) -> None:
    require_tools("openssl")
    watcher = open_peer(daemon, opened)
    done = run_command(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{daemon.port}"],
        timeout=20,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1
    assert "alert handshake failure" in done.stderr
    assert "SSL alert number 40" in done.stderr
    assert_room_saw_nothing(daemon, watcher, opened)


def welcome_count(greeting: str) -> int:
    """How many were here, by the greeting (the room's count says the same)."""
    fields = text.WELCOME.parse(greeting)
    assert fields is not None, greeting
    return int(fields["count"])
