"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import LOOPBACK_PORT, ChatDaemon

#: The store tests' fixture (each test on both stores), from tests/stores.py;
#: the real redis-server of the backplane tests, from tests/redis_server.py;
#: the browser of the web page's tests, from tests/web_support.py.
pytest_plugins = ["tests.stores", "tests.redis_server", "tests.web_support"]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ChatDaemon]:
    """The real twistd daemon with default options, on a free loopback port."""
    running = ChatDaemon(tmp_path).start()
    yield running
    running.stop(strict=False)


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[type[ChatDaemon]]:
    """Start daemons with chosen options; all are stopped after the test."""
    started: list[ChatDaemon] = []

    def start(
        *options: str,
        descriptor_limit: int | None = None,
        env: dict[str, str] | None = None,
        default_port: str | None = LOOPBACK_PORT,
    ) -> ChatDaemon:
        running = ChatDaemon(
            tmp_path / f"d{len(started)}",
            *options,
            descriptor_limit=descriptor_limit,
            env=env,
            default_port=default_port,
        )
        running.workdir.mkdir()
        started.append(running)
        return running.start()

    yield start  # type: ignore[misc]
    for running in started:
        running.stop(strict=False)
