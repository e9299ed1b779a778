"""
Send SIGTERM to ourselves from inside a log observer, as a signal landing
mid-log would, and report whether the handler logged while the observer was
still busy (which, with a real lock held, is a deadlock).

    python signal_probe.py [--ours]

With --ours, twisted_chat's handlers replace the reactor's first. Prints
one line of JSON: what was logged from inside the observer, and what
after.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from twisted.internet import reactor
from twisted.logger import ILogObserver, LogEvent, Logger, globalLogPublisher
from zope.interface import provider

from twisted_chat.daemon.signals import move_shutdown_handlers

inside: list[str] = []
after: list[str] = []
busy = False


@provider(ILogObserver)
def observer(event: LogEvent) -> None:
    global busy
    message = str(event.get("log_format"))
    if busy:
        inside.append(message)
        return
    after.append(message)
    if message == "poke":
        busy = True
        os.kill(os.getpid(), signal.SIGTERM)
        # Python runs the handler at the next bytecode boundary: in here.
        for _ in range(10000):
            pass
        busy = False


def main() -> None:
    globalLogPublisher.addObserver(observer)
    if "--ours" in sys.argv:
        reactor.callWhenRunning(move_shutdown_handlers, reactor)  # type: ignore[attr-defined]
    reactor.callWhenRunning(Logger().info, "poke")  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
    print(json.dumps({"inside": inside, "after": after}))


if __name__ == "__main__":
    main()
