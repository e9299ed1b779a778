"""
Moderation in memory: durations and targets, who is an operator, who may
act on whom, and /op, /deop, /kick, /ban, /unban, /bans, /mute, /unmute
and /topic --lock on a L{Hub} with a L{Clock}, as announced to the rooms,
as told to whoever they act on, as logged for the audit, and as kept by a
store for the next start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from twisted.internet.task import Clock
from twisted.logger import LogEvent, capturedLogs, formatEvent

from tests.support import clear, connected, hub_on_clock, registered, run_line
from twisted_chat.core.hub import Hub
from twisted_chat.core.moderation import parse_duration, parse_target
from twisted_chat.core.moderation_commands import may_act_on
from twisted_chat.names import name_key
from twisted_chat.store.memory import MemoryStore
from twisted_chat.testing import FakeMember, LineConnection, line_factory

PASSWORD = "op-password"
ROOM_OPS_ONLY = "! Only an operator of this room can do that (see /who: @ marks them)."
NOT_ON_SERVER_OPS = "! Server operators cannot be moderated."
NOT_ON_ROOM_OPS = "! Only a server operator can moderate an operator of this room."
AUDIT_FIELDS = ("actor", "action", "whom", "scope")


@dataclass
class Scene:
    """
    root, a server operator, in #lobby; in #dev: alice, who made it (so is
    its operator), bob (registered) and eve (a guest).
    """

    hub: Hub
    clock: Clock
    root: FakeMember
    alice: FakeMember
    bob: FakeMember
    eve: FakeMember

    @property
    def everyone(self) -> tuple[FakeMember, ...]:
        return self.root, self.alice, self.bob, self.eve


def scene(**options: object) -> Scene:
    """The L{Scene}, everyone's lines cleared; C{options} for the hub."""
    hub, clock = hub_on_clock(operators=["root"], **options)
    root = registered(hub, "root", "10.0.0.1", PASSWORD)
    alice = registered(hub, "alice", "10.0.0.2", PASSWORD)
    bob = registered(hub, "bob", "10.0.0.3", PASSWORD)
    eve = connected(hub, "10.0.0.4", "eve")
    for member in (alice, bob, eve):
        run_line(hub, member, "/join dev")
    made = Scene(hub, clock, root, alice, bob, eve)
    clear(*made.everyone)
    return made


def until(at: float, now: float) -> str:
    """How the README shows the end of a restriction: C{until 21:30} today."""
    moment = time.localtime(at)
    if moment[:3] == time.localtime(now)[:3]:
        return time.strftime("until %H:%M", moment)
    return time.strftime("until %Y-%m-%d %H:%M", moment)


def rooms_of(hub: Hub, member: FakeMember) -> list[str]:
    return [room.name for room in hub.rooms_of(member)]


def audits(events: list[LogEvent]) -> list[dict[str, object]]:
    """The audit events logged, without the logger's own keys."""
    return [
        {key: value for key, value in event.items() if not key.startswith("log_")}
        for event in events
        if event.get("audit")
    ]


# Durations and targets


@pytest.mark.parametrize(
    ("given", "seconds"),
    [
        ("90s", 90.0),
        ("10m", 600.0),
        ("2h", 7200.0),
        ("7d", 7 * 86400.0),
        ("1w", 7 * 86400.0),
        ("2H", 7200.0),
        ("520w", 520 * 7 * 86400.0),
    ],
)
def test_durations_are_read_in_their_units(given: str, seconds: float) -> None:
    """90s, 10m, 2h, 7d, 1w (any case) are that many seconds."""
    assert parse_duration(given) == seconds


@pytest.mark.parametrize(
    "given", ["0s", "0m", "", "10", "m", "1.5h", "-1m", "10x", "1 h", "h2", "600w"]
)
def test_anything_else_is_not_a_duration(given: str) -> None:
    """
    Zero, no unit, a fraction, a sign, an unknown unit, and more than ten
    years are no duration (the caller takes the word as the reason).
    """
    assert parse_duration(given) is None


