"""
A load client over the browser page's WebSocket (C{--web-share}): the same
part in the load as a telnet client (L{LoadClient}), speaking the page's
protocol.

It sends each write as one text message (the page's lines, newline
separated), and takes apart the daemon's messages (one JSON event a line)
itself, with no WebSocket library: server frames are never masked, so a
frame is a header and its payload. Its own frames carry the zero masking
key, which leaves the payload as it is: legal, and right for a benchmark on
a trusted network, since an unpredictable key only protects proxies.

While the load runs it keeps each message with every stamped line's end
made a line end (C{"texts":["@...$","@...$"]} becomes C{"texts":["@...$}
newline C{@...$} newline), so the analysis reads the stamps as it reads a
telnet client's (L{twisted_chat.benchmark.analysis}), and the client
spends no Python work per line; before that (the greeting, /join, the
probe) it turns each event back into the line telnet would show, for the
waits that read what a client heard.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from typing import TYPE_CHECKING, Any

from twisted_chat.benchmark.clients import HEARD, LoadClient
from twisted_chat.benchmark.connect import Connected, connect_all

if TYPE_CHECKING:
    from twisted_chat.benchmark.load import LoadPlan

_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA
#: The zero masking key: the payload is sent as it is.
_MASK = b"\x00\x00\x00\x00"
# Where every WebSocket client reads into: each read is taken apart at once.
_READING = bytearray(64 * 1024)
_READING_VIEW = memoryview(_READING)


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked (with the zero key) client frame."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    return head + _MASK + payload


def telnet_line(event: dict[str, Any]) -> str:
    """What telnet shows for an event of the page's JSON (near enough)."""
    if event.get("type") == "said":
        return "\n".join(f"<{event['name']}> {text}" for text in event["texts"])
    text = str(event.get("text", ""))
    return ("! " if event.get("error") else "*** ") + text


class WebLoadClient(LoadClient):
    """
    One WebSocket load client: the handshake on connecting (what is
    written before its answer waits), then frames both ways.
    """

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self._host = f"{host}:{port}"
        self._open = False
        self._waiting: list[bytes] = []
        self._incoming = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: {self._host}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: http://{self._host}\r\n\r\n"
            ).encode()
        )

    async def write(self, data: bytes) -> None:
        """The lines of C{data} as one text message (after the handshake)."""
        frame = client_frame(_TEXT, data.removesuffix(b"\n"))
        if not self._open:
            self._waiting.append(frame)
            return
        await super().write(frame)

    def get_buffer(self, sizehint: int) -> memoryview:
        return _READING_VIEW

    def buffer_updated(self, nbytes: int) -> None:
        self._incoming += _READING_VIEW[:nbytes]
        if not self._open:
            end = self._incoming.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self._incoming.startswith(b"HTTP/1.1 101"):
                assert self.transport is not None
                self._hear(bytes(self._incoming[: self._incoming.find(b"\r\n")]))
                self.transport.close()
                return
            del self._incoming[: end + 4]
            self._open = True
            assert self.transport is not None
            for frame in self._waiting:
                self.transport.write(frame)
            self._waiting.clear()
        self._frames()

    def _frames(self) -> None:
        # One pass with an offset, one deletion at the end: a read that
        # holds many frames is not shifted once for each of them.
        data = self._incoming
        offset, end = 0, len(data)
        while end - offset >= 2:
            opcode, size = data[offset] & 0x0F, data[offset + 1] & 0x7F
            start = offset + 2
            if size == 126:
                if end - offset < 4:
                    break
                (size,) = struct.unpack_from("!H", data, offset + 2)
                start = offset + 4
            elif size == 127:
                if end - offset < 10:
                    break
                (size,) = struct.unpack_from("!Q", data, offset + 2)
                start = offset + 10
            if end < start + size:
                break
            offset = start + size
            if opcode == _TEXT:
                self._message(data, start, offset)
            elif opcode == _PING and self.transport is not None:
                self.transport.write(client_frame(_PONG, bytes(data[start:offset])))
            elif opcode == _CLOSE and self.transport is not None:
                self.transport.close()
        del data[:offset]

    def _message(self, data: bytearray, start: int, end: int) -> None:
        if self.recording is not None:
            # While the load runs: each stamp ends a line, as over telnet
            # (two replaces in C, no parsing: see the module's docstring).
            said = data[start:end].replace(b'$","@', b"$\n@").replace(b'$"]}', b"$")
            self._record(said)
            return
        lines = "\n".join(
            telnet_line(json.loads(line))
            for line in bytes(data[start:end]).splitlines()
            if line
        )
        self._hear(lines.encode("utf-8") + b"\n")

    def _record(self, data: bytes | bytearray) -> None:
        recording = self.recording
        assert recording is not None
        while data:
            space = recording.space()
            # Whole lines only, as a read would end them.
            part = len(data)
            if part > len(space):
                part = data.rfind(b"\n", 0, len(space)) + 1
            if part <= 0:
                return  # a line longer than a read: not a stamped one
            space[:part] = data[:part]
            self.stamps += recording.add(part)
            if part == len(data):
                return
            data = data[part:]

    def _hear(self, data: bytes) -> None:
        """What a telnet client would have read, before the load records."""
        if self.awaiting is not None:
            self.heard = (self.heard + data)[-HEARD:]
            if self.awaiting in self.heard:
                self.awaiting, self.answered = None, True
        if self.probe in data:
            self.probed = True


def on_websocket(client: int, share: float) -> bool:
    """Whether client number C{client} uses the WebSocket: C{share} of them, spread."""
    return int((client + 1) * share) > int(client * share)


async def connect_mixed(plan: LoadPlan, deadline: float) -> Connected[LoadClient]:
    """
    C{plan.clients} clients, C{plan.web_share} of them on the WebSocket and
    the rest on the line port, in client order (L{on_websocket}), so that
    senders and readers are mixed alike.
    """
    web = [on_websocket(n, plan.web_share) for n in range(plan.clients)]
    lines = (
        await connect_all(plan.host, plan.port, web.count(False), LoadClient, deadline)
        if not all(web)
        else Connected[LoadClient]()
    )
    try:
        sockets = await connect_all(
            plan.web_host,
            plan.web_port,
            web.count(True),
            lambda: WebLoadClient(plan.web_host, plan.web_port),
            deadline,
        )
    except BaseException:
        for transport in lines.transports:
            transport.close()
        raise
    both: Connected[LoadClient] = Connected(
        transports=lines.transports + sockets.transports,
        retried={
            name: lines.retried.get(name, 0) + sockets.retried.get(name, 0)
            for name in {*lines.retried, *sockets.retried}
        },
    )
    web_clients, line_clients = iter(sockets.clients), iter(lines.clients)
    both.clients = [next(web_clients if w else line_clients) for w in web]
    return both
