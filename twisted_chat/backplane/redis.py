"""
L{RedisBus}: the L{twisted_chat.backplane.bus.Bus} over Redis.

Messages go into one Redis stream (XADD, trimmed to about C{stream_length}
entries), not through PUBLISH: pub/sub gives a message only to those
subscribed at that moment, so a daemon whose link blinked, or which came
back from a Redis restart a moment after another, would miss what was
said meanwhile. Each daemon reads the stream from the last entry it took
(XREAD), so after a reconnection it takes what it missed, in the one order
Redis gave it. Each send is one Lua script, so a message, its history and
its sequence number are kept together or not at all, and a message sent
again after a reconnection is not added twice.

Keys, all under C{prefix} (C{twisted_chat:} by default): C{stream},
C{seq} (the last message number of each daemon instance), C{node:NODE}
(a daemon's heartbeat, expiring), C{name:KEY} (who holds a name),
C{history:ROOM} (lists), C{rooms} (rooms with history), and the hashes
C{account}, C{grant}, C{restriction} and C{topic}.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat.backplane.bus import CatchingUp, HistoryAppend, Snapshot
from twisted_chat.backplane.connection import LinkDown
from twisted_chat.backplane.link import RedisLink
from twisted_chat.backplane.resp import Arg, Reply

log = Logger()

#: Entries the stream keeps, about (XADD MAXLEN ~): what a daemon can take
#: after a reconnection. At one message per daemon per turn, minutes of a
#: busy chat, while its memory in Redis stays bounded.
STREAM_LENGTH = 10_000
#: Entries taken from the stream in one reply.
READ_COUNT = 200
#: How long one XREAD waits (ms): short enough that the connection's
#: health check (PING) is answered well within its timeout.
READ_BLOCK_MS = 2000

# KEYS: seq hash, stream, rooms set, history lists...
# ARGV: instance, seq, payload, cap, stream length, then per list its
# room key, how many entries, the entries.
_SEND = b"""
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= last then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local a = 6
local cap = tonumber(ARGV[4])
for k = 4, #KEYS do
  local room = ARGV[a]
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  local first = a
  while first < a + n do
    local upto = math.min(first + 999, a + n - 1)
    redis.call('RPUSH', KEYS[k], unpack(ARGV, first, upto))
    first = upto + 1
  end
  a = a + n
  redis.call('LTRIM', KEYS[k], -cap, -1)
  redis.call('SADD', KEYS[3], room)
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'm', ARGV[3])
return 1
"""

# KEYS: the name. ARGV: owner ("NODE|INSTANCE|ID"), prefix.
_CLAIM = b"""
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  local node, instance = string.match(holder, '^(.-)|(.-)|')
  if node and redis.call('GET', ARGV[2] .. 'node:' .. node) == instance then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""

_RELEASE = b"""
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""

# KEYS: the node's key. ARGV: instance, expiry (ms).
_BEAT = b"""
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS: stream, rooms set. ARGV: prefix, cap. One reply: the stream's last
# id, the four tables (flat field/value lists), then room key / entries.
_SNAPSHOT = b"""
local out = {}
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
out[1] = (last[1] and last[1][1]) or '0-0'
for _, t in ipairs({'account', 'grant', 'restriction', 'topic'}) do
  out[#out + 1] = redis.call('HGETALL', ARGV[1] .. t)
end
local cap = tonumber(ARGV[2])
local history = {}
if cap > 0 then
  for _, room in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    history[#history + 1] = room
    local key = ARGV[1] .. 'history:' .. room
    history[#history + 1] = redis.call('LRANGE', key, -cap, -1)
  end
end
out[#out + 1] = history
return out
"""

TABLES = ("account", "grant", "restriction", "topic")


def _pairs(flat: Reply) -> dict[str, bytes]:
    if not isinstance(flat, list):
        return {}
    found = {}
    for key, value in zip(flat[::2], flat[1::2], strict=True):
        if isinstance(key, bytes) and isinstance(value, bytes):
            found[key.decode("utf-8", "replace")] = value
    return found


def _stream_id(ident: bytes | None) -> tuple[int, int]:
    """A stream entry's id, as a pair that sorts as Redis sorts them."""
    if ident is None:
        return (-1, -1)
    milliseconds, _, sequence = ident.partition(b"-")
    return (int(milliseconds), int(sequence or b"0"))


def _integer(reply: Reply) -> int:
    if not isinstance(reply, int):
        raise ValueError(f"a number was wanted, not {reply!r}")
    return reply


