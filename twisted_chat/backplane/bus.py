"""
What the backplane needs of the engine linking daemons: L{Bus}, kept small
so that Redis (L{twisted_chat.backplane.redis}) and an in-memory twin
(L{twisted_chat.backplane.memory}) both give it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from twisted.internet.defer import Deferred

#: Lines of a room to append to its shared history: (room key, entries),
#: each entry one batch (JSON: [time, kind, name, [lines]]).
HistoryAppend = tuple[str, Sequence[bytes]]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What linked daemons share, read at once when the link comes up."""

    #: room key -> that room's last entries (JSON batches), oldest first
    history: dict[str, list[bytes]] = field(default_factory=dict)
    #: kind ("account", "grant", "restriction", "topic") -> field -> JSON
    tables: dict[str, dict[str, bytes]] = field(default_factory=dict)


class Bus(Protocol):
    """
    One channel every linked daemon hears, and the state they share.

    Guarantees: every daemon hears every message published, its own too,
    in the one order the engine gave them; a message and the history sent
    with it are kept and published together, or not at all, and a message
    sent twice with the same (instance, seq) is published once. While the
    bus is down every call fails at once (or, for those returning nothing,
    does nothing): nothing is queued here.
    """

    @property
    def up(self) -> bool:
        """Whether messages can be sent and are being heard."""

    def on_state(self, callback: Callable[[bool], None]) -> None:
        """Call C{callback(up)} each time the bus goes up or down."""

    def listen(self, handler: Callable[[bytes], None]) -> None:
        """Give every message heard to C{handler}."""

    def send(
        self,
        instance: str,
        seq: int,
        payload: bytes,
        history: Sequence[HistoryAppend],
        history_cap: int,
    ) -> Deferred[None]:
        """
        Append C{history} (each room's list kept to its last C{history_cap}
        entries), then publish C{payload}; skipped if C{instance} has sent
        C{seq} or a later one already. Fires once done.
        """

    def claim(self, key: str, owner: str) -> Deferred[bool]:
        """
        Hold the name C{key} for C{owner} (C{"NODE|INSTANCE|ID"}): True if
        it was free, held by C{owner}, or held for a daemon whose heartbeat
        (L{beat}) has lapsed; False if a live daemon holds it.
        """

    def release(self, key: str, owner: str) -> None:
        """Free the name C{key} if C{owner} holds it."""

    def beat(self, node: str, instance: str, expiry: float) -> Deferred[bool]:
        """
        Say that C{node} runs as C{instance} for C{expiry} more seconds:
        True, or False if another instance holds C{node} (a second daemon
        with the same name).
        """

    def part(self, node: str, instance: str) -> Deferred[None]:
        """C{node} stops: its name is free at once (if C{instance} holds it)."""

    def reserve(self, count: int) -> Deferred[int]:
        """
        Reserve C{count} numbers of a counter all daemons share: fires with
        the last of them (the first is C{count - 1} below it).
        """

    def save(self, table: str, key: str, value: bytes | None) -> None:
        """Keep C{value} under C{key} in C{table} (None deletes it)."""

    def snapshot(self, history_cap: int) -> Deferred[Snapshot]:
        """Everything shared: each room's last C{history_cap} entries, tables."""

    def caught_up(self) -> Deferred[None]:
        """
        Fires once every message published before the last L{snapshot} was
        taken has been given to the listener (at once, between two messages).
        """

    def close(self) -> Deferred[None]:
        """Stop; fires once closed."""


class CatchingUp:
    """
    What L{Bus.caught_up} gives out, for both buses: Deferreds that fire,
    in order, the first time the reader is seen past the snapshot.
    """

    def __init__(self) -> None:
        self._waiting: list[Deferred[None]] = []

    def wait(self, passed: bool) -> Deferred[None]:
        """A Deferred for the next time L{check} is told C{True} (now if C{passed})."""
        caught: Deferred[None] = Deferred()
        self._waiting.append(caught)
        self.check(passed)
        return caught

    def check(self, passed: bool) -> None:
        """The reader is past the snapshot (C{passed}) or not yet."""
        if passed and self._waiting:
            waiting, self._waiting = self._waiting, []
            for caught in waiting:
                caught.callback(None)

    @property
    def waiting(self) -> bool:
        """Whether anyone waits."""
        return bool(self._waiting)
