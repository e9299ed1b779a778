"""What /proc tells of a process: its CPU time and its memory."""

from __future__ import annotations

import os
import re
from pathlib import Path


def status_kib(pid: int, field: str) -> int | None:
    """A VmRSS/VmHWM-style field of /proc/PID/status, in KiB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of process C{pid} so far, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # utime and stime are fields 14 and 15 of stat(5); the command name
    # before them, in parentheses, may itself hold spaces.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
