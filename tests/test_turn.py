"""
The one delivery path (L{twisted_chat.core.turn.Turn}), driven turn by turn.

Every test runs a real L{Hub} on a L{TurnDriver}, so it decides when a
reactor turn ends, and watches each member's C{send} calls one by one.
"""

from __future__ import annotations

from collections import Counter

from twisted_chat.core import events
from twisted_chat.core.commands import run_command, split_command
from twisted_chat.core.hub import Hub
from twisted_chat.core.room import Renderer
from twisted_chat.frontends.line.render import LINE_RENDERER
from twisted_chat.testing import FakeMember, TurnDriver


class SendingMember(FakeMember):
    """A L{FakeMember} that also keeps each C{send} apart, as it came."""

    def __init__(self, renderer: Renderer = LINE_RENDERER) -> None:
        super().__init__(renderer)
        self.sends: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sends.append(data)
        super().send(data)


class BreakingMember(SendingMember):
    """A member whose every C{send} raises once L{failing} is set."""

    failing = False

    def send(self, data: bytes) -> None:
        if self.failing:
            raise OSError("connection reset")
        super().send(data)


class CountingRenderer:
    """A renderer that renders as another one does, and counts its calls."""

    def __init__(self, inner: Renderer) -> None:
        self.inner = inner
        self.calls: Counter[events.Event] = Counter()

    def render(self, event: events.Event) -> bytes:
        self.calls[event] += 1
        return self.inner.render(event)


class ReprRenderer:
    """A second front end's format: each event as its repr, on one line."""

    def render(self, event: events.Event) -> bytes:
        return repr(event).encode() + b"\n"


def as_repr(*happened: events.Event) -> bytes:
    """What L{ReprRenderer} makes of C{happened}, in order."""
    return b"".join(repr(event).encode() + b"\n" for event in happened)


def connect_all(hub: Hub, driver: TurnDriver, *members: SendingMember) -> None:
    """Connect C{members} (guest1, guest2, ...), end the turn, forget the greetings."""
    for member in members:
        hub.connect(member)
    driver.end_turn()
    for member in members:
        member.received.clear()
        member.sends.clear()


def command(member: FakeMember, hub: Hub, line: str) -> None:
    """Run C{line}, a slash command, as typed by C{member}."""
    parsed = split_command(line)
    assert parsed is not None
    run_command(member, hub, *parsed)


def test_one_send_per_member_per_turn_whatever_the_mix() -> None:
    """
    Room lines from several speakers, an action, a whisper and a notice to
    one member, all in one turn, reach each member as exactly one send,
    and nothing is sent before the turn ends.
    """
    driver = TurnDriver()
    hub = Hub(schedule=driver)
    ann, bob, cat, dan, eve = members = [SendingMember() for _ in range(5)]
    connect_all(hub, driver, *members)
    hub.say(ann, ["a1", "a2"])
    hub.say(bob, ["b1"])
    hub.act(cat, "waves")
    assert hub.whisper(ann, "guest4", "psst") is dan
    hub.tell(bob, events.Notice("just for you"))
    hub.say(dan, ["d1"])
    assert [member.sends for member in members] == [[]] * 5
    assert driver.pending == 1
    driver.end_turn()
    assert ann.sends == [
        b"<guest2> b1\r\n* guest3 waves\r\n-> *guest4* psst\r\n<guest4> d1\r\n"
    ]
    assert bob.sends == [
        b"<guest1> a1\r\n<guest1> a2\r\n* guest3 waves\r\n"
        b"*** just for you\r\n<guest4> d1\r\n"
    ]
    assert cat.sends == [
        b"<guest1> a1\r\n<guest1> a2\r\n<guest2> b1\r\n<guest4> d1\r\n"
    ]
    assert dan.sends == [
        b"<guest1> a1\r\n<guest1> a2\r\n<guest2> b1\r\n* guest3 waves\r\n"
        b"*guest1* psst\r\n"
    ]
    assert eve.sends == [
        b"<guest1> a1\r\n<guest1> a2\r\n<guest2> b1\r\n* guest3 waves\r\n"
        b"<guest4> d1\r\n"
    ]


def test_a_rename_in_the_middle_of_a_turn_is_still_one_send() -> None:
    """A rename between two lines of one turn does not cost a second send."""
    driver = TurnDriver()
    hub = Hub(schedule=driver)
    ann, bob, cat = members = [SendingMember() for _ in range(3)]
    connect_all(hub, driver, *members)
    hub.say(ann, ["one"])
    assert hub.rename(bob, "bob") is None
    hub.say(ann, ["two"])
    driver.end_turn()
    assert cat.sends == [
        b"<guest1> one\r\n*** guest2 is now known as bob\r\n<guest1> two\r\n"
    ]


