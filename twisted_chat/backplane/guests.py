"""
L{GuestNumbers}: guest numbers no two linked daemons give out twice.

They are reserved in blocks from a counter on the bus, ahead of need, so
a newcomer never waits for the bus to get its guest name.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from twisted.python.failure import Failure

from twisted_chat.backplane.bus import Bus

#: Guest numbers reserved at once.
GUEST_BLOCK = 64


class GuestNumbers:
    """
    Guarantees: a number from L{__call__} was reserved on the bus for this
    daemon alone, unless none was left (the bus is down): then it is one
    of C{local}'s, and the name's claim settles a collision.
    """

    def __init__(self, bus: Bus, local: Callable[[], int]) -> None:
        self._bus = bus
        self._local = local
        self._reserved: deque[int] = deque()
        self._reserving = False

    def __call__(self) -> int:
        if len(self._reserved) < GUEST_BLOCK // 4:
            self.reserve()
        if self._reserved:
            return self._reserved.popleft()
        return self._local()

    def reserve(self) -> None:
        """Reserve another block, unless one is on its way or the bus is down."""
        if self._reserving or not self._bus.up:
            return
        self._reserving = True

        def reserved(last: int) -> None:
            self._reserving = False
            self._reserved.extend(range(last - GUEST_BLOCK + 1, last + 1))

        def failed(failure: Failure) -> None:
            self._reserving = False

        self._bus.reserve(GUEST_BLOCK).addCallbacks(reserved, failed)
