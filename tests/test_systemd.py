"""Socket activation through a launcher that does what systemd does."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import DEADLINE_SECONDS, LineClient, bin_command, kill_quietly

LAUNCHER = Path(__file__).with_name("systemd_launcher.py")
CONTRIB = Path(__file__).resolve().parent.parent / "contrib" / "systemd"


@pytest.mark.parametrize(
    "endpoint", ["systemd:domain=INET:index=0", "systemd:domain=INET:name=chat"]
)
def test_daemon_adopts_the_inherited_socket(tmp_path: Path, endpoint: str) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            str(LAUNCHER),
            "127.0.0.1",
            "chat",
            bin_command("twistd"),
            "-n",
            "--pidfile=",
            "--logfile",
            "chat.log",
            "chat",
            "--port",
            endpoint,
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        first, second = LineClient(port), LineClient(port)
        first.expect(r"^\*\*\* Welcome")
        second.expect(r"^\*\*\* Welcome")
        first.send("/nick via-systemd")
        second.expect(r"^\*\*\* guest1 is now known as via-systemd$")
        process.send_signal(signal.SIGTERM)
        assert process.wait(DEADLINE_SECONDS) == -signal.SIGTERM
        assert f"listening on {endpoint}" in (tmp_path / "chat.log").read_text()
    finally:
        kill_quietly(process)  # type: ignore[arg-type]


def test_no_inherited_socket_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [bin_command("twistd"), "-n", "chat", "--port", "systemd:domain=INET:index=0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(
        "twistd chat: invalid --port 'systemd:domain=INET:index=0': "
        "no socket inherited from systemd"
    )
    assert result.stderr.count("\n") == 1


def test_unit_files_use_socket_activation_with_a_named_socket() -> None:
    socket_unit = (CONTRIB / "twisted-chat.socket").read_text()
    service = (CONTRIB / "twisted-chat.service").read_text()
    assert "FileDescriptorName=" in socket_unit
    assert "--port systemd:domain=INET6:index=0" in service
    for hardening in ("DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict"):
        assert hardening in service
