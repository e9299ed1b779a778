"""
One load client: its connection, with write back-pressure, and what it
keeps of what it receives, in memory made ready before the load starts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import cast

#: How every probe line starts; the rest names the run and the room
#: (L{twisted_chat.benchmark.load.probe_line}), so that a probe kept in a
#: room's history from an earlier run is never taken for this run's.
PROBE = b"?barrier"
#: What a client keeps of what arrives while it waits for an answer.
HEARD = 4096


class Recording:
    """
    What one client received while the load ran: the bytes, in one buffer
    allocated (and its memory touched) before the load starts, and the
    arrival time of each read. Receiving then costs no allocation and no
    page fault, so the load generator measures the server, not its own
    memory.
    """

    def __init__(
        self,
        capacity: int,
        reserve: int = 0,
        on_full: Callable[[], None] | None = None,
    ) -> None:
        """
        C{capacity} bytes, made ready now. Once fewer than C{reserve} of
        them are left, C{on_full} is called (once) and the rest is used.
        """
        self.buffer = bytearray(capacity)  # zero-filled: every page touched
        self.filled = 0
        #: (arrival in ns, end offset in the buffer) for each read.
        self.reads: list[tuple[int, int]] = []
        self._on_full = on_full
        # Checked on every read, and the same cost as checking LEAST_ROOM.
        self._low = max(reserve, LEAST_ROOM) if on_full else LEAST_ROOM

    def space(self) -> memoryview:
        """Room for the next read, growing the buffer if it runs short."""
        if len(self.buffer) - self.filled < self._low:
            if self._on_full is not None:
                self._on_full()
                self._on_full, self._low = None, LEAST_ROOM
                if len(self.buffer) - self.filled >= LEAST_ROOM:
                    return memoryview(self.buffer)[self.filled :]
            # A new buffer, not a resize: the event loop may still hold a
            # view of the old one.
            grown = bytearray(max(2 * len(self.buffer), self.filled + GROWTH))
            grown[: self.filled] = self.buffer[: self.filled]
            self.buffer = grown
        return memoryview(self.buffer)[self.filled :]

    def add(self, nbytes: int) -> int:
        """Account for C{nbytes} just read into L{space}; return its '@' count."""
        start, self.filled = self.filled, self.filled + nbytes
        self.reads.append((time.monotonic_ns(), self.filled))
        return self.buffer.count(b"@", start, self.filled)

    @property
    def last_arrival(self) -> int | None:
        return self.reads[-1][0] if self.reads else None

    def chunks(self) -> Iterator[tuple[int, bytes]]:
        """(arrival, bytes) for each read, in order."""
        start = 0
        for arrival, end in self.reads:
            yield arrival, bytes(self.buffer[start:end])
            start = end


#: The least free space offered for one read, in bytes; when less is left,
#: the buffer grows by at least GROWTH bytes.
LEAST_ROOM = 4096
GROWTH = 256 * 1024
#: What a server may add to each line it relays (a "<name> " prefix, CR).
LINE_OVERHEAD = 24


# Where clients not yet recording read into: one buffer for all, since each
# read is looked at as soon as it lands (10,000 clients need no 64 KiB each).
_SCRATCH = bytearray(64 * 1024)
_SCRATCH_VIEW = memoryview(_SCRATCH)


class LoadClient(asyncio.BufferedProtocol):
    """One connection: records what arrives, and exposes write back-pressure."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.recording: Recording | None = None
        self.stamps = 0  # stamped lines received, counted by their "@"
        #: The probe line that tells this client its room relays to it.
        self.probe = PROBE
        self.probed = False
        #: The answer it waits for (see L{expect}), until it arrives.
        self.awaiting: bytes | None = None
        self.answered = False
        #: The last bytes received while it waited, at most HEARD of them.
        self.heard = b""
        self.closed = asyncio.get_running_loop().create_future()
        self._writable = asyncio.Event()
        self._writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without being one.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=64 * 1024)

    def record(
        self,
        capacity: int,
        reserve: int = 0,
        on_full: Callable[[], None] | None = None,
    ) -> None:
        """
        From now on keep everything received, in C{capacity} bytes made
        ready now (see L{Recording} for C{reserve} and C{on_full}).
        """
        self.recording = Recording(capacity, reserve, on_full)

    def expect(self, answer: bytes) -> None:
        """
        Wait for C{answer}: from now on keep the tail of what arrives in
        L{heard}, until C{answer} is in it (then L{answered} is true).
        """
        self.awaiting, self.answered, self.heard = answer, False, b""

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.recording is not None:
            return self.recording.space()
        return _SCRATCH_VIEW

    def buffer_updated(self, nbytes: int) -> None:
        if self.recording is not None:
            self.stamps += self.recording.add(nbytes)
            return
        data = _SCRATCH[:nbytes]
        if self.awaiting is not None:
            self.heard = (self.heard + data)[-HEARD:]
            if self.awaiting in self.heard:
                self.awaiting, self.answered = None, True
        if self.probe in data:
            self.probed = True

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._writable.set()
        if not self.closed.done():
            self.closed.set_result(exc)

    async def write(self, data: bytes) -> None:
        """Write, then wait while the kernel and our buffer are full."""
        assert self.transport is not None
        self.transport.write(data)
        await self._writable.wait()
