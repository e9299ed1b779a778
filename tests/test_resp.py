"""
The Redis wire in memory: RESP2 encoding and the bounded reply parser,
Redis URLs (the password kept out of every repr, str and refusal), and the
link's back-off on a fake clock.
"""

from __future__ import annotations

import pytest
from twisted.internet.defer import fail
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock

from twisted_chat.backplane import (
    LinkDown,
    RedisAddress,
    RedisLink,
    RedisURLError,
    parse_redis_url,
)
from twisted_chat.backplane.resp import (
    MAX_LINE_BYTES,
    ProtocolError,
    RedisError,
    Reply,
    ReplyParser,
    encode_command,
)

#: One of each RESP2 type, and what it parses to.
EVERY_TYPE: list[tuple[bytes, Reply]] = [
    (b"+OK\r\n", "OK"),
    (b"-ERR wrong\r\n", None),  # checked apart: an exception value
    (b":-42\r\n", -42),
    (b"$5\r\nhe\r\nl\r\n", b"he\r\nl"),
    (b"$0\r\n\r\n", b""),
    (b"$-1\r\n", None),
    (b"*-1\r\n", None),
    (b"*0\r\n", []),
    (
        b"*3\r\n$7\r\nmessage\r\n$4\r\nroom\r\n$2\r\nhi\r\n",
        [b"message", b"room", b"hi"],
    ),
    (b"*2\r\n*1\r\n:1\r\n+x\r\n", [[1], "x"]),
]


def test_commands_are_arrays_of_bulk_strings() -> None:
    """str goes as UTF-8, int in decimal, bytes as they are."""
    assert encode_command([b"SET", "ké", 5]) == (
        b"*3\r\n$3\r\nSET\r\n$3\r\nk\xc3\xa9\r\n$1\r\n5\r\n"
    )


def test_commands_refuse_other_types() -> None:
    """A bool or float is not silently sent as text."""
    with pytest.raises(TypeError):
        encode_command([b"SET", True])
    with pytest.raises(TypeError):
        encode_command([b"SET", 1.5])  # type: ignore[list-item]


def test_every_type_parses() -> None:
    """Each RESP2 type parses to its Python value, errors to RedisError."""
    for wire, value in EVERY_TYPE:
        [reply] = ReplyParser().feed(wire)
        if wire.startswith(b"-"):
            assert isinstance(reply, RedisError)
            assert str(reply) == "ERR wrong"
        else:
            assert reply == value


def test_a_split_read_at_every_byte_boundary_gives_the_same_replies() -> None:
    """However the stream is cut in two, the same replies come out, once."""
    stream = b"".join(wire for wire, _ in EVERY_TYPE if not wire.startswith(b"-"))
    expected = [value for wire, value in EVERY_TYPE if not wire.startswith(b"-")]
    for cut in range(len(stream) + 1):
        parser = ReplyParser()
        replies = parser.feed(stream[:cut]) + parser.feed(stream[cut:])
        assert replies == expected, cut
        assert parser.buffered == 0


def test_one_byte_at_a_time() -> None:
    """Fed a byte per read, every reply still arrives whole and in order."""
    stream = b"".join(wire for wire, _ in EVERY_TYPE if not wire.startswith(b"-"))
    parser = ReplyParser()
    replies: list[Reply] = []
    for i in range(len(stream)):
        replies += parser.feed(stream[i : i + 1])
    assert replies == [v for w, v in EVERY_TYPE if not w.startswith(b"-")]


def test_a_bulk_string_over_the_cap_is_refused_before_its_bytes_arrive() -> None:
    """The declared length alone is enough to refuse."""
    parser = ReplyParser(max_reply_bytes=1000)
    with pytest.raises(ProtocolError, match="a bulk string of 1001 bytes refused"):
        parser.feed(b"$1001\r\n")
    with pytest.raises(ProtocolError):
        parser.feed(b"+OK\r\n")  # spent: the connection must close


def test_a_reply_over_the_cap_is_refused_even_in_small_pieces() -> None:
    """An array of small strings adding up past the cap is refused."""
    parser = ReplyParser(max_reply_bytes=1000)
    with pytest.raises(ProtocolError, match="a reply over 1000 bytes"):
        parser.feed(b"*100\r\n")
        for _ in range(99):
            parser.feed(b"$20\r\n" + b"x" * 20 + b"\r\n")
    assert parser.buffered == 0


def test_an_array_longer_than_the_cap_allows_is_refused_at_once() -> None:
    """Every element takes 3 bytes at least: a count past cap/3 is a lie."""
    with pytest.raises(ProtocolError, match="an array of 400 elements refused"):
        ReplyParser(max_reply_bytes=1000).feed(b"*400\r\n")


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    """Arrays within arrays past max_depth are refused; at it, they parse."""
    assert ReplyParser(max_depth=3).feed(b"*1\r\n" * 3 + b":1\r\n") == [[[[1]]]]
    with pytest.raises(ProtocolError, match="arrays nested over 3 deep"):
        ReplyParser(max_depth=3).feed(b"*1\r\n" * 4 + b":1\r\n")


