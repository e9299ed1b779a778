"""
The in-memory harnesses of L{twisted_chat.testing}, which embedders use to
test their own code: each does what its docstring says.
"""

from __future__ import annotations

from twisted.internet.task import Clock

from twisted_chat.core.commands import run_command
from twisted_chat.core.hub import Hub
from twisted_chat.core.limits import Limits
from twisted_chat.frontends.line.probe import PROBE_SECONDS
from twisted_chat.frontends.line.render import LINE_RENDERER
from twisted_chat.testing import (
    CountingTransport,
    FakeMember,
    LineConnection,
    TurnDriver,
    joined_members,
    line_factory,
)

WELCOME = (
    "*** Welcome to twisted_chat, guest{n}! {n} here now. Type /help for commands."
)


def test_turn_driver_runs_nothing_until_the_turn_ends() -> None:
    """Scheduled flushes wait, are counted by pending, and none runs early."""
    driver = TurnDriver()
    ran: list[str] = []
    assert driver.pending == 0
    driver(lambda: ran.append("first"))
    driver(lambda: ran.append("second"))
    assert driver.pending == 2
    assert ran == []


def test_turn_driver_runs_each_flush_once_in_order() -> None:
    """
    end_turn runs every scheduled flush exactly once, in the order they
    were scheduled, then those they schedule; a second end_turn runs
    nothing again.
    """
    driver = TurnDriver()
    ran: list[str] = []

    def first() -> None:
        ran.append("first")
        driver(lambda: ran.append("scheduled by first"))

    driver(first)
    driver(lambda: ran.append("second"))
    driver(lambda: ran.append("third"))
    driver.end_turn()
    assert ran == ["first", "second", "third", "scheduled by first"]
    assert driver.pending == 0
    driver.end_turn()
    assert len(ran) == 4


def test_a_hub_on_a_turn_driver_schedules_one_flush_per_turn() -> None:
    """However much is said in a turn, the hub asks for one flush, then delivers."""
    driver = TurnDriver()
    hub = Hub(schedule=driver)
    ann, bob = joined_members(hub, 2)
    driver.end_turn()
    hub.say(ann, ["one"])
    hub.say(ann, ["two"])
    hub.act(bob, "nods")
    assert driver.pending == 1
    assert bob.lines == []
    driver.end_turn()
    assert bob.lines == ["<guest1> one", "<guest1> two"]
    assert ann.lines == ["* guest2 nods"]
    assert driver.pending == 0


def test_fake_member_keeps_what_it_is_sent_as_lines() -> None:
    """
    A new FakeMember has no name, the line renderer and nothing received;
    lines splits what it was sent at CRLF; take_lines gives them once.
    """
    member = FakeMember()
    assert (member.name, member.renderer, member.lines) == ("", LINE_RENDERER, [])
    member.send(b"one\r\ntwo")
    member.send(b" halves\r\n\r\n")
    assert member.received == b"one\r\ntwo halves\r\n\r\n"
    assert member.lines == ["one", "two halves", ""]
    assert member.take_lines() == ["one", "two halves", ""]
    assert member.take_lines() == []
    assert member.received == b""


def test_fake_member_records_being_closed() -> None:
    """close() marks the member closed; /quit through the hub does too."""
    member = FakeMember()
    assert not member.closed
    member.close()
    assert member.closed
    hub = Hub()
    (quitter,) = joined_members(hub, 1)
    run_command(quitter, hub, "quit", "")
    assert quitter.closed
    assert quitter.lines == ["*** Goodbye, guest1."]


def test_fake_member_takes_any_renderer() -> None:
    """A FakeMember made with another renderer is sent that renderer's bytes."""

    class Upper:
        def render(self, event: object) -> bytes:
            return type(event).__name__.upper().encode() + b"\r\n"

    hub = Hub()
    member = FakeMember(Upper())
    hub.connect(member)
    assert member.lines == ["WELCOME", "NOWIN"]