@pytest.mark.parametrize(
    ("given", "target"),
    [
        ("alice", f"name:{name_key('alice')}"),
        ("AIice", f"name:{name_key('alice')}"),
        ("10.0.0.7", "address:10.0.0.7/32"),
        ("10.0.0.0/24", "address:10.0.0.0/24"),
        ("10.0.0.77/24", "address:10.0.0.0/24"),
        ("FD00:0:0::1", "address:fd00::1/128"),
        ("fd00::/8", "address:fd00::/8"),
        ("fd12:3456::1/8", "address:fd00::/8"),
    ],
)
def test_targets_are_names_or_normalised_networks(given: str, target: str) -> None:
    """
    A name stands for its key (case and look-alikes folded); an address is
    the network of just it; a network is normalised to its first address.
    """
    assert parse_target(given) == target


@pytest.mark.parametrize("given", ["", "bad!name", "10.0.0.0/33", "a" * 25, "fd00::/x"])
def test_anything_else_is_not_a_target(given: str) -> None:
    """Neither a valid name nor an address or network: no target."""
    assert parse_target(given) is None


# Who is an operator


def test_the_logged_in_maker_of_a_room_is_its_operator_and_a_guest_is_not() -> None:
    """
    alice, logged in, made #dev: /who marks her @, and no one else; a room
    a guest makes has no operator; in the lobby only root, a server
    operator, is marked.
    """
    s = scene()
    run_line(s.hub, s.bob, "/who")
    assert s.bob.take_lines() == ["*** 3 here: @alice, bob, eve"]
    run_line(s.hub, s.eve, "/join games")
    run_line(s.hub, s.eve, "/who")
    assert s.eve.take_lines()[-1] == "*** 1 here: eve"
    run_line(s.hub, s.bob, "/join lobby")
    run_line(s.hub, s.bob, "/who")
    assert s.bob.take_lines()[-1] == "*** 2 here: bob, @root"


def test_op_and_deop_are_announced_and_shown_by_who() -> None:
    """
    A room operator's /op NAME makes a registered NAME one, announced to
    the room and marked by /who; a server operator's /deop undoes it.
    """
    s = scene()
    run_line(s.hub, s.alice, "/op bob")
    for member in (s.alice, s.bob, s.eve):
        assert member.take_lines() == ["*** alice made bob an operator of #dev"]
    run_line(s.hub, s.eve, "/who")
    assert s.eve.take_lines() == ["*** 3 here: @alice, @bob, eve"]
    run_line(s.hub, s.root, "/join dev")
    clear(*s.everyone)
    run_line(s.hub, s.root, "/deop bob")
    for member in s.everyone:
        assert member.take_lines() == ["*** root took operator from bob in #dev"]
    run_line(s.hub, s.eve, "/who")
    assert s.eve.take_lines() == ["*** 4 here: @alice, bob, eve, @root"]


def test_op_and_deop_refusals() -> None:
    """
    /op needs an operator of the room and a registered name; /deop needs
    an operator of the room to take it from, and never a server operator.
    Nobody else hears of a refusal.
    """
    s = scene()
    refusals = [
        (s.bob, "/op bob", "! Only an operator of this room can do that."),
        (s.alice, "/op eve", "! eve is not a registered name."),
        (s.alice, "/op", "! Usage: /op NAME"),
        (s.alice, "/deop bob", "! bob is not an operator of #dev."),
        (s.alice, "/deop root", NOT_ON_SERVER_OPS),
    ]
    for member, command, refusal in refusals:
        run_line(s.hub, member, command)
        assert member.take_lines() == [refusal], command
    assert all(member.lines == [] for member in s.everyone)


