"""
Linked daemons as an admin runs them: real C{twistd -n chat} processes on
127.0.0.1, linked through a real redis-server (tests/redis_server.py), and
plain-socket clients. Every wait is on a condition, with a deadline.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.certificates import make_certificates
from tests.linked import (
    ELSEWHERE,
    EXPIRY,
    FURTHER,
    QUIET,
    CountingProxy,
    Net,
    StartDaemon,
    StartRedis,
    Transcript,
    link_ups,
    listed,
    log_lines,
    ports,
    said,
    scrape,
    sees,
    wait_link_up,
    wait_metric,
    who,
)
from tests.redis_server import RedisServer, free_port
from tests.support import (
    ChatDaemon,
    LineClient,
    bin_command,
    caught_up,
    exactly,
    person,
    register_client,
    run_command,
    wait_for,
)
from twisted_chat import text
from twisted_chat.backplane.bridge import LINK_BACK, LINK_DOWN, LINK_LOST
from twisted_chat.names import name_key

METRICS = ("--metrics", "tcp:0:interface=127.0.0.1")
PASSWORD = "sesame-street-42"
#: Lines one sender sends at once, to see them all arrive once, in order.
BURST = 200

TOLD_DOWN = exactly(text.NOTICE, text=LINK_DOWN.format(seconds=10))
LINK_DOWN_LINE = text.NOTICE.format(text=LINK_DOWN.format(seconds=10))
LINK_BACK_LINE = text.NOTICE.format(text=LINK_BACK)
TOLD_BACK = exactly(text.NOTICE, text=LINK_BACK)


@pytest.fixture
def net(start_daemon: StartDaemon, redis_server: RedisServer) -> Net:
    """Daemons to be linked through one fresh redis-server."""
    return Net(start_daemon, redis_server)


def says(name: str, line: str) -> str:
    return exactly(text.MESSAGE, name=name, text=line)


def welcome_name(client: LineClient) -> str:
    """The guest name C{client} was greeted with."""
    for line in client.lines:
        fields = text.WELCOME.parse(line)
        if fields is not None:
            return fields["name"]
    raise AssertionError(f"no greeting in {client.lines!r}")


def told_down(client: LineClient) -> bool:
    """
    Whether C{client} is told (within the deadline) that the link is down:
    on arriving, or, in the daemon's first second, once it is clearly so.
    """
    try:
        client.count_lines(lambda line: line == LINK_DOWN_LINE, 1)
    except AssertionError:
        return False
    return True


def refused_at_connect(daemon: ChatDaemon, source: str) -> list[str]:
    """The lines a refusal at connect time sends, or [] if greeted instead."""
    client = LineClient(daemon.port, source=source)
    try:
        first = client.read_lines(1)
        if first[0].startswith("*** Welcome to "):
            return []
        client.expect_closed()
        return first + client.lines[1:]
    finally:
        client.close()


# 1. Lines


def test_a_line_reaches_the_other_daemon_once_and_in_the_order_said(
    net: Net,
) -> None:
    """
    alice sends 200 lines at once on A: bob on B and ann on A get all of
    them, each once, in order; alice gets none of her own. Markers sent
    after them (bob's ack, read from the stream after alice's lines) show
    that nothing more was on its way.
    """
    a = net.linked("a", "--rate", "0")
    b = net.linked("b", "--rate", "0")
    alice, ann, bob = person(a, "alice"), person(a, "ann"), person(b, "bob")
    sees(bob, "alice", "ann")
    sees(alice, "bob")
    for client in (alice, ann, bob):
        caught_up(client)
    lines = [f"line {n:03d}" for n in range(BURST)] + ["end"]
    alice.send("".join(f"{line}\r\n" for line in lines).encode())
    bob.expect(says("alice", "end"))
    bob.send("ack")
    for client in (alice, ann):
        client.expect(says("bob", "ack"))
    ann.send("done")
    bob.expect(says("ann", "done"))
    assert said(bob.lines, "alice") == lines
    assert said(ann.lines, "alice") == lines
    assert said(alice.lines, "alice") == []
    assert said(alice.lines, "bob") == said(ann.lines, "bob") == ["ack"]
    assert said(bob.lines, "bob") == []


# 2. Names


def test_names_are_unique_across_daemons_and_a_nick_race_has_one_winner(
    net: Net,
) -> None:
    """
    Guests on two daemons get different numbers; the same /nick asked on
    both daemons at once (five times, each side first in turn) has exactly
    one winner, and the loser is refused with one line and keeps its name;
    the name is then taken for a newcomer on either daemon.
    """
    a, b = net.linked("a", "--rate", "0"), net.linked("b", "--rate", "0")
    x, y = a.connect(), b.connect()
    assert welcome_name(x) != welcome_name(y)
    sees(x, welcome_name(y))
    sees(y, welcome_name(x))
    names = {x: welcome_name(x), y: welcome_name(y)}
    for n in range(5):
        wanted = f"carol{n}"
        first, second = (x, y) if n % 2 == 0 else (y, x)
        for client in (x, y):
            caught_up(client)
        start = {client: len(client.lines) for client in (x, y)}
        first.send(f"/nick {wanted}")
        second.send(f"/nick {wanted}")
        won = exactly(text.YOUR_NAME, name=wanted)
        lost = exactly(text.ERROR, text=f"The name {wanted} is taken.")
        answers = {c: c.expect(f"{won}|{lost}").group(0) for c in (x, y)}
        winners = [c for c, line in answers.items() if line.startswith("***")]
        assert len(winners) == 1, answers
        [winner] = winners
        [loser] = [c for c in (x, y) if c is not winner]
        old = names[winner]
        names[winner] = wanted
        # The loser hears the winner's rename (before or after its refusal).
        renamed = text.RENAMED.format(old=old, new=wanted)
        loser.count_lines(lambda line: line == renamed, 1)  # noqa: B023
        for client in (x, y):
            caught_up(client)
        loser_lines = loser.lines[start[loser] :]
        refusals = [
            line
            for line in loser_lines
            if line.startswith("! ") and not line.startswith("! Unknown command /probe")
        ]
        assert refusals == [answers[loser]]
        assert not any(line.startswith("*** You are now") for line in loser_lines)
        assert sorted(who(x)) == sorted(who(y)) == sorted(names.values())
    winner_name = names[x] if names[x].startswith("carol") else names[y]
    for daemon in (a, b):
        late = daemon.connect()
        late.send(f"/nick {winner_name}")
        late.expect(exactly(text.ERROR, text=f"The name {winner_name} is taken."))


# 3. Rooms, topics, notices, private lines


def test_who_rooms_topics_joins_and_private_lines_span_daemons(net: Net) -> None:
    """
    bob (on B) makes #dev and sets its topic: alice (on A) sees him leave
    the lobby, sees #dev and its topic in /rooms and on joining, and bob
    sees her join; /who there lists both; a topic change and a /msg each
    way cross; alice's leaving is seen on B.
    """
    a, b = net.linked("a"), net.linked("b")
    alice, bob = person(a, "alice"), person(b, "bob")
    sees(alice, "bob")
    sees(bob, "alice")
    bob.send("/join dev")
    bob.expect(exactly(text.NOW_IN, room="dev", count=1))
    alice.expect(exactly(text.LEFT, name="bob"))
    bob.send("/topic building things")
    bob.expect(exactly(text.TOPIC_SET, name="bob", text="building things"))
    listed(alice, "dev", 1, "building things")
    alice.send("/join dev")
    alice.expect(exactly(text.TOPIC_IS, room="dev", text="building things"))
    bob.expect(exactly(text.JOINED, name="alice"))
    assert who(bob) == ["alice", "bob"]
    assert who(alice) == ["alice", "bob"]
    bob.send("/topic shipping things")
    alice.expect(exactly(text.TOPIC_SET, name="bob", text="shipping things"))
    alice.send("/msg bob psst")
    alice.expect(exactly(text.PRIVATE_SENT, name="bob", text="psst"))
    bob.expect(exactly(text.PRIVATE, name="alice", text="psst"))
    bob.send("/msg alice back at you")
    alice.expect(exactly(text.PRIVATE, name="bob", text="back at you"))
    alice.send("/quit")
    bob.expect(exactly(text.LEFT, name="alice"))


def test_a_locked_topic_is_locked_on_every_daemon(net: Net) -> None:
    """
    alice made #dev on A (so she is its operator) and locked its topic:
    bob, on B, is told so, and cannot change it from there.
    """
    a, b = net.linked("a"), net.linked("b")
    alice = register_client(a, "alice", PASSWORD)
    alice.send("/join dev")
    alice.expect(exactly(text.NOW_IN, room="dev", count=1))
    alice.send("/topic official")
    alice.expect(exactly(text.TOPIC_SET, name="alice", text="official"))
    bob = person(b, "bob")
    listed(bob, "dev", 1, "official")
    bob.send("/join dev")
    bob.expect(exactly(text.TOPIC_IS, room="dev", text="official"))
    alice.expect(exactly(text.JOINED, name="bob"))
    alice.send("/topic --lock")
    alice.expect(exactly(text.NOTICE, text="alice locked the topic"))
    alice.send("locked it")  # once B has this line, it has the lock too
    bob.expect(says("alice", "locked it"))
    assert text.NOTICE.format(text="alice locked the topic") in bob.lines
    bob.send("/topic hijacked")
    refused = exactly(text.ERROR, text="The topic of #dev is locked.")
    changed = exactly(text.TOPIC_SET, name="bob", text="hijacked")
    assert bob.expect(f"{refused}|{changed}").group(0).startswith("! ")


# 4. History


def history_of(client: LineClient) -> list[tuple[str, str]]:
    """The backlog a newcomer was shown: (name, text) for each line."""
    head = client.expect(r"^\*\*\* Earlier in #lobby \(the last (\d+)\):$")
    shown = []
    for line in client.read_lines(int(head.group(1))):
        fields = text.HISTORY_SAID.parse(line)
        assert fields is not None, line
        shown.append((fields["name"], fields["text"]))
    return shown


def test_a_daemon_started_later_replays_the_same_backlog(net: Net) -> None:
    """
    alice (A) and bob (B) speak in turn, and at once; C starts later: a
    newcomer on C is shown the same lines, in the same order, as newcomers
    on A and B.
    """
    a, b = net.linked("a"), net.linked("b")
    alice, bob = person(a, "alice"), person(b, "bob")
    sees(alice, "bob")
    sees(bob, "alice")
    for n in range(3):
        alice.send(f"a{n}")
        bob.expect(says("alice", f"a{n}"))
        bob.send(f"b{n}")
        alice.expect(says("bob", f"b{n}"))
    # And some at once, the order being whatever Redis made it.
    alice.send("a together")
    bob.send("b together")
    bob.expect(says("alice", "a together"))
    alice.expect(says("bob", "b together"))
    c = net.linked("c")
    backlogs = [history_of(daemon.connect()) for daemon in (c, a, b)]
    assert backlogs[0] == backlogs[1] == backlogs[2]
    in_turn = [("alice", "a0"), ("bob", "b0"), ("alice", "a1"), ("bob", "b1")]
    in_turn += [("alice", "a2"), ("bob", "b2")]
    assert backlogs[0][:6] == in_turn
    assert sorted(backlogs[0][6:]) == [("alice", "a together"), ("bob", "b together")]


# 5. Accounts and bans


def test_accounts_and_server_bans_are_shared(net: Net) -> None:
    """
    alice registers on A and leaves; on B her name is refused to a guest,
    and /login works there. As operators, alice (on B) bans mallory, who
    is on A, and olga (on A) bans trent, who is on B: each is told the ban
    and disconnected, and refused when connecting again to either daemon.
    alice's server mute of dave, on A, keeps his lines from everyone.
    """
    operators = ("--operators", "alice,olga")
    a, b = net.linked("a", *operators), net.linked("b", *operators)
    watcher = b.connect()
    alice = register_client(a, "alice", PASSWORD)
    watcher.expect(exactly(text.JOINED, name=welcome_name(alice)))
    alice.send("/quit")
    watcher.expect(exactly(text.LEFT, name="alice"))
    guest = b.connect()
    guest.send("/nick alice")
    guest.expect(exactly(text.ERROR, text="alice is registered: /login alice PASSWORD"))
    guest.send(f"/login alice {PASSWORD}")
    guest.expect(exactly(text.YOUR_NAME, name="alice"))
    guest.expect(exactly(text.NOTICE, text="You are logged in as alice."))
    alice = guest
    olga = register_client(a, "olga", PASSWORD)
    mallory = person(a, "mallory", source=ELSEWHERE)
    trent = person(b, "trent", source=FURTHER)
    sees(alice, "olga", "mallory", "trent")
    sees(olga, "alice", "mallory", "trent")

    alice.send("/ban --server mallory spam")
    alice.expect(exactly(text.NOTICE, text="alice banned mallory (spam)"))
    mallory.expect(
        exactly(text.ERROR, text="You are banned from this server until lifted (spam).")
    )
    mallory.expect_closed()
    olga.send("/ban --server trent flood")
    trent.expect(
        exactly(
            text.ERROR, text="You are banned from this server until lifted (flood)."
        )
    )
    trent.expect_closed()
    for daemon in (a, b):
        assert refused_at_connect(daemon, ELSEWHERE) == [
            "! Banned from this server until lifted (spam)."
        ]
        assert refused_at_connect(daemon, FURTHER) == [
            "! Banned from this server until lifted (flood)."
        ]
    assert (
        sorted(who(alice))
        == sorted(who(olga))
        == sorted(["alice", "olga", welcome_name(watcher)])
    )

    # A server mute made on B holds on A.
    dave = person(a, "dave", source=QUIET)
    sees(alice, "dave")
    alice.send("/mute --server dave noise")
    alice.expect(exactly(text.NOTICE, text="alice muted dave (noise)"))
    alice.send("noted")  # once A has this, it has the mute too
    dave.expect(says("alice", "noted"))
    dave.send("can anyone hear me?")
    dave.expect(r"^! Not sent: you are muted .*\(noise\)\.$")
    olga.send("over")
    for client in (alice, watcher):
        client.expect(says("olga", "over"))
    for client in (alice, olga, watcher):
        assert said(client.lines, "dave") == []


def test_a_ban_is_announced_in_the_room_on_every_daemon(net: Net) -> None:
    """
    As on one daemon, where the room and the one banned see "*** alice
    banned mallory (spam)": alice bans from B, mallory and ann are on A.
    """
    operators = ("--operators", "alice")
    a, b = net.linked("a", *operators), net.linked("b", *operators)
    alice = register_client(b, "alice", PASSWORD)
    ann, mallory = person(a, "ann"), person(a, "mallory", source=ELSEWHERE)
    sees(alice, "ann", "mallory")
    alice.send("/ban --server mallory spam")
    announced = text.NOTICE.format(text="alice banned mallory (spam)")
    alice.expect(f"^{re.escape(announced)}$")
    mallory.expect_closed()
    ann.expect(exactly(text.LEFT, name="mallory"))
    caught_up(ann)
    assert announced in mallory.lines
    assert announced in ann.lines


# 6. Redis away at start-up


def test_a_daemon_started_without_redis_serves_locally_and_links_when_it_comes(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """
    Nothing listens on the Redis port: the daemon starts, logs one line
    about it, tells newcomers the link is down, and two of them chat. Redis
    started on that port later (after the first retry failed): the daemon
    links by itself (chat_link_up 1, a line from another daemon arrives)
    and the log still has that one line.
    """
    redis = RedisServer(tmp_path / "late-redis")
    try:
        net = Net(start_daemon, redis)
        started = time.monotonic()
        a = net.node("a", *METRICS)
        metrics = ports(a)[1]
        x, y = a.connect(), a.connect()
        for client in (x, y):
            assert told_down(client)
        x.send("anyone?")
        y.expect(says(welcome_name(x), "anyone?"))
        y.send("me")
        x.expect(says(welcome_name(y), "me"))
        assert scrape(metrics)["chat_link_up"] == 0
        refused = f"redis at {redis.url}: cannot connect: .*; retrying with back-off"
        wait_for(lambda: log_lines(a, refused), what="the line about Redis")
        # Redis stays away past the first retry (1 s after the first try).
        wait_for(lambda: time.monotonic() - started > 1.5, what="the first retry")
        redis.start()
        wait_metric(metrics, lambda s: s["chat_link_up"] == 1, "chat_link_up 1")
        b = net.linked("b")
        bob = person(b, "bob")
        sees(x, "bob")
        bob.send("hello from b")
        for client in (x, y):
            client.expect(says("bob", "hello from b"))
        assert len(log_lines(a, refused)) == 1
        assert log_lines(a, r"\[twisted_chat\.backplane.*#(error|warn)") == [
            line for line in log_lines(a, refused)
        ]
    finally:
        redis.stop()


def test_people_told_at_arrival_that_the_link_is_down_are_told_when_it_is_up(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """Redis away at start, then there: those told it was down hear it is back."""
    redis = RedisServer(tmp_path / "late-redis")
    try:
        a = Net(start_daemon, redis).node("a")
        x = a.connect()
        assert told_down(x)
        redis.start()
        b = Net(start_daemon, redis).linked("b")
        bob = person(b, "bob")
        sees(x, "bob")  # linked, and the rosters exchanged
        bob.send("hi")
        x.expect(says("bob", "hi"))
        caught_up(x)
        assert text.NOTICE.format(text=LINK_BACK) in x.lines
    finally:
        redis.stop()


def test_a_newcomer_is_greeted_first_while_the_link_is_down(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """
    The greeting is a connection's first line (the terminal client reads
    its name from the first line only), the link down or not.
    """
    redis = RedisServer(tmp_path / "never-started")
    a = Net(start_daemon, redis).node("a")
    x = a.connect()
    assert told_down(x)
    assert text.WELCOME.parse(x.lines[0]) is not None, x.lines[:2]


# 7. Redis restarts


def test_a_redis_restart_loses_nothing_said_and_no_one_notices_locally(
    start_daemon: StartDaemon, start_redis: StartRedis, tmp_path: Path
) -> None:
    """
    Redis (with its append-only file) is stopped and started again on the
    same port. Meanwhile chat on each daemon goes on, each side is told
    the link is down and then back; what alice said on A during the outage
    reaches B afterwards, in order, and bob's reaches A; both reconnect by
    themselves, names stay unique, and the metrics tell the story. The
    transcript of what each side saw goes to /tmp/linktest-redis-restart.txt.
    """
    redis = start_redis("--appendonly", "yes")
    net = Net(start_daemon, redis)
    # An expiry well over the outage: people across the link stay shown.
    a = net.linked("a", *METRICS, expiry=10)
    b = net.linked("b", *METRICS, expiry=10)
    seen = Transcript(Path("/tmp/linktest-redis-restart.txt"))
    alice, bob = seen.person("A alice", a, "alice"), seen.person("B bob", b, "bob")
    seen.person("A ann", a, "ann")
    seen.person("B bea", b, "bea")
    sees(alice, "bob", "bea")
    sees(bob, "alice", "ann")
    try:
        restart(redis, net, a, b, seen)
    finally:
        print("\n" + seen.write())


def restart(
    redis: RedisServer, net: Net, a: ChatDaemon, b: ChatDaemon, seen: Transcript
) -> None:
    """The body of the Redis restart test, its transcript kept whatever happens."""
    metrics_a, metrics_b = ports(a)[1], ports(b)[1]
    alice, ann = seen.clients["A alice"], seen.clients["A ann"]
    bob, bea = seen.clients["B bob"], seen.clients["B bea"]
    seen.note("alice says 'before'")
    alice.send("before")
    for label in ("A ann", "B bob", "B bea"):
        seen.until(label, text.MESSAGE.format(name="alice", text="before"))

    assert redis.command(b"CONFIG", b"GET", b"appendonly") == [b"appendonly", b"yes"]
    assert redis.process is not None
    seen.note(f"redis-server stopped (SIGTERM to its pid {redis.process.pid})")
    redis.stop()
    for label in seen.clients:
        seen.until(label, LINK_DOWN_LINE)
    during = [f"during {n}" for n in range(3)]
    for line in during:
        seen.note(f"alice says {line!r}")
        alice.send(line)
        seen.until("A ann", text.MESSAGE.format(name="alice", text=line))
    seen.note("bob says 'b during'")
    bob.send("b during")
    seen.until("B bea", text.MESSAGE.format(name="bob", text="b during"))
    down = scrape(metrics_a)
    assert down["chat_link_up"] == 0
    assert down["chat_link_queue_messages"] >= 1
    assert said(bob.lines, "alice") == ["before"]
    assert said(alice.lines, "bob") == []

    redis.start()
    seen.note(f"redis-server started again on port {redis.port}")
    for label in seen.clients:
        seen.until(label, LINK_BACK_LINE)
    for label in ("B bob", "B bea"):
        seen.until(label, text.MESSAGE.format(name="alice", text=during[-1]))
    for label in ("A alice", "A ann"):
        seen.until(label, text.MESSAGE.format(name="bob", text="b during"))
    seen.note("alice says 'after'")
    alice.send("after")
    for label in ("B bob", "B bea"):
        seen.until(label, text.MESSAGE.format(name="alice", text="after"))
    assert said(bob.lines, "alice") == said(bea.lines, "alice")
    assert said(bob.lines, "alice") == ["before", *during, "after"]
    assert said(alice.lines, "bob") == said(ann.lines, "bob") == ["b during"]
    # What Redis kept from before its restart is there still, and the rest.
    kept = redis.command(b"LRANGE", b"twisted_chat:history:lobby", 0, -1)
    assert isinstance(kept, list)
    texts = [json.loads(entry)[3][0] for entry in kept if isinstance(entry, bytes)]
    assert texts[0] == "before" and texts[-1] == "after"
    assert sorted(texts[1:-1]) == sorted([*during, "b during"])
    for daemon, port in ((a, metrics_a), (b, metrics_b)):
        assert link_ups(daemon) == 2
        samples = wait_metric(
            port, lambda s: s["chat_link_queue_messages"] == 0, "an empty queue"
        )
        assert samples["chat_link_up"] == 1
        assert samples["chat_link_reconnects_total"] == 1
        assert samples["chat_link_lines_dropped_total"] == 0
    # Names stay unique, in Redis too.
    newcomer = b.connect()
    newcomer.send("/nick alice")
    newcomer.expect(exactly(text.ERROR, text="The name alice is taken."))
    holder = redis.command(b"GET", f"twisted_chat:name:{name_key('alice')}")
    assert isinstance(holder, bytes) and holder.startswith(b"a|"), holder
    seen.poll()
    assert sorted(who(alice)) == sorted(who(bob))
    assert {"alice", "ann", "bob", "bea"} <= set(who(alice))


def test_lines_said_in_an_outage_over_10_s_are_dropped_counted_and_announced(
    net: Net,
) -> None:
    """
    Redis away for over 10 s: alice (on A) is told her line did not reach
    the others, chat_link_lines_dropped counts it and the one said after,
    the queue is empty; once Redis is back, bob (on B) never sees them, and
    what alice says then reaches him.
    """
    # Expiries past the outage and the back-off after it: no one is gone.
    a = net.linked("a", *METRICS, expiry=30)
    b = net.linked("b", expiry=30)
    metrics = ports(a)[1]
    alice, bob = person(a, "alice"), person(b, "bob")
    sees(bob, "alice")
    net.redis.stop()
    stopped = time.monotonic()
    alice.expect(TOLD_DOWN)
    alice.send("lost 1")
    lost = text.NOTICE.format(
        text=LINK_LOST.format(seconds=10, lines="1 line"),
    )
    alice.expect(f"^{re.escape(lost)}$", timeout=15)
    assert time.monotonic() - stopped > 10
    samples = scrape(metrics)
    assert samples["chat_link_lines_dropped_total"] == 1
    assert samples["chat_link_queue_messages"] == 0
    alice.send("lost 2")
    wait_metric(
        metrics, lambda s: s["chat_link_lines_dropped_total"] == 2, "2 lines dropped"
    )
    net.redis.start()
    bob.expect(TOLD_BACK, timeout=20)  # the back-off has grown meanwhile
    alice.expect(TOLD_BACK)
    alice.send("after")
    bob.expect(says("alice", "after"))
    assert said(bob.lines, "alice") == ["after"]


def test_a_line_said_in_an_outage_of_8_s_reaches_the_other_daemon(
    net: Net,
) -> None:
    """
    Redis is away for 8 s, within the 10 s replay window: what alice said
    at its start reaches bob once it is back, and is not dropped.
    """
    a = net.linked("a", expiry=30)
    b = net.linked("b", expiry=30)
    alice, bob = person(a, "alice"), person(b, "bob")
    sees(bob, "alice")
    net.redis.stop()
    stopped = time.monotonic()
    alice.expect(TOLD_DOWN)
    alice.send("early")
    # The outage itself: Redis stays away this long.
    wait_for(lambda: time.monotonic() - stopped > 8, what="8 s", interval=0.1)
    net.redis.start()
    back_or_lost = alice.expect(rf"{TOLD_BACK}|^\*\*\* The link .* was down over")
    assert back_or_lost.group(0) == LINK_BACK_LINE
    bob.expect(says("alice", "early"))


def test_a_name_won_after_an_outage_is_reachable_from_the_other_daemon(
    net: Net,
) -> None:
    """
    While Redis is away, x on A and y on B both become carol; once it is
    back one of them is renamed: carol can then be /msg'd from both
    daemons (and /who shows her on both).
    """
    a = net.linked("a", "--rate", "0", expiry=10)
    b = net.linked("b", "--rate", "0", expiry=10)
    x, y, on_a, on_b = a.connect(), b.connect(), a.connect(), b.connect()
    for client in (on_a, on_b):
        sees(client, welcome_name(x), welcome_name(y))
    net.redis.stop()
    for client in (x, y):
        client.expect(TOLD_DOWN)
    x.nick("carol")
    y.nick("carol")
    net.redis.start()
    renamed = (
        r"^\*\*\* carol was taken on another server while the link was down: "
        r"you are (\S+) now\.$"
    )

    def one_renamed() -> LineClient | None:
        for client in (x, y):
            client.poll()
        losers = [
            c for c in (x, y) if any(re.search(renamed, line) for line in c.lines)
        ]
        return losers[0] if len(losers) == 1 else None

    loser = wait_for(one_renamed, what="one carol renamed")
    winner = y if loser is x else x
    for client in (on_a, on_b):
        sees(client, "carol")
        name = welcome_name(client)
        client.send(f"/msg carol from {name}")
        sent = exactly(text.PRIVATE_SENT, name="carol", text=f"from {name}")
        unknown = exactly(text.ERROR, text="No such name: carol")
        answer = client.expect(f"{sent}|{unknown}").group(0)
        assert answer == text.PRIVATE_SENT.format(name="carol", text=f"from {name}")
        winner.expect(exactly(text.PRIVATE, name=name, text=f"from {name}"))


def test_after_an_outage_every_daemon_shows_the_same_backlog(
    start_daemon: StartDaemon, start_redis: StartRedis
) -> None:
    """
    alice (A) and bob (B) each speak while Redis is away; after it is back,
    newcomers on A, on B, and on C started later see the same backlog.
    """
    net = Net(start_daemon, start_redis("--appendonly", "yes"))
    a, b = net.linked("a", expiry=10), net.linked("b", expiry=10)
    alice, bob = person(a, "alice"), person(b, "bob")
    sees(alice, "bob")
    sees(bob, "alice")
    alice.send("before")
    bob.expect(says("alice", "before"))
    net.redis.stop()
    for client in (alice, bob):
        client.expect(TOLD_DOWN)
    alice.send("a during")
    bob.send("b during")
    net.redis.start()
    bob.expect(says("alice", "a during"))
    alice.expect(says("bob", "b during"))
    alice.send("after")
    bob.expect(says("alice", "after"))
    c = net.linked("c")
    backlogs = {
        name: history_of(daemon.connect())
        for name, daemon in zip("abc", (a, b, c), strict=True)
    }
    assert sorted(backlogs["a"]) == sorted(backlogs["c"])  # the same lines
    assert backlogs["a"] == backlogs["b"] == backlogs["c"], backlogs


# 8. A daemon killed


def test_a_killed_daemon_s_people_are_gone_within_the_claim_expiry(
    net: Net,
) -> None:
    """
    B is killed (SIGKILL): on A and on C, bob is shown as gone within the
    claim expiry of 3 s, and his name is free.
    """
    a, b, c = net.linked("a"), net.linked("b"), net.linked("c")
    alice, bob, carol = person(a, "alice"), person(b, "bob"), person(c, "carol")
    for client in (alice, carol):
        sees(client, "bob")
        caught_up(client)
    assert b.process is not None
    b.process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    alice.expect(exactly(text.LEFT, name="bob"), timeout=EXPIRY + 5)
    gone_on_a = time.monotonic() - killed
    carol.expect(exactly(text.LEFT, name="bob"), timeout=EXPIRY + 5)
    gone_on_c = time.monotonic() - killed
    print(
        f"\nbob shown gone {gone_on_a:.2f} s (A), {gone_on_c:.2f} s (C) after SIGKILL"
    )
    assert gone_on_a <= EXPIRY and gone_on_c <= EXPIRY
    alice.nick("bob")
    carol.expect(exactly(text.RENAMED, old="alice", new="bob"))
    assert b.process.wait(timeout=5) == -signal.SIGKILL
    # bob's socket was open all along: had it closed, B would have said so.
    bob.close()


# 9. Two daemons, one node name


def test_a_second_daemon_under_the_same_node_name_refuses_to_start(
    net: Net, tmp_path: Path
) -> None:
    """
    A second daemon as node "a" exits 1 with one line on stderr, and no
    traceback anywhere; the first goes on linked. Once the first has
    stopped, the name is free at once.
    """
    a, b = net.linked("a"), net.linked("b")
    twin_log = tmp_path / "twin.log"
    twin = [
        bin_command("twistd"),
        "-n",
        "--pidfile=",
        "--logfile",
        str(twin_log),
        "chat",
        "--port",
        "tcp:0:interface=127.0.0.1",
        "--redis",
        net.redis.url,
        "--node-name",
        "a",
        "--claim-expiry",
        f"{EXPIRY:g}",
    ]
    result = run_command(twin, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"twistd chat: another daemon is linked as node 'a' through "
        f"{net.redis.url}; give each daemon its own --node-name (one that "
        f"was killed on another machine frees its name within {EXPIRY:g} s)"
    ]
    logged = twin_log.read_text() if twin_log.exists() else ""
    assert "Traceback" not in result.stderr + logged + a.log()
    alice, bob = person(a, "alice"), person(b, "bob")
    sees(bob, "alice")
    alice.send("still here")
    bob.expect(says("alice", "still here"))
    assert a.stop() in (0, -signal.SIGTERM)
    again = net.linked("a")
    sees(bob, gone=("alice",))
    assert again.process is not None and again.process.poll() is None


def test_a_daemon_killed_here_can_start_again_at_once_under_its_name(
    net: Net,
) -> None:
    """
    Its heartbeat key names this host and a PID that is gone: the daemon
    started in its place (systemd's restart) takes the name at once,
    without waiting for the key to expire.
    """
    a = net.linked("a", expiry=30)
    b = net.linked("b")
    a.stop(signal.SIGKILL, strict=False)
    again = net.linked("a", expiry=30)
    alice, bob = person(again, "alice"), person(b, "bob")
    sees(bob, "alice")
    alice.send("back at once")
    bob.expect(says("alice", "back at once"))


# 10. Passwords


def test_the_redis_password_is_never_logged_and_a_wrong_one_is_one_line(
    start_daemon: StartDaemon, start_redis: StartRedis, tmp_path: Path
) -> None:
    """
    Redis with --requirepass: linked with the right password, two daemons
    chat, and neither log holds it. With a wrong one, a third daemon stops
    at start-up with one line (a setting to fix, not an outage to wait
    out), the password hidden in it.
    """
    secret = "pw-Zq8-never-logged"
    redis = start_redis("--requirepass", secret)
    net = Net(start_daemon, redis)
    right = f"redis://:{secret}@127.0.0.1:{redis.port}/0"
    a = net.node("a", url=right)
    b = net.node("b", url=right)
    for daemon in (a, b):
        wait_link_up(daemon)
    alice, bob = person(a, "alice"), person(b, "bob")
    sees(bob, "alice")
    alice.send("secret's safe")
    bob.expect(says("alice", "secret's safe"))

    wrong_password = "not-the-pw-Xk2"
    wrong = f"redis://:{wrong_password}@127.0.0.1:{redis.port}/0"
    result = run_command(
        [
            bin_command("twistd"),
            "-n",
            "--pidfile=",
            "--logfile",
            str(tmp_path / "wrong.log"),
            "chat",
            "--port",
            "tcp:0:interface=127.0.0.1",
            "--redis",
            wrong,
            "--node-name",
            "c",
        ],
        cwd=tmp_path,
    )
    shown = f"redis://:***@127.0.0.1:{redis.port}/0"
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"twistd chat: redis at {shown} refused the handshake: WRONGPASS invalid "
        "username-password pair or user is disabled."
    ]
    assert wrong_password not in result.stdout + result.stderr
    for daemon in (a, b):
        daemon.stop()
        logged = daemon.log()
        assert secret not in logged
        assert f"redis://:***@127.0.0.1:{redis.port}/0" in logged


# 11. Metrics


def test_the_link_metrics_are_there_and_move(net: Net) -> None:
    """
    chat_link_up, chat_link_lines_published and _received,
    chat_link_queue_messages and chat_link_reconnects: there on both
    daemons, counting alice's 5 lines out of A and into B, and the link
    going down and coming back when Redis is killed and started again.
    """
    a, b = net.linked("a", *METRICS), net.linked("b", *METRICS)
    metrics_a, metrics_b = ports(a)[1], ports(b)[1]
    alice, bob = person(a, "alice"), person(b, "bob")
    sees(bob, "alice")
    before_a, before_b = scrape(metrics_a), scrape(metrics_b)
    for samples in (before_a, before_b):
        assert samples["chat_link_up"] == 1
        assert samples["chat_link_reconnects_total"] == 0
        assert "chat_link_queue_messages" in samples
    lines = [f"counted {n}" for n in range(5)]
    alice.send(b"".join(f"{line}\n".encode() for line in lines))
    bob.expect(says("alice", lines[-1]))
    published = "chat_link_lines_published_total"
    received = "chat_link_lines_received_total"
    after_a = wait_metric(
        metrics_a,
        lambda s: s[published] >= before_a[published] + 5,
        "A to count 5 lines published",
    )
    after_b = scrape(metrics_b)
    assert after_a[published] - before_a[published] == 5
    assert after_b[received] - before_b[received] == 5
    assert after_a[received] == before_a[received]

    net.redis.kill()
    wait_metric(metrics_a, lambda s: s["chat_link_up"] == 0, "A's link down")
    alice.send("queued")
    wait_metric(
        metrics_a, lambda s: s["chat_link_queue_messages"] >= 1, "a queued message"
    )
    net.redis.start()
    for port in (metrics_a, metrics_b):
        wait_metric(
            port,
            lambda s: s["chat_link_up"] == 1 and s["chat_link_reconnects_total"] == 1,
            "the link back, counted",
        )
    bob.expect(says("alice", "queued"))
    wait_metric(
        metrics_a, lambda s: s["chat_link_queue_messages"] == 0, "the queue emptied"
    )
    wait_metric(
        metrics_a,
        lambda s: s[published] == before_a[published] + 6,
        "the queued line counted",
    )


# 12. TLS


@pytest.fixture
def tls_redis(
    start_redis: StartRedis, tmp_path: Path
) -> Iterator[tuple[RedisServer, int, Path]]:
    """A redis-server also serving TLS (its plain port is for the test)."""
    certificates = tmp_path / "certificates"
    certificates.mkdir()
    paths = make_certificates(certificates)
    tls_port = free_port()
    redis = start_redis(
        "--tls-port", str(tls_port),
        "--tls-cert-file", str(paths["cert"]),
        "--tls-key-file", str(paths["key"]),
        "--tls-ca-cert-file", str(paths["ca"]),
        "--tls-auth-clients", "no",
    )  # fmt: skip
    yield redis, tls_port, paths["ca"]


def test_linked_through_rediss_with_a_private_ca(
    start_daemon: StartDaemon, tls_redis: tuple[RedisServer, int, Path]
) -> None:
    """
    rediss://localhost, the CA given by SSL_CERT_FILE: two daemons link
    over TLS and chat.
    """
    redis, tls_port, ca = tls_redis
    url = f"rediss://localhost:{tls_port}/0"
    env = {"SSL_CERT_FILE": str(ca)}
    daemons = [
        start_daemon(
            "--redis", url, "--node-name", name, "--claim-expiry", "3", env=env
        )
        for name in ("a", "b")
    ]
    for daemon in daemons:
        wait_link_up(daemon)
    alice, bob = person(daemons[0], "alice"), person(daemons[1], "bob")
    sees(bob, "alice")
    alice.send("over tls")
    bob.expect(says("alice", "over tls"))
    clients = redis.command(b"CLIENT", b"LIST")
    assert isinstance(clients, bytes)
    # Our CLIENT LIST is plain; the daemons' four connections are TLS.
    assert clients.count(b"laddr=127.0.0.1:" + str(tls_port).encode()) >= 4


def test_a_redis_certificate_it_cannot_trust_is_said_in_one_line(
    start_daemon: StartDaemon, tls_redis: tuple[RedisServer, int, Path]
) -> None:
    """
    Without the CA, the daemon cannot verify Redis: it says so in one line
    (not silently retrying for ever) and serves its own people.
    """
    _, tls_port, _ = tls_redis
    # Redis does not count connections whose TLS handshake failed: these do.
    proxy = CountingProxy(tls_port)
    try:
        daemon = start_daemon(
            "--redis",
            f"rediss://localhost:{proxy.port}/0",
            "--node-name",
            "a",
            "--claim-expiry",
            "3",
        )
        # The check at start-up, the link's two connections, a retry of both.
        wait_for(lambda: proxy.accepted >= 5, what="a retry", interval=0.05)
        x, y = daemon.connect(), daemon.connect()
        x.send("local")
        y.expect(says(welcome_name(x), "local"))
        shown = f"redis at rediss://localhost:{proxy.port}/0: .*certificate"
        assert len(log_lines(daemon, shown)) == 1
    finally:
        proxy.close()
