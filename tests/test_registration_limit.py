"""One address registers at most a few names an hour: no one fills the database."""

from __future__ import annotations

from twisted.internet.task import Clock

from twisted_chat.core.accounts import MOST_REGISTRATIONS, REGISTRATION_WINDOW_SECONDS
from twisted_chat.core.commands import run_command
from twisted_chat.core.hub import Hub
from twisted_chat.testing import FakeMember


def _register(hub: Hub, member: FakeMember, name: str) -> list[str]:
    member.received.clear()
    run_command(member, hub, "nick", name)
    run_command(member, hub, "register", "a long password")
    return member.take_lines()


def test_past_the_limit_an_address_registers_no_more_until_the_hour_is_over() -> None:
    """The limit counts names made, per address; another address is not held."""
    clock = Clock()
    hub = Hub(clock=clock)
    member, elsewhere = FakeMember(address="10.0.0.7"), FakeMember(address="10.0.0.8")
    hub.connect(member)
    hub.connect(elsewhere)
    for number in range(MOST_REGISTRATIONS):
        run_command(member, hub, "logout", "")
        lines = _register(hub, member, f"name{number}")
        assert lines[-1].startswith(f"*** name{number} is yours now"), lines
    run_command(member, hub, "logout", "")
    assert _register(hub, member, "onemore")[-1] == (
        "! Enough names were registered from your address; try again in 60 min."
    )
    assert hub.moderation.account("onemore") is None
    assert _register(hub, elsewhere, "other")[-1].startswith("*** other is yours now")
    clock.advance(REGISTRATION_WINDOW_SECONDS)
    assert _register(hub, member, "later")[-1].startswith("*** later is yours now")