def test_who_may_act_on_whom() -> None:
    """
    may_act_on: room operators in their room only, server operators
    anywhere and server-wide; nobody on a server operator; only a server
    operator on an operator of the room.
    """
    s = scene()
    s.hub.moderation.server_operators.add(name_key("admin"))
    run_line(s.hub, s.alice, "/op bob")
    root, alice, eve = s.root.account, s.alice.account, s.eve.account
    bob, admin = s.bob.account, name_key("admin")
    assert may_act_on(s.hub, s.eve, None, "dev") == ROOM_OPS_ONLY[2:]
    assert may_act_on(s.hub, s.alice, eve, "dev") is None
    assert may_act_on(s.hub, s.alice, eve, "games") == ROOM_OPS_ONLY[2:]
    assert may_act_on(s.hub, s.alice, eve, "") == "Only a server operator can do that."
    assert may_act_on(s.hub, s.alice, root, "dev") == NOT_ON_SERVER_OPS[2:]
    assert may_act_on(s.hub, s.alice, bob, "dev") == NOT_ON_ROOM_OPS[2:]
    assert may_act_on(s.hub, s.bob, alice, "dev") == NOT_ON_ROOM_OPS[2:]
    assert may_act_on(s.hub, s.root, bob, "dev") is None
    assert may_act_on(s.hub, s.root, None, "") is None
    assert may_act_on(s.hub, s.root, admin, "") == NOT_ON_SERVER_OPS[2:]
    assert may_act_on(s.hub, s.root, admin, "dev") == NOT_ON_SERVER_OPS[2:]


def test_a_guest_cannot_kick_ban_or_mute() -> None:
    """A guest's /kick, /ban and /mute are refused and change nothing."""
    s = scene()
    for command in ("/kick bob", "/ban bob", "/mute bob", "/unban bob"):
        run_line(s.hub, s.eve, command)
        assert s.eve.take_lines() == [ROOM_OPS_ONLY], command
    assert [member.lines for member in s.everyone] == [[]] * 4
    assert rooms_of(s.hub, s.bob) == ["dev"]
    run_line(s.hub, s.eve, "/kick --server bob")
    assert s.eve.take_lines() == ["! Only a server operator can do that."]


def test_a_room_operator_acts_in_its_own_room_only() -> None:
    """
    alice, operator of #dev, cannot kick, ban or mute in #games, a room
    bob made; nor server-wide.
    """
    s = scene()
    run_line(s.hub, s.bob, "/join games")
    run_line(s.hub, s.eve, "/join games")
    run_line(s.hub, s.alice, "/join games")
    clear(*s.everyone)
    for command in ("/kick eve", "/ban eve", "/mute eve"):
        run_line(s.hub, s.alice, command)
        assert s.alice.take_lines() == [ROOM_OPS_ONLY], command
    for command in ("/kick --server eve", "/ban --server eve", "/mute --server eve"):
        run_line(s.hub, s.alice, command)
        assert s.alice.take_lines() == ["! Only a server operator can do that."]
    assert [member.lines for member in s.everyone] == [[]] * 4


def test_nobody_acts_on_a_server_operator() -> None:
    """
    In #dev, alice's /kick, /ban and /mute of root are refused; and so is
    another server operator's.
    """
    s = scene()
    admin = registered(s.hub, "admin", "10.0.0.9", PASSWORD)
    s.hub.moderation.server_operators.add(name_key("admin"))
    run_line(s.hub, s.root, "/join dev")
    run_line(s.hub, admin, "/join dev")
    clear(admin, *s.everyone)
    for command in ("/kick root", "/ban root", "/mute root", "/ban root 1h"):
        run_line(s.hub, s.alice, command)
        assert s.alice.take_lines() == [NOT_ON_SERVER_OPS], command
        run_line(s.hub, admin, command)
        assert admin.take_lines() == [NOT_ON_SERVER_OPS], command
    for command in ("/kick --server root", "/ban --server root"):
        run_line(s.hub, admin, command)
        assert admin.take_lines() == [NOT_ON_SERVER_OPS], command
    assert rooms_of(s.hub, s.root) == ["dev"]
    assert s.root.lines == []


