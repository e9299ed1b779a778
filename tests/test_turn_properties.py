"""
Batching per turn never reorders or loses anything: a property test.

Random conversations (lines, actions, whispers, renames, notices, joining
and leaving rooms) are played on a hub whose turns end at random, and each
member's lines are compared with a reference model that delivers every
event at once, member by member, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from twisted_chat.core import events
from twisted_chat.core.hub import Hub
from twisted_chat.names import name_key
from twisted_chat.testing import FakeMember, TurnDriver

MEMBERS = 5
ROOMS = ("lobby", "games", "news")
NAMES = ("ann", "Ann", "bob", "cat", "guest2")
TEXTS = ("hi", "hello there", "ok", "x")


@dataclass
class Model:
    """
    The reference: who is called what and is where, and what each member
    should have been sent, delivered at once and in order.
    """

    names: list[str]
    # Each member's rooms, in the order it came into them.
    rooms: list[list[str]]
    seen: list[list[str]] = field(default_factory=list)

    @classmethod
    def start(cls, count: int) -> Model:
        return cls(
            names=[f"guest{n + 1}" for n in range(count)],
            rooms=[["lobby"] for _ in range(count)],
            seen=[[] for _ in range(count)],
        )

    def in_room(self, room: str) -> list[int]:
        return [i for i, rooms in enumerate(self.rooms) if room in rooms]

    def to_room(self, room: str, line: str, exclude: int | None = None) -> None:
        for i in self.in_room(room):
            if i != exclude:
                self.seen[i].append(line)

    def say(self, who: int, texts: tuple[str, ...]) -> None:
        if self.rooms[who]:
            for text in texts:
                self.to_room(self.rooms[who][-1], f"<{self.names[who]}> {text}", who)

    def act(self, who: int, text: str) -> None:
        if self.rooms[who]:
            self.to_room(self.rooms[who][-1], f"* {self.names[who]} {text}", who)

    def whisper(self, who: int, to: int, text: str) -> None:
        self.seen[to].append(f"*{self.names[who]}* {text}")
        self.seen[who].append(f"-> *{self.names[to]}* {text}")

    def rename_refused(self, who: int, new: str) -> bool:
        if new == self.names[who]:
            return True
        return any(
            name_key(name) == name_key(new)
            for i, name in enumerate(self.names)
            if i != who
        )

    def rename(self, who: int, new: str) -> None:
        old, self.names[who] = self.names[who], new
        self.seen[who].append(f"*** You are now known as {new}")
        for room in self.rooms[who]:
            self.to_room(room, f"*** {old} is now known as {new}", who)

    def join(self, who: int, room: str) -> None:
        self.to_room(room, f"*** {self.names[who]} has joined")
        self.rooms[who].append(room)
        self.seen[who].append(f"*** You are in #{room}: {len(self.in_room(room))} here")

    def part(self, who: int, room: str) -> None:
        self.rooms[who].remove(room)
        self.to_room(room, f"*** {self.names[who]} has left")


@dataclass(frozen=True)
class Step:
    """One thing done: by member C{who}, to member C{to}, with C{word} or C{texts}."""

    kind: str
    who: int = 0
    to: int = 0
    word: str = ""
    texts: tuple[str, ...] = ()


member_index = st.integers(0, MEMBERS - 1)
texts = st.sampled_from(TEXTS)


def steps(kind: str, words: st.SearchStrategy[str] = texts) -> st.SearchStrategy[Step]:
    return st.builds(Step, st.just(kind), who=member_index, word=words)


joins = steps("join", st.sampled_from(ROOMS))
says = st.builds(
    Step,
    st.just("say"),
    who=member_index,
    texts=st.lists(texts, min_size=1, max_size=3).map(tuple),
)
# Lines are most of what a room carries, and what turns batch.
operations = st.one_of(
    *[says] * 5,
    steps("act"),
    st.builds(Step, st.just("whisper"), who=member_index, to=member_index, word=texts),
    steps("rename", st.sampled_from(NAMES)),
    steps("notice"),
    joins,
    steps("part", st.sampled_from(ROOMS)),
    st.just(Step("end turn")),
)
# Some members start in several rooms, where merging rooms' turns matters.
scripts = st.builds(
    lambda first, then: first + then,
    st.lists(steps("join", st.sampled_from(ROOMS[1:])), min_size=1, max_size=6),
    st.lists(operations, max_size=40),
)
# Members spread over rooms, then only what never flushes early: long turns
# mixing several rooms' lines, where merging them for one member matters.
busy_scripts = st.builds(
    lambda first, then: first + then,
    st.lists(steps("join", st.sampled_from(ROOMS[1:])), min_size=3, max_size=8),
    st.lists(
        st.one_of(
            *[says] * 5,
            steps("act"),
            steps("notice"),
            st.just(Step("end turn")),
        ),
        max_size=30,
    ),
)


@settings(max_examples=200, deadline=None)
@given(scripts)
def test_batching_per_turn_never_reorders_or_loses_anything(script: list[Step]) -> None:
    """
    Whatever is done and wherever the turns end, every member's lines
    equal what delivering each event at once would have given it.
    """
    play(script)


@settings(max_examples=100, deadline=None)
@given(busy_scripts)
def test_busy_turns_over_several_rooms_keep_every_members_order(
    script: list[Step],
) -> None:
    """
    Long turns of lines from several rooms reach members who are in more
    than one of them merged in the order said, as delivering at once would.
    """
    play(script)


def play(script: list[Step]) -> None:
    """Play C{script} on a hub and on the model; each member's lines must agree."""
    driver = TurnDriver()
    hub = Hub(schedule=driver)
    members = [FakeMember() for _ in range(MEMBERS)]
    for member in members:
        hub.connect(member)
    driver.end_turn()
    for member in members:
        member.received.clear()
    model = Model.start(MEMBERS)
    for step in script:
        who, word, member = step.who, step.word, members[step.who]
        if step.kind == "end turn":
            driver.end_turn()
        elif step.kind == "say":
            hub.say(member, step.texts)
            model.say(who, step.texts)
        elif step.kind == "act":
            hub.act(member, word)
            model.act(who, word)
        elif step.kind == "whisper":
            target = members[step.to]
            assert hub.whisper(member, target.name, word) is target
            model.whisper(who, step.to, word)
        elif step.kind == "notice":
            hub.tell(member, events.Notice(word))
            model.seen[who].append(f"*** {word}")
        elif step.kind == "rename":
            refusal = hub.rename(member, word)
            assert (refusal is not None) == model.rename_refused(who, word)
            if refusal is None:
                model.rename(who, word)
            else:
                hub.tell(member, events.Refused(refusal))
                model.seen[who].append(f"! {refusal}")
        elif step.kind == "join":
            refusal = hub.join(member, word)
            assert (refusal is not None) == (word in model.rooms[who])
            if refusal is None:
                model.join(who, word)
        elif step.kind == "part":
            room = hub.room(word)
            if room is not None:
                hub.part(member, room)
            if word in model.rooms[who]:
                model.part(who, word)
        else:
            raise AssertionError(step)
    driver.end_turn()
    assert [member.lines for member in members] == model.seen
    assert [member.name for member in members] == model.names
    assert [[room.name for room in hub.rooms_of(m)] for m in members] == model.rooms
