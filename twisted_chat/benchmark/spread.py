"""
Clients spread over linked daemons (C{--nodes K}, or several C{--target}):
client i connects to node L{node_of}(i), and before the load starts every
node must list every client of each room in its C{/who} (remote joins
arrive asynchronously, through the link).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence

from twisted_chat.benchmark.clients import LoadClient
from twisted_chat.benchmark.connect import Connected, connect_all, where
from twisted_chat.benchmark.errors import BenchmarkError

Target = tuple[str, int]

#: How long every node may take to see the others' clients: well past what
#: a link takes (milliseconds), short enough that daemons that are not
#: linked at all are told apart quickly.
LINK_SECONDS = 30.0
#: The answer to /who for one's own room (twisted_chat.text.WHO).
WHO_ANSWER = re.compile(rb"\*\*\* (\d+) here: ")
#: How often a node that does not list everyone yet is asked again.
ASK_SECONDS = 0.1


def node_of(client: int, rooms: int, nodes: int) -> int:
    """
    The node client number C{client} connects to: round-robin within each
    room (client i is in room i mod R), so that every room has members,
    and senders, on every node that it has enough clients for.
    """
    return (client // rooms) % nodes


async def connect_spread(
    targets: Sequence[Target],
    count: int,
    rooms: int,
    deadline: float,
) -> Connected[LoadClient]:
    """
    C{count} clients over C{targets}, client i on C{targets[node_of(i)]},
    in client order; every connection closed if any node's fail.
    """
    if len(targets) == 1:
        host, port = targets[0]
        return await connect_all(host, port, count, LoadClient, deadline)
    numbers: list[list[int]] = [[] for _ in targets]
    for client in range(count):
        numbers[node_of(client, rooms, len(targets))].append(client)
    outcomes = await asyncio.gather(
        *(
            connect_all(host, port, len(numbers[k]), LoadClient, deadline)
            for k, (host, port) in enumerate(targets)
            if numbers[k]
        ),
        return_exceptions=True,
    )
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    connected = [o for o in outcomes if not isinstance(o, BaseException)]
    if failures:
        for outcome in connected:
            for transport in outcome.transports:
                transport.close()
        raise failures[0]
    merged: Connected[LoadClient] = Connected()
    slots: list[LoadClient | None] = [None] * count
    for k, outcome in enumerate(connected):
        for client, protocol in zip(numbers[k], outcome.clients, strict=True):
            slots[client] = protocol
        merged.transports += outcome.transports
        for name, times in outcome.retried.items():
            merged.retried[name] = merged.retried.get(name, 0) + times
    merged.clients = [client for client in slots if client is not None]
    return merged


async def seen_everywhere(
    clients: Sequence[LoadClient],
    targets: Sequence[Target],
    rooms: int,
    deadline: float,
    progress: Callable[[str], None] | None = None,
) -> None:
    """
    Until, on every node, a client of each room hears C{/who} list all of
    that room's clients (at least: other people may be there too). A
    BenchmarkError after L{LINK_SECONDS} (or at the deadline) naming the
    node that lags, most likely not linked with the others.
    """
    nodes = len(targets)
    started = time.monotonic()
    until = min(deadline, started + LINK_SECONDS)
    wanted: dict[int, int] = {}  # client number: how many its /who must list
    for room in range(rooms):
        members = range(room, len(clients), rooms)
        for node in range(nodes):
            asker = next((i for i in members if node_of(i, rooms, nodes) == node), None)
            if asker is not None:
                wanted[asker] = len(members)
    listed = dict.fromkeys(wanted, 0)
    asked: set[int] = set()
    while True:
        for number in wanted:
            client = clients[number]
            if client.answered and number in asked:
                found = WHO_ANSWER.findall(client.heard)
                listed[number] = int(found[-1]) if found else 0
                asked.discard(number)
        lagging = [n for n in wanted if listed[n] < wanted[n]]
        if not lagging:
            if progress:
                progress(
                    f"every node ({nodes}) lists every client of "
                    + ("the room" if rooms == 1 else f"each of {rooms} rooms")
                )
            return
        if any(client.closed.done() for client in clients):
            closed = sum(client.closed.done() for client in clients)
            raise BenchmarkError(
                f"the server closed {closed} of {len(clients)} connections "
                "before the load started"
            )
        if time.monotonic() > until:
            number = lagging[0]
            host, port = targets[node_of(number, rooms, nodes)]
            raise BenchmarkError(
                f"{where(host, port)} lists {listed[number]} of the "
                f"{wanted[number]} clients of its room after "
                f"{time.monotonic() - started:.0f} s (/who): the daemons are "
                "not linked with each other"
            )
        for number in lagging:
            if number not in asked:
                client = clients[number]
                client.expect(b" here: ")
                asked.add(number)
                await client.write(b"/who\n")
        await asyncio.sleep(ASK_SECONDS)