def test_only_a_server_operator_acts_on_an_operator_of_the_room() -> None:
    """
    Once bob is an operator of #dev, alice cannot kick, ban or mute him;
    root, a server operator, bans him (announced, and bob is sent to the
    lobby, told until when).
    """
    s = scene()
    run_line(s.hub, s.alice, "/op bob")
    run_line(s.hub, s.root, "/join dev")
    clear(*s.everyone)
    for command in ("/kick bob", "/ban bob", "/mute bob"):
        run_line(s.hub, s.alice, command)
        assert s.alice.take_lines() == [NOT_ON_ROOM_OPS], command
    run_line(s.hub, s.root, "/ban bob 1h")
    assert s.alice.take_lines() == ["*** root banned bob for 1h", "*** bob has left"]
    ends = until(s.clock.seconds() + 3600, s.clock.seconds())
    assert s.bob.take_lines() == [
        "*** root banned bob for 1h",
        f"! You are banned from #dev {ends}.",
        "*** You are in #lobby: 1 here",
    ]


# /kick


def test_kick_sends_the_target_to_the_default_room() -> None:
    """
    /kick eve spamming in #dev: the room sees who kicked whom and why,
    then eve leave; eve is told, in the lobby now (which sees her come);
    the audit log has it.
    """
    s = scene()
    with capturedLogs() as events:
        run_line(s.hub, s.alice, "/kick eve spamming")
    for member in (s.alice, s.bob):
        assert member.lines == ["*** alice kicked eve (spamming)", "*** eve has left"]
    assert s.eve.lines == [
        "*** alice kicked eve (spamming)",
        "! You were kicked from #dev by alice (spamming).",
        "*** You are in #lobby: 2 here",
    ]
    assert s.root.lines == ["*** eve has joined"]
    assert rooms_of(s.hub, s.eve) == ["lobby"]
    assert not s.eve.closed
    assert audits(list(events)) == [
        {
            "actor": "alice",
            "action": "kicked",
            "whom": "eve",
            "scope": "#dev",
            "audit": True,
        }
    ]
    assert [formatEvent(event) for event in events] == [
        "audit: alice kicked eve in #dev"
    ]


def test_kick_from_the_default_room_is_off_the_server() -> None:
    """
    An operator of the default room (root named alice) kicks eve there:
    eve is told, then disconnected; the room sees the kick and her leave.
    """
    s = scene()
    run_line(s.hub, s.root, "/op alice")
    run_line(s.hub, s.alice, "/join lobby")
    run_line(s.hub, s.eve, "/join lobby")
    clear(*s.everyone)
    run_line(s.hub, s.alice, "/kick eve bye")
    assert s.eve.lines == [
        "*** alice kicked eve (bye)",
        "! You were kicked from #lobby by alice (bye).",
    ]
    assert s.eve.closed
    assert s.eve not in s.hub
    for member in (s.root, s.alice):
        assert member.lines == ["*** alice kicked eve (bye)", "*** eve has left"]


def test_kick_server_takes_the_target_off_the_server() -> None:
    """
    A server operator's /kick --server eve from the lobby: #dev, eve's
    room, sees it; eve is told and disconnected.
    """
    s = scene()
    run_line(s.hub, s.root, "/kick --server eve flooding")
    assert s.eve.lines == [
        "*** root kicked eve (flooding)",
        "! You were kicked from the server by root (flooding).",
    ]
    assert s.eve.closed
    assert s.eve not in s.hub
    assert s.bob.lines == ["*** root kicked eve (flooding)", "*** eve has left"]


def test_kick_refusals() -> None:
    """/kick of nobody, or of someone not in the room, is refused to its sender."""
    s = scene()
    refusals = {
        "/kick": "! Usage: /kick [--server] NAME [REASON]",
        "/kick nobody": "! No such name: nobody",
        "/kick root": "! root is not in #dev.",
    }
    for command, refusal in refusals.items():
        run_line(s.hub, s.alice, command)
        assert s.alice.take_lines() == [refusal], command
    assert [member.lines for member in s.everyone] == [[]] * 4


# /ban, /unban, /bans


