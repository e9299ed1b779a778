"""
The in-memory twin of the Redis bus: several hubs linked in one process,
for tests, with the same guarantees as L{twisted_chat.backplane.redis}.

One L{MemoryEngine} stands for the Redis server and its stream; each
daemon gets a L{MemoryBus} on it, which reads the stream from where it
last took (from the end, the first time it takes a snapshot). Messages are
heard one reactor turn after they are sent (through the clock, as a real
server answers later); L{MemoryEngine.stop} and L{MemoryEngine.start} stand
for a Redis restart that keeps its data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime

from twisted_chat.backplane.bus import CatchingUp, HistoryAppend, Snapshot
from twisted_chat.backplane.connection import LinkDown


class MemoryEngine:
    """Redis, as the buses see it: one channel, names, nodes, tables, lists."""

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self.running = True
        self.buses: list[MemoryBus] = []
        self.names: dict[str, str] = {}
        self.nodes: dict[str, tuple[str, float]] = {}  # node -> instance, until
        self.seqs: dict[str, int] = {}
        self.history: dict[str, list[bytes]] = {}
        self.tables: dict[str, dict[str, bytes]] = {}
        self.stream: list[bytes] = []
        self.counter = 0

    def bus(self) -> MemoryBus:
        """A new daemon's connection."""
        bus = MemoryBus(self)
        self.buses.append(bus)
        return bus

    def stop(self) -> None:
        """The server goes away (its data stays, as with AOF or RDB)."""
        self.running = False
        for bus in self.buses:
            bus.set_up(False)

    def start(self) -> None:
        """The server is back; every bus reconnects."""
        self.running = True
        for bus in self.buses:
            if not bus.closed:
                bus.set_up(True)

    def node_alive(self, node: str) -> str | None:
        held = self.nodes.get(node)
        if held is None or held[1] <= self.clock.seconds():
            return None
        return held[0]

    def publish(self, payload: bytes) -> None:
        self.stream.append(payload)
        for bus in self.buses:
            bus.read_soon()


class MemoryBus:
    """One daemon's L{twisted_chat.backplane.bus.Bus} on a L{MemoryEngine}."""

    def __init__(self, engine: MemoryEngine) -> None:
        self.engine = engine
        self.up = engine.running
        self.closed = False
        self.handler: Callable[[bytes], None] | None = None
        #: Where this daemon reads the stream next (None: not yet).
        self.position: int | None = None
        self._reading = False
        self._callbacks: list[Callable[[bool], None]] = []
        self._snapshot_at = 0
        self._catching_up = CatchingUp()

    def set_up(self, up: bool) -> None:
        if up != self.up:
            self.up = up
            for callback in list(self._callbacks):
                callback(up)
            self.read_soon()

    def read_soon(self) -> None:
        if self.up and self.position is not None and not self._reading:
            self._reading = True
            self.engine.clock.callLater(0, self._read)

    def _read(self) -> None:
        self._reading = False
        stream = self.engine.stream
        while self.up and self.position is not None and self.position < len(stream):
            payload = stream[self.position]
            self.position += 1
            if self.handler is not None:
                self.handler(payload)
            self._check_caught_up()

    def _check_caught_up(self) -> None:
        self._catching_up.check(
            self.position is not None and self.position >= self._snapshot_at
        )

    def caught_up(self) -> Deferred[None]:
        return self._catching_up.wait(
            self.position is not None and self.position >= self._snapshot_at
        )

    def on_state(self, callback: Callable[[bool], None]) -> None:
        self._callbacks.append(callback)

    def listen(self, handler: Callable[[bytes], None]) -> None:
        self.handler = handler

    def _down(self) -> Deferred[None]:
        return fail(LinkDown("the memory engine is stopped"))

    def send(
        self,
        instance: str,
        seq: int,
        payload: bytes,
        history: Sequence[HistoryAppend],
        history_cap: int,
    ) -> Deferred[None]:
        if not self.up:
            return self._down()
        engine = self.engine
        if engine.seqs.get(instance, 0) >= seq:
            return succeed(None)
        engine.seqs[instance] = seq
        for key, entries in history:
            kept = engine.history.setdefault(key, [])
            kept.extend(entries)
            del kept[: max(0, len(kept) - history_cap)]
        engine.publish(payload)
        return succeed(None)

    def claim(self, key: str, owner: str) -> Deferred[bool]:
        if not self.up:
            return fail(LinkDown("the memory engine is stopped"))
        engine = self.engine
        holder = engine.names.get(key)
        won = True
        if holder is not None and holder != owner:
            node, instance, _ = holder.split("|", 2)
            won = engine.node_alive(node) != instance
        if won:
            engine.names[key] = owner
        # Answered a turn later, as by a server: the claim is asynchronous.
        answer: Deferred[bool] = Deferred()
        engine.clock.callLater(0, answer.callback, won)
        return answer

    def release(self, key: str, owner: str) -> None:
        if self.up and self.engine.names.get(key) == owner:
            del self.engine.names[key]

    def beat(self, node: str, instance: str, expiry: float) -> Deferred[bool]:
        if not self.up:
            return fail(LinkDown("the memory engine is stopped"))
        engine = self.engine
        alive = engine.node_alive(node)
        if alive is not None and alive != instance:
            return succeed(False)
        engine.nodes[node] = (instance, engine.clock.seconds() + expiry)
        return succeed(True)

    def part(self, node: str, instance: str) -> Deferred[None]:
        if self.up and self.engine.node_alive(node) == instance:
            del self.engine.nodes[node]
        return succeed(None)

    def reserve(self, count: int) -> Deferred[int]:
        if not self.up:
            return fail(LinkDown("the memory engine is stopped"))
        self.engine.counter += count
        return succeed(self.engine.counter)

    def save(self, table: str, key: str, value: bytes | None) -> None:
        if not self.up:
            return
        kept = self.engine.tables.setdefault(table, {})
        if value is None:
            kept.pop(key, None)
        else:
            kept[key] = value

    def snapshot(self, history_cap: int) -> Deferred[Snapshot]:
        if not self.up:
            return fail(LinkDown("the memory engine is stopped"))
        engine = self.engine
        history = {
            key: entries[-history_cap:] if history_cap else []
            for key, entries in engine.history.items()
        }
        tables = {name: dict(table) for name, table in engine.tables.items()}
        if self.position is None:
            self.position = len(engine.stream)
        self._snapshot_at = len(engine.stream)
        return succeed(Snapshot(history, tables))

    def close(self) -> Deferred[None]:
        self.closed = True
        self.set_up(False)
        return succeed(None)
