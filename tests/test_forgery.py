"""
No one can make a line that looks like the server's: every format the
server sends, what people can put in them, and the daemon itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import ChatDaemon, LineClient
from twisted_chat import text
from twisted_chat.core.hub import Hub
from twisted_chat.daemon.options import Options
from twisted_chat.daemon.service import ChatService, makeService
from twisted_chat.names import NAME_RULE, is_reserved

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
SAMPLE_FIELDS = {
    "name": "guest1",
    "old": "a.b-c_1",
    "new": "Z" * 24,
    "server": "Team Chat, 2! x",
    "count": 12,
    "text": "anything at all: *** ! <x> * y *z*",
    "rate": "0.5",
    "burst": 20,
    "length": 2048,
    "word": "nick",
    "room": "dev.Team-2_x",
    "time": "2026-11-30 21:30",
}

NAMES = st.from_regex(NAME_RULE, fullmatch=True).filter(lambda n: not is_reserved(n))
# What survives cleaning of any text a person can type, never blank.
SAID_TEXT = st.text(max_size=60).map(text.clean_string).filter(str.strip)


def test_every_line_format_is_either_said_or_the_servers() -> None:
    """A new format must be put on one side before this passes."""
    defined = [
        value for value in vars(text).values() if isinstance(value, text.LineFormat)
    ]
    assert sorted(f.template for f in defined) == sorted(
        f.template for f in (*text.LINE_FORMATS, *text.CLIENT_FORMATS)
    )
    for client_format in text.CLIENT_FORMATS:
        # Nothing the server sends, nor anything a person writes, looks like it.
        assert not client_format.template.startswith(("<", "*", "!"))
    assert len(set(text.LINE_FORMATS)) == len(text.LINE_FORMATS)
    assert set(text.SAID_FORMATS).isdisjoint(text.SERVER_FORMATS)
    assert set(text.EVENT_FORMATS) <= set(text.SERVER_FORMATS)


def test_server_lines_start_with_three_stars_or_a_bang() -> None:
    for line_format in text.SERVER_FORMATS:
        assert line_format.template.startswith(("*** ", "! ")), line_format


def test_each_format_is_recognised_as_itself() -> None:
    """parse_line's order works: no earlier format takes another's line."""
    for line_format in text.LINE_FORMATS:
        line = line_format.format(**SAMPLE_FIELDS)
        parsed = text.parse_line(line)
        assert parsed is not None, line
        assert parsed[0] is line_format, (line, parsed[0])
    assert text.parse_line("no format at all") is None


@settings(max_examples=500, deadline=None)
@given(
    line_format=st.sampled_from(text.SAID_FORMATS),
    name=NAMES,
    said=SAID_TEXT,
)
def test_nothing_said_looks_like_the_server(
    line_format: text.LineFormat, name: str, said: str
) -> None:
    line = line_format.format(name=name, text=said)
    assert not line.startswith(("***", "!"))
    for server_format in text.SERVER_FORMATS:
        assert server_format.parse(line) is None, (line, server_format)
    parsed = text.parse_line(line)
    assert parsed == (line_format, {"name": name, "text": said})


@settings(max_examples=300, deadline=None)
@given(server=st.text(min_size=1, max_size=40), name=NAMES, count=st.integers(0, 10**6))
def test_any_server_name_gives_a_welcome_that_parses_back(
    server: str, name: str, count: int
) -> None:
    room = Hub(server)
    line = text.WELCOME.format(server=room.server_name, name=name, count=count)
    assert text.parse_line(line) == (
        text.WELCOME,
        {"server": room.server_name, "name": name, "count": str(count)},
    )


def test_actions_never_look_like_notices(daemon: ChatDaemon) -> None:
    """The /me lines of issue #12, each one an action on the listener's screen."""
    listener, bob = daemon.connect(), daemon.connect()
    bob.nick("bob")
    listener.expect(r"^\*\*\* guest\d+ is now known as bob$")
    bob.send("/me has left")
    listener.expect(r"^\* bob has left$")
    bob.send("/nick server")
    bob.expect(r"^! The name server is reserved\.$")
    bob.send("/nick You")
    bob.expect(r"^! The name You is reserved\.$")
    bob.send("/me shutting down")
    bob.send("/me are now known as eve")
    bob.send("/me Welcome to testhost, guest9! 3 here now. Type /help for commands.")
    listener.expect(r"^\* bob shutting down$")
    listener.expect(r"^\* bob are now known as eve$")
    listener.expect(r"^\* bob Welcome to testhost, guest9! 3 here now\.")
    bob.send("*** not the server")
    listener.expect(r"^<bob> \*\*\* not the server$")
    for line in listener.lines[1:]:
        parsed = text.parse_line(line)
        assert parsed is not None, line
        if "bob" in line and parsed[0] is not text.RENAMED:
            assert parsed[0] in text.SAID_FORMATS, line


