"""A reload does not restart anyone's idle timer."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.support import DEADLINE_SECONDS, ChatDaemon, wait_for

#: Reloads sent, at most, while waiting for the idle client to be dropped.
MOST_RELOADS = 400


def test_frequent_reloads_do_not_keep_an_idle_client_alive(
    start_daemon: Callable[..., ChatDaemon], tmp_path: Path
) -> None:
    config = tmp_path / "chat.toml"
    config.write_text("idle-timeout = 2\n")
    daemon = start_daemon("--config", str(config))
    idle = daemon.connect()
    joined = time.monotonic()
    reloads = 0
    deadline = joined + DEADLINE_SECONDS
    # Reload again and again, each as soon as the last is done: far more
    # often than the idle timeout, which a reload once restarted.
    while "Disconnected: idle" not in "\n".join(idle.lines):
        assert reloads < MOST_RELOADS and time.monotonic() < deadline, (
            f"still connected after {reloads} reloads"
        )
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGHUP)
        reloads += 1
        wait_for(
            lambda wanted=reloads: daemon.log().count("reloaded") >= wanted,
            what="the reload",
        )
        idle.poll()
    dropped_after = time.monotonic() - joined
    assert reloads > 2
    assert dropped_after < 2 + 2  # the timeout, and time to see it
    assert idle.lines[-1] == "! Disconnected: idle for 2 s."
