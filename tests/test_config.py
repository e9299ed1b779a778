"""The configuration file, the MOTD, and reloading both on SIGHUP."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import (
    ChatDaemon,
    LineClient,
    bin_command,
    run_command,
    wait_for,
)
from twisted_chat import text
from twisted_chat.daemon.config import DEFAULT_PORT, PARAMETERS, load_settings
from twisted_chat.daemon.options import Options

StartDaemon = Callable[..., ChatDaemon]


def messages(log: str) -> list[str]:
    """The messages of a twistd text log, without time stamp and system."""
    return [line.split("] ", 1)[-1] for line in log.splitlines()]


def exactly(line: text.LineFormat, **fields: object) -> str:
    """A pattern for exactly this line of the chat, whatever its format."""
    return f"^{re.escape(line.format(**fields))}$"


def test_file_settings_motd_and_command_line_winning(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    (tmp_path / "motd.txt").write_text("Welcome to the LAN chat!\nBe nice. \x1b[31m\n")
    config = tmp_path / "chat.toml"
    config.write_text('max_per_ip = 1\nmotd = "motd.txt"\nserver-name = "from-file"\n')
    daemon = start_daemon("--config", str(config), "--max-per-ip", "2")
    first = LineClient(daemon.port)
    first.expect(
        exactly(text.WELCOME, server="testhost", name="guest1", count=1)
    )  # --server-name given: it wins
    assert first.read_lines(2) == [
        text.NOTICE.format(text="Welcome to the LAN chat!"),
        text.NOTICE.format(text="Be nice. "),
    ]
    second = LineClient(daemon.port)
    second.expect(exactly(text.WELCOME, server="testhost", name="guest2", count=2))
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
    newcomer.expect(exactly(text.NOTICE, text="fresh news"))

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
        (
            'port = "nope:1"\n',
            "bad.toml, line 1: invalid port 'nope:1': Unknown endpoint type: 'nope'",
        ),
        (
            'rate = 1\nmetrics = "bogus:x"\n',
            "bad.toml, line 2: invalid metrics 'bogus:x': "
            "Unknown endpoint type: 'bogus'",
        ),
    ],
    ids=["bad-value", "unknown-key", "bad-toml", "bad-number", "port", "metrics"],
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


def test_settings_merge_defaults_then_file_then_command_line(tmp_path: Path) -> None:
    """One merge for start-up and reload: the command line wins over the file."""
    config = tmp_path / "chat.toml"
    config.write_text('rate = 3\nburst = 4\nport = "6000"\n')
    settings = load_settings(str(config), {"burst": 9})
    defaults = {p.name: p.default for p in PARAMETERS}
    assert settings == {
        **defaults,
        "rate": 3.0,
        "burst": 9,
        "port": ["tcp:6000:backlog=1024"],
    }
    assert load_settings(None, {})["port"] == [DEFAULT_PORT]
    assert load_settings(str(config), {"port": ["unix:chat.sock"]})["port"] == [
        "unix:chat.sock"
    ]


def test_start_up_settings_are_what_a_reload_of_the_same_file_gives(
    tmp_path: Path,
) -> None:
    """So a reload of an unchanged file finds nothing changed, ports included."""
    config = tmp_path / "chat.toml"
    config.write_text('port = ["6000", "tcp6:6001"]\nrate = 2\nmetrics = "9100"\n')
    options = Options()
    options.parseOptions(["--config", str(config), "--rate", "7", "--port", "6002"])
    assert options.settings() == load_settings(str(config), options.given)
    assert options["rate"] == 7.0
    assert options["port"] == ["tcp:6002:backlog=1024"]
    assert options["metrics"] == "tcp:9100:backlog=1024"


def test_an_abbreviated_option_on_the_command_line_wins_over_the_file(
    tmp_path: Path,
) -> None:
    """getopt takes --max-per for --max-per-ip; it is still the command line."""
    config = tmp_path / "chat.toml"
    config.write_text("max-per-ip = 1\nrate = 2\n")
    options = Options()
    options.parseOptions(["--config", str(config), "--max-per", "3", "--ra=4"])
    assert (options["max-per-ip"], options["rate"]) == (3, 4.0)
    assert options.given == {"max-per-ip": 3, "rate": 4.0}


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        ('port = "nope:1"', "invalid port 'nope:1': Unknown endpoint type: 'nope'"),
        (
            'metrics = "bogus:x"',
            "invalid metrics 'bogus:x': Unknown endpoint type: 'bogus'",
        ),
        ('rate = "fast"', "rate takes a number, 0 or more, not 'fast'"),
    ],
    ids=["port", "metrics", "rate"],
)
def test_sighup_with_an_invalid_value_reports_it_and_applies_nothing(
    start_daemon: StartDaemon, tmp_path: Path, bad_line: str, problem: str
) -> None:
    """Checked as start-up would: one line (file, line, problem), no change."""
    config = tmp_path / "chat.toml"
    config.write_text("max-line-length = 100\n")
    daemon = start_daemon("--config", str(config))
    sender = daemon.connect()
    config.write_text(f"max-line-length = 1000\n{bad_line}\n")
    daemon.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
    failed = wait_for(
        lambda: [m for m in messages(daemon.log()) if m.startswith("reload")],
        what="the reload in the log",
    )
    assert failed == [
        f"reload failed; keeping the current settings: {config}, line 2: {problem}"
    ]
    sender.send("x" * 150)
    sender.expect(r"^! Line too long \(over 100 bytes\)")  # nothing applied


def test_sighup_reports_a_changed_port_or_metrics_and_applies_the_rest(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """Ports and the metrics endpoint need a restart; the rest applies now."""
    config = tmp_path / "chat.toml"
    config.write_text('port = "tcp:0:interface=127.0.0.1"\nmax-line-length = 100\n')
    daemon = start_daemon("--config", str(config), default_port=None)
    sender, listener = LineClient(daemon.port), LineClient(daemon.port)
    listener.expect(exactly(text.WELCOME, server="testhost", name="guest2", count=2))
    config.write_text(
        'port = ["tcp:0:interface=127.0.0.1", "tcp:0:interface=127.0.0.1"]\n'
        'metrics = "tcp:0:interface=127.0.0.1"\n'
        "max-line-length = 1000\n"
    )
    daemon.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
    wait_for(lambda: "reloaded" in daemon.log(), what="the reload")
    assert [m for m in messages(daemon.log()) if "reload" in m] == [
        "reload: port changed: needs a restart "
        "(in force until then: tcp:0:interface=127.0.0.1)",
        "reload: metrics changed: needs a restart (in force until then: none)",
        f"reloaded {config}: settings applied to 2 connections",
    ]
    sender.send("y" * 150)
    listener.expect(r"^<guest1> y{150}$")  # the new limit, the same connection
    assert daemon.log().count("listening on") == 1  # no new port yet