class RedisBus:
    """
    The bus over a L{RedisLink}: guarantees as L{twisted_chat.backplane.bus.Bus}.
    The link must have been made with no subscriptions: its second
    connection carries the blocking reads.
    """

    def __init__(
        self,
        link: RedisLink,
        prefix: str = "twisted_chat:",
        stream_length: int = STREAM_LENGTH,
    ) -> None:
        self.link = link
        self.prefix = prefix.encode()
        self.stream = self.prefix + b"stream"
        self.stream_length = stream_length
        self._handler: Callable[[bytes], None] | None = None
        self._position: bytes | None = None
        self._snapshot_at: tuple[int, int] = (0, 0)
        self._catching_up = CatchingUp()
        self._reading = False
        self._closed = False
        link.on_state(self._changed)

    @property
    def up(self) -> bool:
        return self.link.up

    def on_state(self, callback: Callable[[bool], None]) -> None:
        self.link.on_state(callback)

    def listen(self, handler: Callable[[bytes], None]) -> None:
        self._handler = handler

    def _changed(self, up: bool) -> None:
        if up and self._position is not None:
            self._read()

    def _read(self) -> None:
        if self._reading or self._closed or not self.link.up:
            return
        assert self._position is not None
        self._reading = True
        answer = self.link.read_command(
            b"XREAD",
            b"COUNT",
            READ_COUNT,
            b"BLOCK",
            READ_BLOCK_MS,
            b"STREAMS",
            self.stream,
            self._position,
        )
        answer.addCallbacks(self._took, self._not_taken)

    def _took(self, reply: Reply) -> None:
        self._reading = False
        if isinstance(reply, list):
            for stream in reply:
                if not isinstance(stream, list) or len(stream) != 2:
                    continue
                entries = stream[1]
                for entry in entries if isinstance(entries, list) else ():
                    self._take(entry)
        self._read()

    def _take(self, entry: Reply) -> None:
        if not isinstance(entry, list) or len(entry) != 2:
            return
        ident, fields = entry
        if not isinstance(ident, bytes) or not isinstance(fields, list):
            return
        self._position = ident
        if len(fields) == 2 and isinstance(fields[1], bytes) and self._handler:
            try:
                self._handler(fields[1])
            except Exception:
                log.failure("a message from the link could not be taken")
        self._check_caught_up()

    def _passed(self) -> bool:
        return _stream_id(self._position) >= self._snapshot_at

    def _check_caught_up(self) -> None:
        if self._catching_up.waiting:
            self._catching_up.check(self._passed())

    def caught_up(self) -> Deferred[None]:
        return self._catching_up.wait(self._passed())

    def _not_taken(self, failure: Failure) -> None:
        self._reading = False
        if not failure.check(LinkDown):
            log.error(
                "reading the link's stream failed: {problem}",
                problem=failure.getErrorMessage(),
            )
            # Again after a reconnection, not in a tight loop.
            if self.link.up:
                self.link.clock.callLater(1.0, self._read)

    def send(
        self,
        instance: str,
        seq: int,
        payload: bytes,
        history: Sequence[HistoryAppend],
        history_cap: int,
    ) -> Deferred[None]:
        prefix = self.prefix
        keys: list[Arg] = [prefix + b"seq", self.stream, prefix + b"rooms"]
        args: list[Arg] = [
            instance,
            seq,
            payload,
            max(history_cap, 1),
            self.stream_length,
        ]
        if history_cap:
            for room, entries in history:
                keys.append(prefix + b"history:" + room.encode())
                args += [room, len(entries), *entries]
        answer = self.link.command(b"EVAL", _SEND, len(keys), *keys, *args)
        return answer.addCallback(lambda _: None)

    def claim(self, key: str, owner: str) -> Deferred[bool]:
        name = self.prefix + b"name:" + key.encode()
        answer = self.link.command(b"EVAL", _CLAIM, 1, name, owner, self.prefix)
        return answer.addCallback(lambda reply: reply == 1)

    def release(self, key: str, owner: str) -> None:
        if self.link.up:
            name = self.prefix + b"name:" + key.encode()
            answer = self.link.command(b"EVAL", _RELEASE, 1, name, owner)
            answer.addErrback(lambda _: None)

    def beat(self, node: str, instance: str, expiry: float) -> Deferred[bool]:
        key = self.prefix + b"node:" + node.encode()
        milliseconds = max(int(expiry * 1000), 1)
        answer = self.link.command(b"EVAL", _BEAT, 1, key, instance, milliseconds)
        return answer.addCallback(lambda reply: reply == 1)

    def part(self, node: str, instance: str) -> Deferred[None]:
        key = self.prefix + b"node:" + node.encode()
        answer = self.link.command(b"EVAL", _RELEASE, 1, key, instance)
        return answer.addCallbacks(lambda _: None, lambda _: None)

    def reserve(self, count: int) -> Deferred[int]:
        answer = self.link.command(b"INCRBY", self.prefix + b"guests", count)
        return answer.addCallback(_integer)

    def save(self, table: str, key: str, value: bytes | None) -> None:
        if not self.link.up:
            return
        name = self.prefix + table.encode()
        if value is None:
            answer = self.link.command(b"HDEL", name, key)
        else:
            answer = self.link.command(b"HSET", name, key, value)
        answer.addErrback(
            lambda failure: log.error(
                "keeping a {table} in redis failed: {problem}",
                table=table,
                problem=failure.getErrorMessage(),
            )
        )

    def snapshot(self, history_cap: int) -> Deferred[Snapshot]:
        answer = self.link.command(
            b"EVAL",
            _SNAPSHOT,
            2,
            self.stream,
            self.prefix + b"rooms",
            self.prefix,
            history_cap,
        )
        return answer.addCallback(self._snapshot)

    def _snapshot(self, reply: Reply) -> Snapshot:
        if not isinstance(reply, list) or len(reply) != 2 + len(TABLES):
            raise ValueError("the snapshot script answered something else")
        position = reply[0]
        if isinstance(position, bytes):
            self._snapshot_at = _stream_id(position)
        if self._position is None and isinstance(position, bytes):
            self._position = position
            self._read()
        tables = {
            table: _pairs(flat) for table, flat in zip(TABLES, reply[1:-1], strict=True)
        }
        history: dict[str, list[bytes]] = {}
        flat = reply[-1]
        if isinstance(flat, list):
            for room, entries in zip(flat[::2], flat[1::2], strict=True):
                if isinstance(room, bytes) and isinstance(entries, list):
                    history[room.decode("utf-8", "replace")] = [
                        e for e in entries if isinstance(e, bytes)
                    ]
        return Snapshot(history, tables)

    def close(self) -> Deferred[None]:
        self._closed = True
        return self.link.close()