def test_bidi_and_invisible_characters_never_reach_anyone(daemon: ChatDaemon) -> None:
    listener, bob = daemon.connect(), daemon.connect()
    bob.nick("bob")
    bob.send("\u202eevil reversed".encode() + b"\r\n")
    bob.send("\u200b\u200b\r\n\u2066\u2069\r\n\u3164\r\n\ufe0f\r\n".encode())
    bob.send(f"zero\u200bwidth \u2764\ufe0f {FAMILY}\r\n".encode())
    bob.send("end\r\n")
    listener.expect(r"^<bob> evil reversed$")
    assert listener.read_lines(2) == [
        f"<bob> zerowidth \u2764\ufe0f {FAMILY}",
        "<bob> end",
    ]


EVIL_NAME = "evil\x1b]0;pwned\x07\r\n* alice has left\u202e"


def test_the_server_name_reaches_newcomers_clean(
    start_daemon: Callable[..., ChatDaemon],
) -> None:
    daemon = start_daemon("--server-name", EVIL_NAME)
    newcomer = LineClient(daemon.port)
    greeting = newcomer.read_lines(1)[0]
    assert greeting == (
        "*** Welcome to evil * alice has left, guest1! 1 here now. "
        "Type /help for commands."
    )
    assert newcomer.read_lines(1) == ["*** You are in #lobby: 1 here"]
    newcomer.send("/who")
    assert newcomer.read_lines(1) == ["*** 1 here: guest1"]


def test_a_server_name_with_a_space_parses_back(
    start_daemon: Callable[..., ChatDaemon],
) -> None:
    daemon = start_daemon("--server-name", "Team Chat")
    greeting = LineClient(daemon.port).read_lines(1)[0]
    assert text.WELCOME.parse(greeting) == {
        "server": "Team Chat",
        "name": "guest1",
        "count": "1",
    }


def test_the_server_name_and_motd_from_a_file_are_clean_and_stay_clean(
    tmp_path: Path,
) -> None:
    """The configuration file's server-name and MOTD, at start and on reload."""
    toml_name = EVIL_NAME.replace("\x1b", "\\u001b").replace("\x07", "\\u0007")
    toml_name = toml_name.replace("\r", "\\r").replace("\n", "\\n")
    config = tmp_path / "chat.toml"
    config.write_text(f'server-name = "{toml_name}"\nmotd = "motd.txt"\n')
    (tmp_path / "motd.txt").write_bytes(b"hi \xe2\x80\xae there\r\n\xe2\x80\x8b\n")
    options = Options()
    options.parseOptions(["--config", str(config), "--port", "tcp:0"])
    service = makeService(options)
    assert isinstance(service, ChatService)
    room = service.factory.services.hub
    assert room.server_name == "evil * alice has left"
    assert room.motd == ["hi  there", ""]
    config.write_text('server-name = "\\u200bnew\\u202e\\nname"\nmotd = "motd.txt"\n')
    (tmp_path / "motd.txt").write_text("\x1b[2Jnews\u2066\n")
    service.reload()
    assert room.server_name == "new name"
    assert room.motd == ["news"]
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u202e\u200b]", room.server_name)
