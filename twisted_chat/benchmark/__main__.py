"""
C{python -m twisted_chat.benchmark}: start the daemon (or target any line
chat on host:port), put a load on it from this process, and report
deliveries/s, latency, losses and the server's peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from twisted_chat.benchmark.load import CpuSample, LoadPlan, analyse, run_load

DAEMON_OPTIONS = ["--rate", "0", "--max-per-ip", "0", "--max-clients", "0"]


def progress(message: str) -> None:
    print(f"[benchmark] {message}", file=sys.stderr, flush=True)


def status_kib(pid: int, field: str) -> int | None:
    """A VmRSS/VmHWM-style field of /proc/PID/status, in KiB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else None


class Daemon:
    """C{twistd -n chat} on a free loopback port, for the length of a run."""

    def __init__(self, extra: list[str]) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="twisted_chat-bench-"))
        twistd = Path(sys.executable).parent / "twistd"
        command = [
            str(twistd) if twistd.exists() else shutil.which("twistd") or "twistd",
            "-n",
            "--pidfile=",
            "--logfile",
            str(self.workdir / "twistd.log"),
            "chat",
            "--port",
            "tcp:0:interface=127.0.0.1:backlog=1024",
            *DAEMON_OPTIONS,
            *extra,
        ]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            log = (
                (self.workdir / "twistd.log").read_text(errors="replace")
                if (self.workdir / "twistd.log").exists()
                else ""
            )
            match = re.search(r"listening on (?:tcp|ssl)\S* \((\d+)\)", log)
            if match:
                self.port = int(match.group(1))
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"benchmark: the daemon did not start: {log[-500:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m twisted_chat.benchmark",
        description=(
            "Load a line chat server and measure it. Without --target it starts "
            f"twistd chat on 127.0.0.1 with {' '.join(DAEMON_OPTIONS)}."
        ),
    )
    parser.add_argument(
        "--target", metavar="HOST:PORT", help="an already running server"
    )
    parser.add_argument(
        "--server-pid", type=int, help="its process, for memory figures"
    )
    parser.add_argument("--label", default="", help="a name for this run in the report")
    parser.add_argument("-n", "--clients", type=int, default=100)
    parser.add_argument("-s", "--senders", type=int, default=10)
    parser.add_argument(
        "-m", "--lines", type=int, default=2000, help="lines per sender"
    )
    parser.add_argument(
        "--size", type=int, default=64, help="bytes per line, newline included"
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, help="lines/s per sender (0: flat out)"
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=4,
        help="lines per write when flat out (4, as ../shared/bench/loadgen.py)",
    )
    parser.add_argument(
        "--nonreaders", type=int, default=0, help="clients that never read"
    )
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument(
        "--json", metavar="FILE", help="write the result as JSON ('-': stdout)"
    )
    parser.add_argument(
        "--daemon-option",
        action="append",
        default=[],
        metavar="OPTION",
        help="pass an option to the started daemon (repeatable)",
    )
    arguments = parser.parse_args(argv)
    if arguments.batch < 1:
        parser.error("--batch must be at least 1")
    if arguments.size < 40:
        parser.error("--size must be at least 40 bytes")
    if arguments.senders + arguments.nonreaders > arguments.clients:
        parser.error("senders and non-readers must fit in --clients")
    return arguments


def raise_own_descriptor_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


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


def cpu_sampler(pid: int | None) -> CpuSample:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (cpu_seconds(pid) if pid else None), usage.ru_utime + usage.ru_stime


def _run_loop(coroutine: Any) -> Any:
    """asyncio.run, on uvloop when it is installed (about twice as fast)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def run(arguments: argparse.Namespace) -> dict[str, Any]:
    raise_own_descriptor_limit()
    daemon = None
    if arguments.target:
        host, _, port = arguments.target.rpartition(":")
        pid = arguments.server_pid
    else:
        daemon = Daemon(arguments.daemon_option)
        host, port, pid = "127.0.0.1", str(daemon.port), daemon.process.pid
    plan = LoadPlan(
        host=host or "127.0.0.1",
        port=int(port),
        clients=arguments.clients,
        senders=arguments.senders,
        lines=arguments.lines,
        size=arguments.size,
        rate=arguments.rate,
        batch=arguments.batch,
        nonreaders=arguments.nonreaders,
        timeout=arguments.timeout,
    )
    try:
        rss_before = status_kib(pid, "VmRSS") if pid else None
        result = _run_loop(run_load(plan, progress, lambda: cpu_sampler(pid)))
        rss_after = status_kib(pid, "VmRSS") if pid else None
        peak = status_kib(pid, "VmHWM") if pid else None
    finally:
        if daemon is not None:
            daemon.stop()
    report = {
        "label": arguments.label or ("twisted_chat" if daemon else arguments.target),
        "plan": vars(plan),
        "connect": {
            "connected": result.connected,
            "seconds": round(result.connect_seconds, 3),
            "errors": result.connect_errors,
        },
        "send_seconds": round(result.send_seconds, 3),
        "window_seconds": round(result.window_seconds, 3),
        "connections_lost": result.lost_connections,
        "server": {
            "rss_kib_before": rss_before,
            "rss_kib_after": rss_after,
            "peak_rss_kib": peak,
            "cpu_percent": result.cpu_percent[0],
        },
        "load_cpu_percent": result.cpu_percent[1],
        **analyse(result),
    }
    return report


def table(report: dict[str, Any]) -> str:
    plan, latency, server = report["plan"], report["latency_ms"], report["server"]

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} ms"

    def percent(value: float | None) -> str:
        return "-" if value is None else f"{value:g} %"

    peak = server["peak_rss_kib"]
    rows = [
        ("server", report["label"]),
        (
            "load",
            f"{plan['clients']} clients, {plan['senders']} senders x {plan['lines']} "
            f"lines of {plan['size']} B"
            + (
                f" at {plan['rate']:g}/s"
                if plan["rate"]
                else f", {plan['batch']} per write"
            )
            + (f", {plan['nonreaders']} never reading" if plan["nonreaders"] else ""),
        ),
        (
            "connect",
            f"{report['connect']['connected']} in {report['connect']['seconds']} s",
        ),
        ("deliveries/s", f"{report['deliveries_per_second']:,}"),
        (
            "latency p50/p99/max",
            f"{ms(latency['p50'])} / {ms(latency['p99'])} / {ms(latency['max'])}",
        ),
        (
            "lost/dup/reordered/corrupt",
            " / ".join(
                str(report[key])
                for key in ("lost", "duplicate", "out_of_order", "corrupt")
            ),
        ),
        ("server peak RSS", "-" if peak is None else f"{peak / 1024:.1f} MiB"),
        (
            "CPU while sending, server / load",
            f"{percent(server['cpu_percent'])} / {percent(report['load_cpu_percent'])}"
            " of one core",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        report = run(arguments)
    except (OSError, RuntimeError, TimeoutError) as error:
        raise SystemExit(f"benchmark: {error}") from None
    if arguments.json == "-":
        print(json.dumps(report))
        return
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))


if __name__ == "__main__":
    main()