def test_members_not_singled_out_share_the_same_bytes_object() -> None:
    """
    Members who were neither excluded from an event nor sent one of their
    own get the very same bytes object; those who were get their own.
    """
    driver = TurnDriver()
    hub = Hub(schedule=driver)
    ann, bob, cat, dan = members = [SendingMember() for _ in range(4)]
    connect_all(hub, driver, *members)
    hub.say(ann, ["hello"])
    hub.tell(bob, events.Notice("only bob"))
    driver.end_turn()
    assert cat.sends == dan.sends == [b"<guest1> hello\r\n"]
    assert cat.sends[0] is dan.sends[0]
    assert bob.sends == [b"<guest1> hello\r\n*** only bob\r\n"]
    assert ann.sends == []


def test_each_member_sees_events_in_the_order_the_hub_was_given_them() -> None:
    """
    Command replies, renames and refusals keep their place among the room's
    lines, for the member who typed them and for everyone else.
    """
    driver = TurnDriver()
    hub = Hub(schedule=driver)
    ann, bob, cat = members = [SendingMember() for _ in range(3)]
    connect_all(hub, driver, *members)
    hub.say(ann, ["one"])
    command(bob, hub, "/who")
    hub.say(ann, ["two"])
    command(bob, hub, "/bogus")
    command(bob, hub, "/nick bob")
    command(bob, hub, "/nick guest1")
    hub.say(ann, ["three"])
    command(bob, hub, "/msg guest1 hi")
    driver.end_turn()
    assert bob.lines == [
        "<guest1> one",
        "*** 3 here: guest1, guest2, guest3",
        "<guest1> two",
        "! Unknown command /bogus; type /help",
        "*** You are now known as bob",
        "! The name guest1 is taken.",
        "<guest1> three",
        "-> *guest1* hi",
    ]
    assert ann.lines == ["*** guest2 is now known as bob", "*bob* hi"]
    assert cat.lines == [
        "<guest1> one",
        "<guest1> two",
        "*** guest2 is now known as bob",
        "<guest1> three",
    ]


def test_a_member_in_two_rooms_gets_both_merged_in_order_in_one_send() -> None:
    """
    A member in two rooms (hub.join twice) gets both rooms' lines of a turn
    interleaved as they were said, with its own events, in one send; the
    members of one room get that room's lines only.
    """
    driver = TurnDriver()
    hub = Hub(schedule=driver)
    ann, bob, cat, dan, eve = members = [SendingMember() for _ in range(5)]
    connect_all(hub, driver, *members)
    assert hub.move(cat, "games") is None
    assert hub.move(eve, "games") is None
    assert hub.join(ann, "games") is None
    driver.end_turn()
    for member in members:
        member.sends.clear()
        member.received.clear()
    hub.say(bob, ["lobby 1"])
    hub.say(cat, ["games 1"])
    hub.tell(ann, events.Notice("between"))
    hub.say(bob, ["lobby 2"])
    hub.act(cat, "grins")
    driver.end_turn()
    assert [room.name for room in hub.rooms_of(ann)] == ["lobby", "games"]
    assert ann.sends == [
        b"<guest2> lobby 1\r\n<guest3> games 1\r\n*** between\r\n"
        b"<guest2> lobby 2\r\n* guest3 grins\r\n"
    ]
    assert dan.sends == [b"<guest2> lobby 1\r\n<guest2> lobby 2\r\n"]
    assert eve.sends == [b"<guest3> games 1\r\n* guest3 grins\r\n"]
    assert bob.sends == cat.sends == []


