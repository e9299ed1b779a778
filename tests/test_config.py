"""The configuration file, the MOTD, and reloading both on SIGHUP."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import ChatDaemon, LineClient, bin_command, run_command, wait_for

StartDaemon = Callable[..., ChatDaemon]


def test_file_settings_motd_and_command_line_winning(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    (tmp_path / "motd.txt").write_text("Welcome to the LAN chat!\nBe nice. \x1b[31m\n")
    config = tmp_path / "chat.toml"
    config.write_text('max_per_ip = 1\nmotd = "motd.txt"\nserver-name = "from-file"\n')
    daemon = start_daemon("--config", str(config), "--max-per-ip", "2")
    first = LineClient(daemon.port)
    first.expect(r"^\* Welcome to testhost, guest1!")  # --server-name given: it wins
    assert first.read_lines(2) == ["* Welcome to the LAN chat!", "* Be nice. "]
    second = LineClient(daemon.port)
    second.expect(r"^\* Welcome")
    refused = LineClient(daemon.port)
    refused.expect(r"^! Too many connections from 127\.0\.0\.1 \(at most 2\)")


def test_sighup_applies_new_settings_to_connected_clients(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    config = tmp_path / "chat.toml"
    config.write_text('max-line-length = 100\nmotd = "motd.txt"\n')
    (tmp_path / "motd.txt").write_text("old news\n")
    daemon = start_daemon("--config", str(config))
    sender, listener = daemon.connect(), daemon.connect()
    sender.nick("s")
    sender.send("x" * 150)
    sender.expect(r"^! Line too long \(over 100 bytes\)")

    config.write_text('max-line-length = 1000\nmotd = "motd.txt"\n')
    (tmp_path / "motd.txt").write_text("fresh news\n")
    daemon.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
    wait_for(lambda: "reloaded" in daemon.log(), what="the reload")
    sender.send("y" * 150)
    listener.expect(r"^<s> y{150}$")  # the same connection, the new limit
    newcomer = LineClient(daemon.port)
    newcomer.expect(r"^\* fresh news$")

    config.write_text("max-line-length = = oops\n")
    daemon.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
    wait_for(
        lambda: "reload failed; keeping the current settings" in daemon.log(),
        what="the failed reload in the log",
    )
    sender.send("z" * 150)
    listener.expect(r"^<s> z{150}$")  # the old settings stay in force
    assert "disconnected" not in daemon.log()  # nobody was dropped


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            'rate = "fast"\n',
            "bad.toml, line 1: rate takes a number, 0 or more, not 'fast'",
        ),
        ("rate = 3\nbogus = 1\n", "bad.toml, line 2: unknown setting 'bogus'"),
        ("rate = \n", "bad.toml: Invalid value (at line 1, column 8)"),
        ("port = 5\nmax_queue = 2.5\n", "bad.toml, line 2: max-queue takes a whole"),
    ],
    ids=["bad-value", "unknown-key", "bad-toml", "bad-number"],
)
def test_a_bad_config_file_stops_start_up_with_one_line(
    tmp_path: Path, content: str, problem: str
) -> None:
    (tmp_path / "bad.toml").write_text(content)
    result = run_command(
        [bin_command("twistd"), "-n", "--pidfile=", "chat", "--config", "bad.toml"],
        cwd=tmp_path,
    )
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"twistd chat: {problem}")
