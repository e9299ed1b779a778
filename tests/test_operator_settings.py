"""Settings and commands an operator could get wrong are refused, with why."""

from __future__ import annotations

import os
from pathlib import Path

from twisted.logger import capturedLogs, formatEvent

from tests.support import bin_command, run_command
from twisted_chat.core.commands import run_command as run_chat_command
from twisted_chat.core.hub import Hub
from twisted_chat.store.sqlite import SQLiteStore
from twisted_chat.testing import FakeMember


def test_a_guest_name_cannot_be_a_server_operator() -> None:
    """--operators guest1 could never take effect: start-up says so, exit 1."""
    result = run_command([bin_command("twistd"), "-n", "chat", "--operators", "guest1"])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "twistd chat: --operators takes names (1 to 24 letters, digits, '_', '-' "
        "or '.'), separated by commas, not 'guest1'"
    ]


def test_a_mistyped_address_is_named_in_the_refusal() -> None:
    """/ban 10.0.0.256 says what is wrong with it, not just the usage."""
    hub = Hub(operators=["root"])
    root = FakeMember()
    hub.connect(root)
    root.account = "root"
    root.received.clear()
    run_chat_command(root, hub, "ban", "--server 10.0.0.256")
    assert root.take_lines() == ["! Not a name, an address or a network: 10.0.0.256"]


def test_an_existing_database_readable_by_others_is_warned_about(
    tmp_path: Path,
) -> None:
    """A file made by someone else keeps its mode, but the log says to chmod it."""
    path = tmp_path / "chat.db"
    path.touch()
    os.chmod(path, 0o644)
    with capturedLogs() as events:
        SQLiteStore.open(str(path)).close_and_wait()
    assert (path.stat().st_mode & 0o777) == 0o644
    assert [formatEvent(e) for e in events if "chmod" in formatEvent(e)] == [
        f"{path} can be read by other users, and it holds password hashes: chmod 600 it"
    ]
