"""The output queue against a transport that pauses it as Twisted's does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.interfaces import IPushProducer

from twisted_chat.session.outbound import OutboundQueue

#: The largest write, and a hand-off small enough for short examples to cross.
WRITE = 500
HANDOFF = 3000


class BufferingTransport:
    """
    Twisted's rule, in memory: pause the producer once more than
    C{buffer_size} bytes are buffered; resume it once all are written.
    """

    def __init__(self, buffer_size: int) -> None:
        self.buffer_size = buffer_size
        self.buffered = bytearray()
        self.written = bytearray()
        self.producer: IPushProducer | None = None
        self.paused = False

    def registerProducer(self, producer: IPushProducer, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def loseConnection(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        self.buffered += data
        if len(self.buffered) > self.buffer_size and self.producer and not self.paused:
            self.paused = True
            self.producer.pauseProducing()

    def drain(self, most: int) -> None:
        """The socket takes up to C{most} bytes."""
        self.written += self.buffered[:most]
        del self.buffered[:most]
        if not self.buffered and self.paused and self.producer:
            self.paused = False
            self.producer.resumeProducing()


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("write"), st.integers(1, WRITE)),
            st.tuples(st.just("drain"), st.integers(0, 20000)),
        ),
        max_size=80,
    ),
    buffer_size=st.sampled_from([100, 4096, 20000]),
)
def test_order_is_kept_and_what_is_held_is_counted(
    steps: list[tuple[str, int]], buffer_size: int
) -> None:
    transport = BufferingTransport(buffer_size)
    reported: list[tuple[int, bool]] = []
    queue = OutboundQueue(
        transport,  # type: ignore[arg-type]
        max_queue=0,
        on_overflow=lambda: None,
        on_queue_change=lambda nbytes, moved: reported.append((nbytes, moved)),
        handoff=HANDOFF,
    )
    sent = bytearray()
    for number, (action, size) in enumerate(steps):
        if action == "write":
            data = bytes([number % 251]) * size
            sent += data
            queue.write(data)
        else:
            transport.drain(size)
        counted = reported[-1][0] if reported else 0
        held = len(transport.buffered) + queue._pending_bytes
        # Counted: all the daemon holds, but the transport's allowance and
        # one write; at most one hand-off (or one write) that the transport
        # has partly written since.
        assert held - counted <= buffer_size + WRITE
        assert counted - held <= HANDOFF
    transport.drain(len(sent))
    while transport.buffered:
        transport.drain(len(sent))
    assert transport.written == sent
    assert not reported or reported[-1][0] == 0


def test_a_hand_off_under_the_allowance_does_not_let_new_writes_jump_the_queue() -> (
    None
):
    transport = BufferingTransport(4096)
    queue = OutboundQueue(
        transport,  # type: ignore[arg-type]
        max_queue=0,
        on_overflow=lambda: None,
        handoff=HANDOFF,
    )
    queue.write(b"a" * 5000)  # over the allowance: the transport pauses the queue
    for _ in range(10):
        queue.write(b"b" * WRITE)  # queued: more than one hand-off
    transport.drain(5000)  # drained: a first hand-off of 3000 does not pause it
    queue.write(b"c")
    transport.drain(100_000)
    transport.drain(100_000)
    assert transport.written == b"a" * 5000 + b"b" * 5000 + b"c"
