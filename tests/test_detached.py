"""The daemon detached: pidfile, log file, SIGUSR1 rotation, one instance."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from tests.support import LineClient, bin_command, run_command, wait_for


def test_detached_daemon_with_pidfile_rotation_and_a_single_instance(
    tmp_path: Path,
) -> None:
    start = [
        bin_command("twistd"),
        "--pidfile",
        "chat.pid",
        "--logfile",
        "chat.log",
        "chat",
        "--port",
        "tcp:0:interface=127.0.0.1",
    ]
    result = run_command(start, cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # the parent returns at once
    pidfile, log = tmp_path / "chat.pid", tmp_path / "chat.log"
    pid = int(
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="pid")
    )
    try:
        port = int(
            wait_for(
                lambda: re.search(r"listening on tcp\S* \((\d+)\)", log.read_text()),
                what="the port in the log",
            ).group(1)
        )
        LineClient(port).expect(r"^\* Welcome")
        second = run_command(start, cwd=tmp_path)
        assert second.returncode == 1
        assert (
            f"Another twistd server is running, PID {pid}"
            in second.stdout + second.stderr
        )
        os.kill(pid, signal.SIGUSR1)
        wait_for(lambda: (tmp_path / "chat.log.1").exists(), what="the rotated log")
        assert "listening on tcp" in (tmp_path / "chat.log.1").read_text()
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not pidfile.exists(), what="the pidfile to go")