def test_each_event_is_rendered_once_per_renderer_in_its_own_format() -> None:
    """
    With two renderers in a room, each event of a turn is rendered once by
    each renderer that has a member to reach, however many members share
    it or are singled out; each member gets its renderer's bytes, and the
    members of one renderer who are not singled out share one object.
    """
    driver = TurnDriver()
    hub = Hub(schedule=driver)
    lines = CountingRenderer(LINE_RENDERER)
    reprs = CountingRenderer(ReprRenderer())
    ann, bob, cat, dan = line_members = [SendingMember(lines) for _ in range(4)]
    eve, fay, gus = repr_members = [SendingMember(reprs) for _ in range(3)]
    connect_all(hub, driver, *line_members, *repr_members)
    lines.calls.clear()
    reprs.calls.clear()
    hub.say(ann, ["hello"])  # ann: singled out (excluded)
    hub.say(eve, ["hi", "there"])  # eve: singled out (excluded)
    hub.whisper(bob, "guest6", "psst")  # bob and fay: singled out
    hub.act(cat, "waves")  # cat: singled out (excluded)
    driver.end_turn()
    said_ann = events.Said("guest1", ("hello",))
    said_eve = events.Said("guest5", ("hi", "there"))
    whispered = events.Whispered("guest2", "psst")
    sent = events.WhisperSent("guest6", "psst")
    acted = events.Acted("guest3", "waves")
    assert lines.calls == Counter([said_ann, said_eve, sent, acted])
    assert reprs.calls == Counter([said_ann, said_eve, whispered, acted])
    assert dan.sends == [
        b"<guest1> hello\r\n<guest5> hi\r\n<guest5> there\r\n* guest3 waves\r\n"
    ]
    assert bob.sends == [
        b"<guest1> hello\r\n<guest5> hi\r\n<guest5> there\r\n"
        b"-> *guest6* psst\r\n* guest3 waves\r\n"
    ]
    assert gus.sends == [as_repr(said_ann, said_eve, acted)]
    assert fay.sends == [as_repr(said_ann, said_eve, whispered, acted)]
    assert eve.sends == [as_repr(said_ann, acted)]
    assert ann.sends == [b"<guest5> hi\r\n<guest5> there\r\n* guest3 waves\r\n"]
    # dan and gus are the only ones of their renderers left unsingled: add
    # one more of each and they share.
    dan2, gus2 = SendingMember(lines), SendingMember(reprs)
    connect_all(hub, driver, dan2, gus2)
    for member in (dan, gus):
        member.sends.clear()
    hub.say(ann, ["again"])
    driver.end_turn()
    assert dan.sends == dan2.sends == [b"<guest1> again\r\n"]
    assert gus.sends == gus2.sends == [as_repr(events.Said("guest1", ("again",)))]
    assert dan.sends[0] is dan2.sends[0]
    assert gus.sends[0] is gus2.sends[0]


def test_a_broken_member_is_removed_after_the_others_are_served() -> None:
    """
    A member whose send raises does not stop the fan-out, even when it is
    the first to be served: everyone else gets the turn's lines, then the
    broken member's "has left"; it is closed and its name is free.
    """
    driver = TurnDriver()
    hub = Hub(schedule=driver)
    broken = BreakingMember()
    ann, bob, cat = healthy = [SendingMember() for _ in range(3)]
    connect_all(hub, driver, broken, *healthy)  # broken is guest1, served first
    broken.failing = True
    hub.say(ann, ["one"])
    hub.say(bob, ["two"])
    driver.end_turn()
    assert broken.closed
    assert broken not in hub
    assert hub.find("guest1") is None
    assert ann.sends == [b"<guest3> two\r\n", b"*** guest1 has left\r\n"]
    assert bob.sends == [b"<guest2> one\r\n", b"*** guest1 has left\r\n"]
    assert cat.sends == [
        b"<guest2> one\r\n<guest3> two\r\n",
        b"*** guest1 has left\r\n",
    ]
    assert hub.names == ["guest2", "guest3", "guest4"]


def test_a_broken_member_sent_its_own_events_is_removed_after_the_others() -> None:
    """
    The same holds when the broken member is singled out (a whisper to it):
    the others get the turn's lines, then its "has left"; the whisperer's
    own copy arrives too.
    """
    driver = TurnDriver()
    hub = Hub(schedule=driver)
    ann, bob = healthy = [SendingMember() for _ in range(2)]
    broken = BreakingMember()
    connect_all(hub, driver, *healthy, broken)  # broken is guest3
    broken.failing = True
    hub.say(bob, ["before"])
    hub.whisper(ann, "guest3", "you there?")
    hub.say(bob, ["after"])
    driver.end_turn()
    assert broken.closed
    assert hub.names == ["guest1", "guest2"]
    assert ann.sends == [
        b"<guest2> before\r\n-> *guest3* you there?\r\n<guest2> after\r\n",
        b"*** guest3 has left\r\n",
    ]
    assert bob.sends == [b"*** guest3 has left\r\n"]


def test_without_a_schedule_every_event_is_delivered_at_once() -> None:
    """A hub with no schedule (no reactor) sends each event when it is given."""
    hub = Hub()
    ann, bob = members = [SendingMember() for _ in range(2)]
    for member in members:
        hub.connect(member)
    bob.sends.clear()
    hub.say(ann, ["one"])
    assert bob.sends == [b"<guest1> one\r\n"]
    hub.say(ann, ["two"])
    assert bob.sends == [b"<guest1> one\r\n", b"<guest1> two\r\n"]
    assert not hub.turn.pending


def test_bytes_out_counts_what_every_member_was_handed() -> None:
    """bytes_out is the sum of the bytes of every send of the turn."""
    driver = TurnDriver()
    hub = Hub(schedule=driver)
    members = [SendingMember() for _ in range(3)]
    connect_all(hub, driver, *members)
    before = hub.bytes_out
    hub.say(members[0], ["hi"])
    hub.tell(members[1], events.Notice("x"))
    driver.end_turn()
    handed = sum(len(data) for member in members for data in member.sends)
    assert handed == len(b"<guest1> hi\r\n") * 2 + len(b"*** x\r\n")
    assert hub.bytes_out - before == handed
