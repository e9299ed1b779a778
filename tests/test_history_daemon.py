"""
History against the real daemon: C{twistd -n chat} as a child process,
plain sockets on 127.0.0.1. What a newcomer is shown of what was said,
/history, --history, and --history-db across a SIGTERM, a SIGKILL and a
file that cannot be used.
"""

from __future__ import annotations

import contextlib
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import (
    ChatDaemon,
    LineClient,
    assert_nothing_more,
    bin_command,
    caught_up,
    exactly,
    person,
    run_command,
    wait_for,
)
from twisted_chat import text

StartDaemon = Callable[..., ChatDaemon]


#: The opening of every start-up refusal about --history-db.
REFUSAL = "twistd chat: cannot open history database"


def move(client: LineClient, room: str, count: int) -> None:
    """/join C{room}, and wait to be told it has C{count} people now."""
    client.send(f"/join {room}")
    client.expect(exactly(text.NOW_IN, room=room, count=count))


def shown_times(since: float) -> set[str]:
    """
    How the daemon may show a time from C{since} until now: C{HH:MM} for
    today, with the date before it for another day.
    """
    now = time.time()
    today = time.localtime(now)[:3]
    shown = set()
    for minute in range(int(since // 60), int(now // 60) + 1):
        moment = time.localtime(minute * 60)
        dated = moment[:3] != today
        shown.add(time.strftime("%Y-%m-%d %H:%M" if dated else "%H:%M", moment))
    return shown


def replayed(lines: list[str], since: float) -> list[tuple[str, str, str]]:
    """
    Each line of history as (kind, name, text), once it is checked to have
    the shape of L{text.HISTORY_SAID} or L{text.HISTORY_ACTED} and a time
    from C{since} until now.
    """
    times = shown_times(since)
    entries = []
    for line in lines:
        for kind, shape in (("said", text.HISTORY_SAID), ("acted", text.HISTORY_ACTED)):
            fields = shape.parse(line)
            if fields is not None:
                assert fields["time"] in times, (line, times)
                entries.append((kind, fields["name"], fields["text"]))
                break
        else:
            raise AssertionError(f"not a line of history: {line!r}")
    return entries


def stored_texts(database: Path) -> list[str]:
    """What the history table of C{database} holds, read on a connection of our own."""
    uri = database.as_uri() + "?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as connection:
        rows = connection.execute("SELECT text FROM history ORDER BY id").fetchall()
    return [row[0] for row in rows]


def run_twistd(workdir: Path, database: Path) -> subprocess.CompletedProcess[str]:
    """C{twistd -n chat --history-db DATABASE} run to its end (a free port)."""
    return run_command(
        [
            bin_command("twistd"),
            "-n",
            "--pidfile=",
            "chat",
            "--port",
            "tcp:0:interface=127.0.0.1",
            "--history-db",
            str(database),
        ],
        cwd=workdir,
        timeout=30,
    )


def test_a_newcomer_to_a_room_is_shown_what_was_said_there_after_now_in(
    daemon: ChatDaemon,
) -> None:
    """
    /join: after NOW_IN, the mover is shown the lines said in that room
    before, oldest first, each with its time and the name it was said
    under: lines as HISTORY_SAID, /me as HISTORY_ACTED. Joins, leaves,
    renames, private messages, commands and other rooms' lines are not in it.
    """
    alice, bob = person(daemon, "alice"), person(daemon, "bob")
    carol, dave = person(daemon, "carol"), person(daemon, "dave")
    since = time.time()
    move(alice, "dev", 1)
    move(bob, "dev", 2)
    alice.send("the build is green")
    bob.expect(exactly(text.MESSAGE, name="alice", text="the build is green"))
    bob.send("/me ships it")
    alice.expect(exactly(text.ACTION, name="bob", text="ships it"))
    alice.send("/msg bob a secret")
    bob.expect(exactly(text.PRIVATE, name="alice", text="a secret"))
    bob.nick("bobby")
    move(dave, "dev", 3)
    move(dave, "lobby", 2)
    dave.send("said in the lobby")
    carol.expect(exactly(text.MESSAGE, name="dave", text="said in the lobby"))
    caught_up(carol)
    carol.send("/join dev")
    assert carol.read_lines(2) == [
        text.NOW_IN.format(room="dev", count=3),
        text.HISTORY.format(room="dev", count=2),
    ]
    assert replayed(carol.read_lines(2), since) == [
        ("said", "alice", "the build is green"),
        ("acted", "bob", "ships it"),
    ]
    assert_nothing_more(carol)


def test_the_greeting_shows_motd_room_topic_then_history(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """
    A newcomer's greeting: WELCOME, the MOTD, NOW_IN for the default room,
    its topic, then what was said there (a batch of lines read at once is
    kept line by line).
    """
    (tmp_path / "motd.txt").write_text("Be nice.\n")
    chat = start_daemon("--motd", str(tmp_path / "motd.txt"))
    alice, bob = person(chat, "alice"), person(chat, "bob")
    since = time.time()
    alice.send("/topic lobby things")
    bob.expect(exactly(text.TOPIC_SET, name="alice", text="lobby things"))
    alice.send(b"first\nsecond\n")
    bob.expect(exactly(text.MESSAGE, name="alice", text="second"))
    newcomer = LineClient(chat.port)
    assert newcomer.read_lines(5) == [
        text.WELCOME.format(server="testhost", name="guest3", count=3),
        text.NOTICE.format(text="Be nice."),
        text.NOW_IN.format(room="lobby", count=3),
        text.TOPIC_IS.format(room="lobby", text="lobby things"),
        text.HISTORY.format(room="lobby", count=2),
    ]
    assert replayed(newcomer.read_lines(2), since) == [
        ("said", "alice", "first"),
        ("said", "alice", "second"),
    ]
    assert_nothing_more(newcomer)


def test_history_option_keeps_only_the_last_lines(start_daemon: StartDaemon) -> None:
    """--history 3: a room keeps its last 3 lines, however they were batched."""
    chat = start_daemon("--history", "3")
    alice, bob = person(chat, "alice"), person(chat, "bob")
    since = time.time()
    alice.send("one")
    bob.expect(exactly(text.MESSAGE, name="alice", text="one"))
    alice.send(b"two\nthree\nfour\n")
    bob.expect(exactly(text.MESSAGE, name="alice", text="four"))
    alice.send("five")
    bob.expect(exactly(text.MESSAGE, name="alice", text="five"))
    newcomer = LineClient(chat.port)
    newcomer.expect(exactly(text.NOW_IN, room="lobby", count=3))
    assert newcomer.read_lines(1) == [text.HISTORY.format(room="lobby", count=3)]
    assert replayed(newcomer.read_lines(3), since) == [
        ("said", "alice", "three"),
        ("said", "alice", "four"),
        ("said", "alice", "five"),
    ]
    assert_nothing_more(newcomer)


def test_history_zero_shows_a_newcomer_nothing(start_daemon: StartDaemon) -> None:
    """--history 0: nothing said is replayed, and /history says history is off."""
    chat = start_daemon("--history", "0")
    alice, bob = person(chat, "alice"), person(chat, "bob")
    alice.send("soon forgotten")
    bob.expect(exactly(text.MESSAGE, name="alice", text="soon forgotten"))
    newcomer = LineClient(chat.port)
    assert newcomer.read_lines(2) == [
        text.WELCOME.format(server="testhost", name="guest3", count=3),
        text.NOW_IN.format(room="lobby", count=3),
    ]
    assert_nothing_more(newcomer)
    newcomer.send("/history")
    assert newcomer.read_lines(1) == [
        text.NOTICE.format(text="History is off on this server.")
    ]


def test_history_command_shows_the_last_lines_again(daemon: ChatDaemon) -> None:
    """
    /history N shows the room's last N lines again, /history all it keeps;
    in a room where nothing was said it says so; /history x is refused.
    """
    alice, bob = person(daemon, "alice"), person(daemon, "bob")
    since = time.time()
    for said in ("one", "two", "three"):
        alice.send(said)
        bob.expect(exactly(text.MESSAGE, name="alice", text=said))
    caught_up(bob)
    bob.send("/history 2")
    assert bob.read_lines(1) == [text.HISTORY.format(room="lobby", count=2)]
    assert replayed(bob.read_lines(2), since) == [
        ("said", "alice", "two"),
        ("said", "alice", "three"),
    ]
    bob.send("/history")
    assert bob.read_lines(1) == [text.HISTORY.format(room="lobby", count=3)]
    assert [entry[2] for entry in replayed(bob.read_lines(3), since)] == [
        "one",
        "two",
        "three",
    ]
    bob.send("/history x")
    assert bob.read_lines(1) == [
        text.ERROR.format(text="Usage: /history [N], N from 1 up")
    ]
    move(bob, "quiet", 1)
    bob.send("/history")
    assert bob.read_lines(1) == [
        text.NOTICE.format(text="Nothing has been said in #quiet yet.")
    ]


def test_history_and_topics_outlive_a_sigterm_restart(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """
    --history-db: after a SIGTERM and a start on the same file, a newcomer
    is shown every line said before, in each room, and the topic.
    """
    database = tmp_path / "history.db"
    first = start_daemon("--history-db", str(database))
    alice, bob = person(first, "alice"), person(first, "bob")
    since = time.time()
    alice.send("in the lobby")
    bob.expect(exactly(text.MESSAGE, name="alice", text="in the lobby"))
    move(alice, "dev", 1)
    move(bob, "dev", 2)
    alice.send("/topic the 0.2 release")
    bob.expect(exactly(text.TOPIC_SET, name="alice", text="the 0.2 release"))
    alice.send(b"one\ntwo\n")
    bob.expect(exactly(text.MESSAGE, name="alice", text="two"))
    bob.send("/me nods")
    alice.expect(exactly(text.ACTION, name="bob", text="nods"))
    assert first.stop(signal.SIGTERM) == -signal.SIGTERM

    second = start_daemon("--history-db", str(database))
    newcomer = LineClient(second.port)
    newcomer.expect(exactly(text.NOW_IN, room="lobby", count=1))
    assert newcomer.read_lines(1) == [text.HISTORY.format(room="lobby", count=1)]
    assert replayed(newcomer.read_lines(1), since) == [
        ("said", "alice", "in the lobby")
    ]
    newcomer.send("/join dev")
    assert newcomer.read_lines(3) == [
        text.NOW_IN.format(room="dev", count=1),
        text.TOPIC_IS.format(room="dev", text="the 0.2 release"),
        text.HISTORY.format(room="dev", count=3),
    ]
    assert replayed(newcomer.read_lines(3), since) == [
        ("said", "alice", "one"),
        ("said", "alice", "two"),
        ("acted", "bob", "nods"),
    ]
    assert_nothing_more(newcomer)


def test_a_line_in_the_database_outlives_a_sigkill(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """
    --history-db: a line relayed and committed (seen in the file by another
    connection) is kept though the daemon is then killed with SIGKILL; the
    next daemon on the file shows it to a newcomer.
    """
    database = tmp_path / "history.db"
    first = start_daemon("--history-db", str(database))
    alice, bob = person(first, "alice"), person(first, "bob")
    since = time.time()
    alice.send("before the crash")
    bob.expect(exactly(text.MESSAGE, name="alice", text="before the crash"))
    wait_for(
        lambda: stored_texts(database) == ["before the crash"],
        what="the line to be committed to the database",
    )
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL

    second = start_daemon("--history-db", str(database))
    newcomer = LineClient(second.port)
    newcomer.expect(exactly(text.NOW_IN, room="lobby", count=1))
    assert newcomer.read_lines(1) == [text.HISTORY.format(room="lobby", count=1)]
    assert replayed(newcomer.read_lines(1), since) == [
        ("said", "alice", "before the crash")
    ]
    assert_nothing_more(newcomer)


def test_lines_older_than_history_max_age_are_not_shown_after_a_restart(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """
    --history-max-age 1: a line said three days ago is dropped from the
    file at start-up and is not shown to a newcomer; a line said now is.
    """
    database = tmp_path / "history.db"
    first = start_daemon("--history-db", str(database))
    alice, bob = person(first, "alice"), person(first, "bob")
    since = time.time()
    for said in ("three days ago", "just now"):
        alice.send(said)
        bob.expect(exactly(text.MESSAGE, name="alice", text=said))
    assert first.stop(signal.SIGTERM) == -signal.SIGTERM
    # As if the first line had been said three days ago.
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute(
            "UPDATE history SET time = time - 3 * 86400 WHERE text = ?",
            ("three days ago",),
        )

    second = start_daemon("--history-db", str(database), "--history-max-age", "1")
    wait_for(
        lambda: stored_texts(database) == ["just now"],
        what="the old line to be pruned from the file",
    )
    newcomer = LineClient(second.port)
    newcomer.expect(exactly(text.NOW_IN, room="lobby", count=1))
    assert newcomer.read_lines(1) == [text.HISTORY.format(room="lobby", count=1)]
    assert replayed(newcomer.read_lines(1), since) == [("said", "alice", "just now")]


def _random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(4096))


def _text(path: Path) -> None:
    path.write_text("history = 'not a database'\n" * 50)


def _damaged_page(path: Path) -> None:
    """An SQLite file whose second page is overwritten with noise."""
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("CREATE TABLE filler (x TEXT)")
        connection.executemany(
            "INSERT INTO filler VALUES (?)", [("x" * 200,) for _ in range(100)]
        )
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page : 2 * page] = random.Random(7).randbytes(page)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "make",
    [_random_bytes, _text, _damaged_page],
    ids=["random-bytes", "text", "damaged-page"],
)
def test_a_file_that_is_not_a_sound_database_stops_start_up_untouched(
    tmp_path: Path, make: Callable[[Path], None]
) -> None:
    """
    --history-db naming a file that is not SQLite, or is corrupt: start-up
    stops with exactly one line on stderr naming the file, exit status 1,
    and the file is left as it was (no byte changed, no -wal made).
    """
    path = tmp_path / "history.db"
    make(path)
    before = path.read_bytes()
    result = run_twistd(tmp_path, path)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{REFUSAL} {path}: ")
    assert "Traceback" not in result.stdout + result.stderr
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["history.db"]


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("afile/history.db", "{tmp}/afile is not a directory"),
        ("missing/history.db", "the directory {tmp}/missing does not exist"),
        ("adirectory", "it is a directory"),
    ],
    ids=["under-a-file", "missing-directory", "a-directory"],
)
def test_an_unusable_database_path_stops_start_up_with_one_line(
    tmp_path: Path, where: str, reason: str
) -> None:
    """
    --history-db naming a path under a regular file, in a directory that
    is not there, or a directory: start-up stops with exactly one line on
    stderr naming the path and why, and exit status 1.
    """
    (tmp_path / "afile").write_text("a regular file\n")
    (tmp_path / "adirectory").mkdir()
    path = tmp_path / where
    result = run_twistd(tmp_path, path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{REFUSAL} {path}: {reason.format(tmp=tmp_path)}"
    ]
    assert "Traceback" not in result.stdout
