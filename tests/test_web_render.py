"""
The core's events as the browser page receives them: one JSON object per
line, each event type by its snake-case name, the server's words the same
as telnet's, and one encoding per turn shared by every web member.
"""

from __future__ import annotations

import json

import pytest

from twisted_chat.core import events
from twisted_chat.core.hub import Hub
from twisted_chat.core.room import Renderer
from twisted_chat.frontends.line.render import LINE_RENDERER
from twisted_chat.frontends.web.render import WEB_RENDERER, type_name
from twisted_chat.testing import FakeMember, TurnDriver

#: One of each event, as the core makes them.
EXAMPLES: list[events.Event] = [
    events.Said("alice", ("hi", "there")),
    events.Acted("alice", "waves"),
    events.Whispered("alice", "psst"),
    events.WhisperSent("bob", "psst"),
    events.Joined("bob"),
    events.Left("bob"),
    events.Renamed("guest1", "carol"),
    events.YourName("carol"),
    events.Welcome("lan", "guest1", 3),
    events.NowIn("lobby", 3),
    events.TopicIs("lobby", "plans"),
    events.TopicSet("alice", "plans"),
    events.Backlog(
        "lobby",
        (
            events.HistoryLine(1000.0, "said", "alice", "earlier"),
            events.HistoryLine(1001.0, "acted", "bob", "nods"),
        ),
        2000.0,
    ),
    events.NoHistory("lobby", True),
    events.Rooms(
        2, (events.RoomInfo("lobby", 3, "plans"), events.RoomInfo("dev", 0, ""))
    ),
    events.Who("", 2, ("@alice", "bob"), 0),
    events.Quiet(100),
    events.Limits(5.0, 20, 2048),
    events.SlowDown(5.0, 20, 3),
    events.LineTooLong(2048),
    events.UnknownCommand("frob"),
    events.Goodbye("carol"),
    events.Notice("server shutting down"),
    events.Refused("No such room: x"),
]


def decoded(data: bytes) -> list[dict[str, object]]:
    """The JSON objects of some rendered bytes, one per line."""
    text = data.decode("utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text[:-1].split("\n")]


def test_every_event_type_has_an_example() -> None:
    assert {type(event) for event in EXAMPLES} == set(events.EVENT_TYPES)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_each_event_is_one_json_line_with_its_type_and_fields(
    event: events.Event,
) -> None:
    (message,) = decoded(WEB_RENDERER.render(event))
    assert message["type"] == type_name(type(event))
    for field in event.__dataclass_fields__:
        assert field in message, field


def test_type_names_are_the_class_names_in_snake_case() -> None:
    names = [type_name(event_type) for event_type in events.EVENT_TYPES]
    assert names == [
        "said", "acted", "whispered", "whisper_sent", "joined", "left",
        "renamed", "your_name", "welcome", "now_in", "topic_is", "topic_set",
        "backlog", "no_history", "rooms", "who", "quiet", "limits",
        "slow_down", "line_too_long", "unknown_command", "goodbye", "notice",
        "refused",
    ]  # fmt: skip


def test_what_people_said_has_no_server_text() -> None:
    """Their words are in their own fields, never in a server sentence."""
    said, acted, whispered, sent = (
        decoded(WEB_RENDERER.render(e))[0] for e in EXAMPLES[:4]
    )
    assert said == {"type": "said", "name": "alice", "texts": ["hi", "there"]}
    assert acted == {"type": "acted", "name": "alice", "text": "waves"}
    assert whispered == {"type": "whispered", "name": "alice", "text": "psst"}
    assert sent == {"type": "whisper_sent", "name": "bob", "text": "psst"}


@pytest.mark.parametrize(
    "event",
    [
        e
        for e in EXAMPLES
        if not isinstance(
            e, events.Said | events.Acted | events.Whispered | events.WhisperSent
        )
    ],
    ids=lambda e: type(e).__name__,
)
def test_the_server_speaks_in_telnet_words_without_its_marks(
    event: events.Event,
) -> None:
    (message,) = decoded(WEB_RENDERER.render(event))
    telnet = LINE_RENDERER.render(event).decode().split("\r\n")[0]
    assert telnet.startswith(("*** ", "! "))
    assert str(message["text"]).split("\n")[0] == telnet.removeprefix(
        "*** "
    ).removeprefix("! ")
    assert message.get("error", False) is telnet.startswith("! ")


def test_structured_answers() -> None:
    backlog = decoded(WEB_RENDERER.render(EXAMPLES[12]))[0]
    assert backlog["text"] == "Earlier in #lobby (the last 2):"
    assert backlog["now"] == 2000.0
    assert backlog["lines"] == [
        {"time": 1000.0, "kind": "said", "name": "alice", "text": "earlier"},
        {"time": 1001.0, "kind": "acted", "name": "bob", "text": "nods"},
    ]
    rooms = decoded(WEB_RENDERER.render(EXAMPLES[14]))[0]
    assert rooms["text"] == "Rooms (2):"
    assert rooms["rooms"] == [
        {"name": "lobby", "count": 3, "topic": "plans"},
        {"name": "dev", "count": 0, "topic": ""},
    ]
    who = decoded(WEB_RENDERER.render(EXAMPLES[15]))[0]
    assert who == {
        "type": "who",
        "room": "",
        "count": 2,
        "names": ["@alice", "bob"],
        "quiet_over": 0,
        "text": "2 here: @alice, bob",
    }
    welcome = decoded(WEB_RENDERER.render(EXAMPLES[8]))[0]
    assert welcome["schema"] == 1
    assert welcome["server"] == "lan"


def test_line_breaks_in_text_cannot_split_an_event() -> None:
    """Separators JSON leaves raw (U+2028, U+2029) are no newline."""
    tricky = 'a\u2028b\u2029c "quoted" \\ </script> <img src=x onerror=alert(1)>'
    data = WEB_RENDERER.render(events.Said("alice", (tricky,)))
    assert data.count(b"\n") == 1
    assert decoded(data)[0]["texts"] == [tricky]


def test_renderings_joined_split_back_into_them() -> None:
    joined = b"".join(WEB_RENDERER.render(event) for event in EXAMPLES)
    assert [m["type"] for m in decoded(joined)] == [
        type_name(type(event)) for event in EXAMPLES
    ]


class CountingRenderer:
    """The web renderer, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def render(self, event: events.Event) -> bytes:
        self.calls += 1
        return WEB_RENDERER.render(event)


class KeepingMember(FakeMember):
    """A member that keeps each C{send}'s bytes object itself."""

    def __init__(self, renderer: Renderer) -> None:
        super().__init__(renderer)
        self.sends: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sends.append(data)
        super().send(data)


def test_one_encoding_per_turn_shared_by_every_web_member() -> None:
    """Web members of a room get the same bytes, encoded once per turn."""
    driver = TurnDriver()
    hub = Hub(schedule=driver)
    renderer = CountingRenderer()
    speaker = FakeMember()
    web = [KeepingMember(renderer) for _ in range(3)]
    telnet = FakeMember()
    for member in (speaker, *web, telnet):
        hub.connect(member)
    driver.end_turn()
    for member in web:
        member.sends.clear()
    renderer.calls = 0
    hub.say(speaker, ["one"])
    hub.say(speaker, ["two"])
    hub.act(speaker, "waves")
    driver.end_turn()
    assert renderer.calls == 3
    first = web[0].sends[0]
    assert all(len(m.sends) == 1 and m.sends[0] is first for m in web)
    assert [m["type"] for m in decoded(first)] == ["said", "said", "acted"]
    assert telnet.lines[-1] == f"* {speaker.name} waves"