def test_a_line_without_end_is_refused_past_the_line_limit() -> None:
    """A status line never ending is not buffered for ever."""
    parser = ReplyParser()
    parser.feed(b"+" + b"x" * (MAX_LINE_BYTES - 1))
    with pytest.raises(ProtocolError, match=f"a line over {MAX_LINE_BYTES} bytes"):
        parser.feed(b"xx")


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        (b"!3\r\nabc\r\n", "not a RESP2 type byte: b'!'"),
        (b":12a\r\n", "not an integer: b'12a'"),
        (b": 12\r\n", "not an integer: b' 12'"),
        (b"$-2\r\n", "a bulk string of -2 bytes refused"),
        (b"$2\r\nabcd\r\n", "a bulk string not ended by CRLF"),
        (b"*-5\r\n", "an array of -5 elements refused"),
    ],
)
def test_what_is_not_resp2_is_refused(wire: bytes, problem: str) -> None:
    """Malformed input raises ProtocolError naming what is wrong."""
    with pytest.raises(ProtocolError) as refused:
        ReplyParser().feed(wire)
    assert str(refused.value) == problem


# Redis URLs


def test_a_full_url_parses() -> None:
    """Host, port, database, TLS and the password are all read."""
    address = parse_redis_url("rediss://:s%40cret@redis.example:6380/2")
    assert (address.host, address.port, address.db, address.tls) == (
        "redis.example",
        6380,
        2,
        True,
    )
    assert address.password == "s@cret"
    assert address.username is None


def test_defaults() -> None:
    """No port means 6379, no path database 0, redis:// no TLS."""
    assert parse_redis_url("redis://localhost") == RedisAddress("localhost")
    assert parse_redis_url("redis://[::1]:7000/").port == 7000


def test_a_user_and_password_parse() -> None:
    """An ACL user may come before the password."""
    address = parse_redis_url("redis://chat:pw@h:1/0")
    assert (address.username, address.password) == ("chat", "pw")


def test_the_password_is_never_shown() -> None:
    """repr and str show that there is a password, never what it is."""
    address = parse_redis_url("redis://chat:hunter2@h:1/0")
    assert str(address) == "redis://chat:***@h:1/0"
    assert repr(address) == "RedisAddress('redis://chat:***@h:1/0')"
    link = RedisLink(Clock(), address)
    assert repr(link) == "<RedisLink redis://chat:***@h:1/0 down>"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://h", "it must start with redis:// or rediss:// (TLS)"),
        ("redis://", "it names no host"),
        ("redis://h:99999", "the port must be 1 to 65535"),
        ("redis://h:port", "the port must be 1 to 65535"),
        ("redis://h:0", "the port must be 1 to 65535"),
        ("redis://h/x", "the database after / must be a number"),
        ("redis://h/1/2", "the database after / must be a number"),
        ("redis://h?db=1", "no ?query or #fragment is understood"),
        ("redis://secret@h", "a password follows a colon (redis://:PASSWORD@HOST)"),
        ("redis://:@h", "the password after the colon is empty"),
        ("redis://:se cret@h", "it holds spaces or control characters"),
    ],
)
def test_bad_urls_are_refused_in_one_line_without_the_url(
    url: str, problem: str
) -> None:
    """Each refusal says what is wrong, and never echoes the URL."""
    with pytest.raises(RedisURLError) as refused:
        parse_redis_url(url)
    assert str(refused.value) == f"bad Redis URL: {problem}"
    assert "secret" not in str(refused.value)


# The link on a fake clock


class RefusingEndpoint:
    """Every connection attempt is refused at once; the attempts are timed."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.times: list[float] = []

    def connect(self, factory: object) -> object:
        self.times.append(self.clock.seconds())
        return fail(ConnectionRefusedError())


def test_back_off_doubles_from_one_second_to_thirty() -> None:
    """Refused, each connection waits 1, 2, 4, 8, 16, then 30 s at most."""
    clock = Clock()
    endpoint = RefusingEndpoint(clock)
    link = RedisLink(clock, parse_redis_url("redis://h"), endpoint=endpoint)  # type: ignore[arg-type]
    link.start()
    for _ in range(260):  # bounded: 130 s of fake time
        clock.advance(0.5)
    starts = sorted(set(endpoint.times))
    assert starts == [0, 1, 3, 7, 15, 31, 61, 91, 121]
    assert link.attempts == 2 * len(starts)  # both connections, in step


def test_commands_fail_at_once_while_down() -> None:
    """Nothing is queued: a command on a down link fails with LinkDown."""
    link = RedisLink(Clock(), parse_redis_url("redis://h"))
    answer = link.command(b"GET", b"k")
    failures: list[object] = []
    answer.addErrback(lambda f: failures.append(f.value))
    assert len(failures) == 1 and isinstance(failures[0], LinkDown)
    assert link.inflight == 0