def test_a_ban_by_name_of_a_logged_in_account_follows_the_account() -> None:
    """
    alice bans bob (logged in): he is sent to the lobby; logged in again
    from another address, under another name too, his /join is refused;
    a guest from his old address may join.
    """
    s = scene()
    run_line(s.hub, s.alice, "/ban bob")
    assert s.eve.take_lines() == ["*** alice banned bob", "*** bob has left"]
    assert s.bob.take_lines() == [
        "*** alice banned bob",
        "! You are banned from #dev until lifted.",
        "*** You are in #lobby: 2 here",
    ]
    s.hub.disconnect(s.bob)
    elsewhere = connected(s.hub, "10.0.8.8")
    run_line(s.hub, elsewhere, f"/login bob {PASSWORD}")
    run_line(s.hub, elsewhere, "/join dev")
    assert elsewhere.take_lines()[-1] == "! You are banned from #dev until lifted."
    # The account is banned, whatever it is called now.
    run_line(s.hub, elsewhere, "/nick bobby")
    run_line(s.hub, elsewhere, "/join dev")
    assert elsewhere.take_lines()[-1] == "! You are banned from #dev until lifted."
    old_address = connected(s.hub, "10.0.0.3")
    run_line(s.hub, old_address, "/join dev")
    assert old_address.lines[0] == "*** You are in #dev: 3 here"


def test_a_ban_by_name_of_a_guest_bans_its_address() -> None:
    """
    alice bans eve, a guest, by name: eve's address is banned (the audit
    says which); a new guest from it is refused /join; another address
    is not.
    """
    s = scene()
    with capturedLogs() as events:
        run_line(s.hub, s.alice, "/ban eve trolling")
    assert s.bob.lines == ["*** alice banned eve (trolling)", "*** eve has left"]
    assert s.eve.lines[1] == "! You are banned from #dev until lifted (trolling)."
    assert [formatEvent(event) for event in events] == [
        "audit: alice banned eve (10.0.0.4/32) in #dev"
    ]
    s.hub.disconnect(s.eve)
    again = connected(s.hub, "10.0.0.4")
    run_line(s.hub, again, "/join dev")
    assert again.lines == ["! You are banned from #dev until lifted (trolling)."]
    neighbour = connected(s.hub, "10.0.0.5")
    run_line(s.hub, neighbour, "/join dev")
    assert neighbour.lines[0] == "*** You are in #dev: 3 here"


@pytest.mark.parametrize(
    ("network", "shown", "inside", "outside"),
    [
        ("10.9.0.0/16", "10.9.0.0/16", "10.9.200.1", "10.10.0.1"),
        ("10.9.1.2/16", "10.9.0.0/16", "10.9.0.1", "10.8.255.255"),
        ("fd00::/8", "fd00::/8", "fd12::5", "2001:db8::1"),
    ],
)
def test_a_ban_of_a_network_covers_every_address_in_it(
    network: str, shown: str, inside: str, outside: str
) -> None:
    """
    /ban of a network (IPv4 or IPv6, normalised when announced) refuses
    /join to a guest from any address in it, and to no one outside it.
    """
    s = scene()
    run_line(s.hub, s.alice, f"/ban {network}")
    assert s.bob.lines == [f"*** alice banned {shown}"]
    covered = connected(s.hub, inside)
    run_line(s.hub, covered, "/join dev")
    assert covered.lines == ["! You are banned from #dev until lifted."]
    free = connected(s.hub, outside)
    run_line(s.hub, free, "/join dev")
    assert free.lines[0] == "*** You are in #dev: 4 here"


def test_a_ban_for_a_time_ends_by_the_clock() -> None:
    """
    /ban eve 10m: announced with its length; /join is refused, saying
    until when, for 10 minutes of the hub's clock, and allowed after.
    """
    s = scene()
    start = s.clock.seconds()
    ends = until(start + 600, start)
    run_line(s.hub, s.alice, "/ban eve 10m")
    assert s.bob.lines == ["*** alice banned eve for 10m", "*** eve has left"]
    run_line(s.hub, s.alice, "/bans")
    assert s.alice.take_lines()[-1] == f"*** ban 10.0.0.4/32 {ends}, by alice"
    s.clock.advance(599.5)
    run_line(s.hub, s.eve, "/join dev")
    assert s.eve.take_lines()[-1] == f"! You are banned from #dev {ends}."
    s.clock.advance(0.5)
    run_line(s.hub, s.eve, "/join dev")
    assert s.eve.take_lines()[0] == "*** You are in #dev: 3 here"
    run_line(s.hub, s.alice, "/bans")
    assert s.alice.take_lines()[-1] == "*** No bans or mutes in #dev."


