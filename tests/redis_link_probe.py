"""
A RedisLink on the real reactor, for tests/test_redis_link.py:

    python redis_link_probe.py SCENARIO URL

Prints one JSON object a line, as things happen: {"event": "up"|"down"},
{"event": "message", ...}, {"event": "log", "text": ...} for each line
twisted_chat logs, scenario results, and {"event": "end"} last.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.logger import formatEvent, globalLogBeginner

from twisted_chat.backplane import LinkDown, RedisLink, parse_redis_url


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def observe_logs(event: dict[str, Any]) -> None:
    if str(event.get("log_namespace", "")).startswith("twisted_chat"):
        emit("log", text=formatEvent(event))


def until(link: RedisLink, wanted: bool) -> Deferred[None]:
    """Fires when the link's state next becomes C{wanted}."""
    waiting: Deferred[None] = Deferred()
    if link.up == wanted:
        waiting.callback(None)
        return waiting

    def changed(up: bool) -> None:
        if up == wanted and not waiting.called:
            waiting.callback(None)

    link.on_state(changed)
    return waiting


def text(payload: bytes) -> str:
    return payload.decode("utf-8")


async def roundtrip(reactor: Any, link: RedisLink) -> None:
    got: list[bytes] = []
    done: Deferred[None] = Deferred()

    def handler(payload: bytes) -> None:
        got.append(payload)
        emit("message", payload=text(payload))
        if len(got) == 2:
            done.callback(None)

    await link.subscribe(b"room", handler).addErrback(lambda f: f.trap(LinkDown))
    link.start()
    await until(link, True)
    batch = b"\n".join(b"line %02d " % i + b"x" * 72 for i in range(50))
    emit("published", receivers=await link.publish(b"room", b"hello"))
    emit("published", receivers=await link.publish(b"room", batch))
    await done


async def setnx(reactor: Any, link: RedisLink) -> None:
    link.start()
    await until(link, True)
    results: list[object] = []
    for args in (
        (b"SET", b"k", b"v", b"NX", b"EX", 5),
        (b"SET", b"k", b"w", b"NX", b"EX", 5),
        (b"GET", b"k"),
        (b"TTL", b"k"),
        (b"EXPIRE", b"k", 60),
        (b"TTL", b"k"),
        (b"EVAL", b"return redis.call('GET', KEYS[1])", 1, b"k"),
        (b"DEL", b"k"),
        (b"EXPIRE", b"k", 60),
        (b"GET", b"k"),
    ):
        reply = await link.command(*args)
        results.append(text(reply) if isinstance(reply, bytes) else reply)
    emit("results", results=results, inflight=link.inflight)


async def auth(reactor: Any, link: RedisLink) -> None:
    link.start()
    await until(link, True)
    emit("ping", ok=(await link.ping()) >= 0)
    emit("repr", text=repr(link))


async def wrongpass(reactor: Any, link: RedisLink) -> None:
    link.start()
    answer = link.command(b"GET", b"k")
    emit("fast", called=answer.called)
    answer.addErrback(lambda f: emit("failed", error=type(f.value).__name__))
    await task.deferLater(reactor, 2.75, lambda: None)
    emit("attempts", attempts=link.attempts, up=link.up)


async def reconnect(reactor: Any, link: RedisLink) -> None:
    done: Deferred[None] = Deferred()

    def handler(payload: bytes) -> None:
        emit("message", payload=text(payload))
        if payload == b"after" and not done.called:
            done.callback(None)

    link.on_state(lambda up: emit("up" if up else "down"))
    await link.subscribe(b"room", handler).addErrback(lambda f: f.trap(LinkDown))
    link.start()
    await until(link, True)
    await until(link, False)
    answer = link.publish(b"room", b"while down")
    emit("fast", called=answer.called)
    answer.addErrback(lambda f: emit("failed", error=type(f.value).__name__))
    await until(link, True)
    await done


async def halfopen(reactor: Any, link: RedisLink) -> None:
    link.on_state(lambda up: emit("up" if up else "down"))
    link.start()
    await until(link, True)
    await until(link, False)
    await until(link, True)


SCENARIOS: dict[str, Callable[[Any, RedisLink], Any]] = {
    "roundtrip": roundtrip,
    "setnx": setnx,
    "auth": auth,
    "wrongpass": wrongpass,
    "reconnect": reconnect,
    "halfopen": halfopen,
}
OPTIONS: dict[str, dict[str, float]] = {
    "wrongpass": {"initial_delay": 0.25},
    "reconnect": {"initial_delay": 0.2},
    "halfopen": {"initial_delay": 0.2, "ping_interval": 0.2, "ping_timeout": 0.5},
}


async def main(reactor: Any, scenario: str, url: str) -> None:
    link = RedisLink(reactor, parse_redis_url(url), **OPTIONS.get(scenario, {}))
    # A bound on the whole run: a hung scenario ends with an error, not never.
    timeout = reactor.callLater(30, reactor.stop)
    try:
        await SCENARIOS[scenario](reactor, link)
    finally:
        await link.close()
        if timeout.active():
            timeout.cancel()
    emit("end", up=link.up)


if __name__ == "__main__":
    globalLogBeginner.beginLoggingTo([observe_logs], redirectStandardIO=False)
    task.react(lambda reactor: ensureDeferred(main(reactor, *sys.argv[1:3])))