def test_joined_members_are_connected_with_their_greetings_cleared() -> None:
    """
    joined_members connects COUNT members (guest1, guest2, ...) and clears
    what they were sent, even on a hub whose turn has not ended; later
    members clear only their own greetings.
    """
    driver = TurnDriver()
    hub = Hub(schedule=driver)
    members = joined_members(hub, 3)
    assert [member.name for member in members] == ["guest1", "guest2", "guest3"]
    assert all(member in hub for member in members)
    assert [member.received for member in members] == [b""] * 3
    driver.end_turn()
    assert [member.received for member in members] == [b""] * 3
    (late,) = joined_members(hub, 1)
    assert late.lines == []
    assert members[0].lines == ["*** guest4 has joined"]
    assert joined_members(hub, 0) == []


def test_line_connection_joins_once_the_probe_time_has_passed() -> None:
    """
    On a factory with a Clock, a LineConnection has joined on return, and
    lines() gives what it was sent since the last call.
    """
    factory = line_factory()
    first = LineConnection(factory)
    session = first.protocol.session
    assert session is not None and session.joined
    assert first.lines() == [WELCOME.format(n=1), "*** You are in #lobby: 1 here"]
    assert first.lines() == []
    second = LineConnection(factory)
    assert second.lines()[0] == WELCOME.format(n=2)
    assert first.lines() == ["*** guest2 has joined"]
    assert factory.services.hub.names == ["guest1", "guest2"]


def test_line_connection_without_join_waits_for_the_clock() -> None:
    """
    With join=False the connection is made but not in the hub, and has been
    sent nothing, until the probe time passes on the clock.
    """
    clock = Clock()
    factory = line_factory(clock=clock)
    connection = LineConnection(factory, join=False)
    session = connection.protocol.session
    assert session is not None and not session.joined
    assert len(factory.services.hub) == 0
    assert connection.transport.writes == 0
    clock.advance(PROBE_SECONDS / 2)
    assert not session.joined
    clock.advance(PROBE_SECONDS / 2)
    assert session.joined
    assert connection.lines() == [WELCOME.format(n=1), "*** You are in #lobby: 1 here"]


def test_line_connection_is_from_the_host_given() -> None:
    """The peer is C{host}, 10.0.0.9 by default; the transport counts writes."""
    factory = line_factory()
    default, other = LineConnection(factory), LineConnection(factory, host="10.1.2.3")
    assert isinstance(default.transport, CountingTransport)
    assert default.transport.getPeer().host == "10.0.0.9"
    assert other.transport.getPeer().host == "10.1.2.3"
    assert factory.protocols == {default.protocol, other.protocol}


def test_counting_transport_counts_writes() -> None:
    """Each write is counted once, and its bytes kept."""
    transport = CountingTransport()
    transport.write(b"a")
    transport.write(b"bc")
    assert (transport.writes, transport.value()) == (2, b"abc")


def test_line_factory_defaults() -> None:
    """
    Without arguments line_factory makes a new Hub (no schedule: every event
    is sent at once), the default Limits and a Clock; each factory gets
    its own hub.
    """
    factory = line_factory()
    services = factory.services
    assert isinstance(services.hub, Hub)
    assert services.limits == Limits()
    assert isinstance(services.clock, Clock)
    assert services.clock.seconds() == 0
    assert line_factory().services.hub is not services.hub
    hub = services.hub
    ann, bob = joined_members(hub, 2)
    hub.say(ann, ["at once"])
    assert bob.lines == ["<guest1> at once"]


def test_line_factory_uses_what_it_is_given() -> None:
    """A hub, limits and clock given to line_factory are the ones its services use."""
    hub, limits, clock = Hub("here"), Limits(rate=0, max_line_length=10), Clock()
    services = line_factory(hub, limits, clock).services
    assert (services.hub, services.limits, services.clock) == (hub, limits, clock)