def test_unban_lifts_a_ban_and_is_announced() -> None:
    """
    /unban eve (a guest: her address) is announced and lets her /join
    again; a second /unban finds nothing to lift.
    """
    s = scene()
    run_line(s.hub, s.alice, "/ban eve")
    clear(*s.everyone)
    run_line(s.hub, s.alice, "/unban eve")
    assert s.bob.take_lines() == ["*** alice unbanned eve"]
    run_line(s.hub, s.eve, "/join dev")
    assert s.eve.take_lines()[0] == "*** You are in #dev: 3 here"
    clear(*s.everyone)
    run_line(s.hub, s.alice, "/unban eve")
    assert s.alice.lines == ["! No ban on eve here."]
    assert s.bob.lines == []


def test_bans_lists_the_bans_and_mutes_of_the_room_or_the_server() -> None:
    """
    /bans lists the room's bans then mutes, each with its end, reason and
    author; /bans --server the server's; either says when there are none.
    """
    s = scene()
    start = s.clock.seconds()
    run_line(s.hub, s.alice, "/bans")
    assert s.alice.take_lines() == ["*** No bans or mutes in #dev."]
    run_line(s.hub, s.alice, "/ban eve 2h trolling")
    run_line(s.hub, s.alice, "/mute bob")
    run_line(s.hub, s.root, "/ban --server 10.7.0.0/16 spam")
    clear(*s.everyone)
    run_line(s.hub, s.alice, "/bans")
    assert s.alice.take_lines() == [
        f"*** ban 10.0.0.4/32 {until(start + 7200, start)} (trolling), by alice",
        "*** mute bob until lifted, by alice",
    ]
    run_line(s.hub, s.root, "/bans --server")
    assert s.root.take_lines() == ["*** ban 10.7.0.0/16 until lifted (spam), by root"]
    run_line(s.hub, s.root, "/unban --server 10.7.0.0/16")
    run_line(s.hub, s.root, "/bans --server")
    assert s.root.take_lines()[-1] == "*** No bans or mutes on this server."


# /mute and /unmute


def test_a_muted_member_reads_but_its_lines_are_refused_until_the_end() -> None:
    """
    /mute eve 10m flooding: announced; eve's lines and actions are refused
    to her, saying until when, and reach no one; eve still reads; after 10
    minutes her lines go through.
    """
    s = scene()
    start = s.clock.seconds()
    run_line(s.hub, s.alice, "/mute eve 10m flooding")
    for member in (s.alice, s.bob, s.eve):
        assert member.take_lines() == ["*** alice muted eve for 10m (flooding)"]
    refusal = (
        f"! Not sent: you are muted in #dev {until(start + 600, start)} (flooding)."
    )
    s.hub.say(s.eve, ["hello?"])
    run_line(s.hub, s.eve, "/me waves")
    assert s.eve.take_lines() == [refusal, refusal]
    assert s.alice.lines == s.bob.lines == []
    s.hub.say(s.bob, ["you are muted"])
    assert s.eve.take_lines() == ["<bob> you are muted"]
    clear(*s.everyone)
    s.clock.advance(600)
    s.hub.say(s.eve, ["back"])
    assert s.eve.lines == []
    assert s.alice.lines == s.bob.lines == ["<eve> back"]


def test_unmute_lifts_a_mute() -> None:
    """/unmute bob is announced, and bob's lines go through again."""
    s = scene()
    run_line(s.hub, s.alice, "/mute bob")
    clear(*s.everyone)
    run_line(s.hub, s.alice, "/unmute bob")
    assert s.eve.take_lines() == ["*** alice unmuted bob"]
    s.hub.say(s.bob, ["thanks"])
    assert s.eve.lines == ["<bob> thanks"]
    run_line(s.hub, s.alice, "/unmute bob")
    assert s.alice.take_lines()[-1] == "! No mute on bob here."


def test_a_server_mute_applies_in_every_room() -> None:
    """
    root's /mute --server bob from the lobby is announced there and in
    #dev; bob is muted in #dev and, once he moves, in the lobby too.
    """
    s = scene()
    run_line(s.hub, s.root, "/mute --server bob")
    assert s.root.take_lines() == ["*** root muted bob"]
    assert s.eve.take_lines() == ["*** root muted bob"]
    assert s.bob.take_lines() == ["*** root muted bob"]
    s.hub.say(s.bob, ["in dev"])
    assert s.bob.take_lines() == ["! Not sent: you are muted in #dev until lifted."]
    run_line(s.hub, s.bob, "/join lobby")
    clear(*s.everyone)
    s.hub.say(s.bob, ["in the lobby"])
    assert s.bob.lines == ["! Not sent: you are muted in #lobby until lifted."]
    assert s.root.lines == []


# /topic --lock


def test_a_locked_topic_is_set_by_operators_only() -> None:
    """
    /topic --lock (an operator's, announced): others' /topic TEXT and
    /topic - are refused, the operator's is not; --unlock undoes it; a
    non-operator cannot lock.
    """
    s = scene()
    run_line(s.hub, s.eve, "/topic --lock")
    assert s.eve.take_lines() == ["! Only an operator of this room can do that."]
    run_line(s.hub, s.alice, "/topic --lock")
    for member in (s.alice, s.bob, s.eve):
        assert member.take_lines() == ["*** alice locked the topic"]
    for command in ("/topic mine now", "/topic -"):
        run_line(s.hub, s.eve, command)
        assert s.eve.take_lines() == ["! The topic of #dev is locked."], command
    run_line(s.hub, s.alice, "/topic release day")
    assert s.eve.take_lines() == ["*** alice set the topic: release day"]
    run_line(s.hub, s.alice, "/topic --unlock")
    assert s.eve.take_lines() == ["*** alice unlocked the topic"]
    run_line(s.hub, s.eve, "/topic mine now")
    assert s.bob.take_lines()[-1] == "*** eve set the topic: mine now"


# The audit


def test_every_action_is_audited_with_who_what_whom_and_where_only() -> None:
    """
    Each operator action logs one audit event: its fields are the actor,
    the action, whom (a guest as its address) and the scope, no more;
    nothing anyone said is in any of them.
    """
    s = scene()
    s.hub.say(s.eve, ["a secret said in dev"])
    actions = [
        (s.alice, "/op bob", ("alice", "op", "bob", "#dev")),
        (s.root, "/join dev", None),
        (s.root, "/deop bob", ("root", "deop", "bob", "#dev")),
        (s.alice, "/mute eve", ("alice", "muted", "eve (10.0.0.4/32)", "#dev")),
        (s.alice, "/unmute eve", ("alice", "unmuted", "eve (10.0.0.4/32)", "#dev")),
        (s.alice, "/kick eve", ("alice", "kicked", "eve", "#dev")),
        (s.alice, "/ban eve 1h", ("alice", "banned", "eve (10.0.0.4/32)", "#dev")),
        (s.alice, "/unban eve", ("alice", "unbanned", "eve (10.0.0.4/32)", "#dev")),
        (
            s.root,
            "/ban --server fd00::/8",
            ("root", "banned", "fd00::/8", "server-wide"),
        ),
        (s.root, "/mute --server bob", ("root", "muted", "bob", "server-wide")),
    ]
    expected = []
    with capturedLogs() as events:
        for member, command, audit in actions:
            run_line(s.hub, member, command)
            if audit is not None:
                expected.append(dict(zip(AUDIT_FIELDS, audit, strict=True)))
    assert audits(list(events)) == [{**fields, "audit": True} for fields in expected]
    assert all("a secret" not in repr(event) for event in events)


# Kept by the store


def test_moderation_is_kept_by_the_store_for_a_new_hub() -> None:
    """
    A new hub over the same store has the accounts (a login works, the
    name is refused to a guest), the grants (@ in /who, in a room neither
    made this time), the room's ban and mute, and the server ban, which
    refuses a connection from its address at once.
    """
    store = MemoryStore()
    s = scene(store=store)
    carol = registered(s.hub, "carol", "10.0.0.6", PASSWORD)
    run_line(s.hub, carol, "/join dev")
    run_line(s.hub, s.alice, "/op bob")
    run_line(s.hub, s.alice, "/ban eve")
    run_line(s.hub, s.alice, "/mute carol")
    run_line(s.hub, s.root, "/ban --server 10.6.6.6 spam")

    hub = Hub(clock=s.clock, store=store, operators=["root"])
    guest = connected(hub, "10.0.0.20")
    run_line(hub, guest, "/join dev")
    run_line(hub, guest, "/nick alice")
    assert guest.take_lines()[-1] == "! alice is registered: /login alice PASSWORD"
    members: dict[str, FakeMember] = {}
    for name in ("alice", "bob", "carol"):
        member = members[name] = connected(hub, f"10.0.1.{len(members)}")
        run_line(hub, member, f"/login {name} {PASSWORD}")
        assert member.take_lines()[-1] == f"*** You are logged in as {name}."
        run_line(hub, member, "/join dev")
    run_line(hub, guest, "/who")
    assert guest.take_lines()[-1] == "*** 4 here: @alice, @bob, carol, guest1"
    clear(*members.values())
    hub.say(members["carol"], ["still muted?"])
    assert members["carol"].lines == ["! Not sent: you are muted in #dev until lifted."]
    assert members["alice"].lines == []
    eve = connected(hub, "10.0.0.4")
    run_line(hub, eve, "/join dev")
    assert eve.lines == ["! You are banned from #dev until lifted."]
    banned = LineConnection(line_factory(hub, clock=s.clock), host="10.6.6.6")
    assert banned.lines() == ["! Banned from this server until lifted (spam)."]
    assert banned.transport.disconnecting


# Bugs found


def test_a_room_operator_cannot_ban_a_network_holding_a_server_operator() -> None:
    """
    Nobody acts on a server operator: alice's /ban of a network that holds
    root's address leaves root in #dev, free to come back.
    """
    s = scene()
    run_line(s.hub, s.root, "/join dev")
    clear(s.alice)
    run_line(s.hub, s.alice, "/ban 10.0.0.0/8")
    assert s.alice.lines[-1].startswith("! 10.0.0.0/8 covers ")
    assert s.hub.moderation.listing("ban", "dev") == []
    assert rooms_of(s.hub, s.root) == ["dev"]
    run_line(s.hub, s.root, "/join lobby")
    clear(s.root)
    run_line(s.hub, s.root, "/join dev")
    assert s.root.lines[0] == "*** You are in #dev: 4 here"


def test_a_room_operator_cannot_deop_another_operator_of_the_room() -> None:
    """
    Only a server operator acts on an operator of the room: bob's /deop
    alice is refused, and alice stays one.
    """
    s = scene()
    run_line(s.hub, s.alice, "/op bob")
    clear(*s.everyone)
    run_line(s.hub, s.bob, "/deop alice")
    assert s.hub.moderation.is_room_operator(s.alice.account, "dev")
    assert s.bob.lines == [NOT_ON_ROOM_OPS]
    assert s.eve.lines == []


def test_a_muted_member_cannot_reach_the_room_with_a_topic() -> None:
    """A muted member's /topic TEXT reaches no one and leaves the topic as it was."""
    s = scene()
    run_line(s.hub, s.alice, "/mute eve")
    clear(*s.everyone)
    run_line(s.hub, s.eve, "/topic BUY NOW at spam.example")
    assert s.bob.lines == []
    room = s.hub.room("dev")
    assert room is not None and room.topic == ""


def test_kick_server_from_another_room_answers_the_operator() -> None:
    """root's /kick --server eve, from the lobby, gets root an answer."""
    s = scene()
    run_line(s.hub, s.root, "/kick --server eve")
    assert s.root.lines == ["*** root kicked eve"]
