"""
C{python -m twisted_chat.benchmark}: start the daemon (or target any line
chat on host:port), put a load on it from this process, and report
deliveries/s, latency, losses and the server's peak memory.

It ends with status 0 and the report, 2 and one line for bad arguments
(L{twisted_chat.benchmark.options}), or 1 and one line saying what failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from twisted_chat.benchmark.analysis import analyse
from twisted_chat.benchmark.connect import where
from twisted_chat.benchmark.errors import BenchmarkError, describe, one_line
from twisted_chat.benchmark.load import CpuSample, LoadResult, run_load
from twisted_chat.benchmark.nodes import given_nodes, start_nodes, table_rows
from twisted_chat.benchmark.options import DAEMON_OPTIONS, parse_arguments, plan_of
from twisted_chat.benchmark.proc import cpu_seconds, status_kib


def progress(message: str) -> None:
    print(f"[benchmark] {message}", file=sys.stderr, flush=True)


class Daemon:
    """
    C{twistd -n chat} on a free loopback port, for the length of a run; a
    BenchmarkError, with its last word, if it does not start.
    """

    def __init__(self, extra: list[str], web: bool = False) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="twisted_chat-bench-"))
        log_path = self.workdir / "twistd.log"
        errors_path = self.workdir / "stderr"
        twistd = Path(sys.executable).parent / "twistd"
        command = [
            str(twistd) if twistd.exists() else shutil.which("twistd") or "twistd",
            "-n",
            "--pidfile=",
            "--logfile",
            str(log_path),
            "chat",
            "--port",
            "tcp:0:interface=127.0.0.1:backlog=1024",
            *DAEMON_OPTIONS,
            *(["--web", "tcp:0:interface=127.0.0.1"] if web else []),
            *extra,
        ]
        #: Where it serves the browser page's WebSocket (with C{web}).
        self.web_port = 0
        with errors_path.open("wb") as errors:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stderr=errors
            )
        deadline = time.monotonic() + 30
        while True:
            log = _read(log_path)
            match = re.search(r"listening on (?:tcp|ssl)\S* \((\d+)\)", log)
            page = re.search(r"chat page at http://127\.0\.0\.1:(\d+)/", log)
            if match and (page or not web):
                self.port = int(match.group(1))
                self.web_port = int(page.group(1)) if page else 0
                return
            status = self.process.poll()
            if status is not None or time.monotonic() > deadline:
                said = _last_line(_read(errors_path)) or _last_line(log)
                self.stop()
                how = "within 30 s" if status is None else f"(exit status {status})"
                raise BenchmarkError(
                    f"the daemon did not start {how}: {said or 'it said nothing'}"
                )
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


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _last_line(text: str) -> str:
    """The last line with something on it, its log prefix (time, system) cut."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    return one_line(re.sub(r"^\S+ \S+ \[[^]]*\] ", "", lines[-1]))


def raise_own_descriptor_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_sampler(pid: int | None) -> CpuSample:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (cpu_seconds(pid) if pid else None), usage.ru_utime + usage.ru_stime


def _run_loop(coroutine: Coroutine[Any, Any, LoadResult]) -> LoadResult:
    """asyncio.run, on uvloop when it is installed (about twice as fast)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    # Typed as LoadResult whether or not uvloop's own type hints are there.
    result: LoadResult = uvloop.run(coroutine)
    return result


def run(arguments: argparse.Namespace) -> dict[str, Any]:
    """One run as the arguments say; the report. BenchmarkError if it fails."""
    raise_own_descriptor_limit()
    daemon = None
    # Linked daemons: started (--nodes), or given (several --target).
    nodes = None
    if arguments.nodes:
        nodes = start_nodes(arguments.nodes, arguments.daemon_option, Daemon, progress)
    elif len(arguments.targets) > 1:
        nodes = given_nodes(arguments.targets, arguments.server_pids)
    linked: dict[str, Any] = {}
    try:
        if nodes is not None:
            (host, port), pid = nodes.targets[0], None
        elif arguments.target:
            host, port = arguments.target
            pid = arguments.server_pid
        else:
            daemon = Daemon(arguments.daemon_option, web=bool(arguments.web_share))
            host, port, pid = "127.0.0.1", daemon.port, daemon.process.pid
        plan = plan_of(arguments, host, port)
        if nodes is not None:
            plan.targets = list(nodes.targets)
        if plan.web_share and arguments.target:
            plan.web_host, plan.web_port = arguments.web_target
        elif plan.web_share:
            assert daemon is not None
            plan.web_host, plan.web_port = host, daemon.web_port
        rss_before = status_kib(pid, "VmRSS") if pid else None
        sample = nodes.sample if nodes else lambda: cpu_sampler(pid)
        result = _run_loop(run_load(plan, progress, sample))
        rss_after = status_kib(pid, "VmRSS") if pid else None
        peak = status_kib(pid, "VmHWM") if pid else None
        if nodes is not None:
            peaks = nodes.peaks()
            peak = None if None in peaks else sum(p or 0 for p in peaks)
            linked = nodes.report(result, peaks)
    finally:
        if daemon is not None:
            daemon.stop()
        if nodes is not None:
            nodes.stop()
    if nodes is not None and nodes.redis is not None:
        label = f"twisted_chat, {len(nodes.targets)} linked"
    elif nodes is not None:
        label = " + ".join(nodes.names)
    else:
        label = "twisted_chat" if daemon else where(host, port)
    report = {
        "label": arguments.label or label,
        "plan": vars(plan),
        "connect": {
            "connected": result.connected,
            "seconds": round(result.connect_seconds, 3),
            # Attempts made again, by what ended the one before.
            "errors": result.connect_errors,
        },
        "sent": sum(result.sent),
        "stopped_by": result.stopped_by,
        "send_seconds": round(result.send_seconds, 3),
        "window_seconds": round(result.window_seconds, 3),
        "connections_lost": result.lost_connections,
        "server": {
            "rss_kib_before": rss_before,
            "rss_kib_after": rss_after,
            "peak_rss_kib": peak,
            "cpu_percent": result.cpu_percent[0],
            "cpu_seconds": result.cpu_seconds[0],
        },
        "load_cpu_percent": result.cpu_percent[1],
        "load_cpu_seconds": result.cpu_seconds[1],
        **analyse(result),
        **linked,
    }
    return report


#: Why sending ended early, for the table.
EARLY_STOPS = {
    "memory": "the readers' recordings were full (--memory)",
    "timeout": "--timeout",
}


def table(report: dict[str, Any]) -> str:
    """The report as a table a person reads."""
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
            f"{plan['clients']} clients"
            + (f" in {plan['rooms']} rooms" if plan["rooms"] > 1 else "")
            + f", {plan['senders']} senders "
            + (
                f"for {plan['duration']:g} s, {report['sent']:,} lines"
                if plan["duration"]
                else f"x {plan['lines']} lines"
            )
            + f" of {plan['size']} B"
            + (
                f" at {plan['rate']:g}/s"
                if plan["rate"]
                else f", {plan['batch']} per write"
            )
            + (f", {plan['nonreaders']} never reading" if plan["nonreaders"] else "")
            + (
                f", {plan['web_share']:.0%} on WebSockets"
                if plan.get("web_share")
                else ""
            ),
        ),
        (
            "connect",
            f"{report['connect']['connected']} in {report['connect']['seconds']} s",
        ),
        *(
            [("stopped", f"after {report['send_seconds']} s: {early}")]
            if (early := EARLY_STOPS.get(report["stopped_by"]))
            else []
        ),
        *table_rows(report),
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
        *_room_rows(report),
        ("server peak RSS", "-" if peak is None else f"{peak / 1024:.1f} MiB"),
        (
            "CPU while sending, server / load",
            f"{percent(server['cpu_percent'])} / {percent(report['load_cpu_percent'])}"
            " of one core",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


#: Rooms named one by one in the table when lines went astray, at most.
ROOMS_SHOWN = 5


def _room_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """
    With more than one room: the rooms, the foreign lines (from another
    room's senders) in all, and each room where something went astray.
    """
    rooms = report["rooms"]
    if len(rooms) < 2:
        return []

    def spread(key: str) -> str:
        least, most = min(r[key] for r in rooms), max(r[key] for r in rooms)
        return f"{least}" if least == most else f"{least}-{most}"

    rows = [
        (
            "rooms",
            f"{len(rooms)} (#{rooms[0]['room']} to #{rooms[-1]['room']}), "
            f"{spread('clients')} clients each, {spread('senders')} sending; "
            f"{report['foreign']} foreign lines",
        )
    ]
    astray = [r for r in rooms if any(r[key] for key in ASTRAY)]
    for room in astray[:ROOMS_SHOWN]:
        rows.append(
            (
                f"  #{room['room']}",
                " / ".join(str(room[key]) for key in ASTRAY)
                + " lost/dup/reordered/corrupt/foreign",
            )
        )
    if len(astray) > ROOMS_SHOWN:
        rows.append(("  ...", f"and {len(astray) - ROOMS_SHOWN} more rooms"))
    return rows


#: What goes astray, as a room's report counts it.
ASTRAY = ("lost", "duplicate", "out_of_order", "corrupt", "foreign")


def _interrupted(number: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """The command; exits 2 on bad arguments, 1 with one line if a run fails."""
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    # Stopped from outside, it still stops what it started (by PID).
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGHUP, _interrupted)
    try:
        report = run(arguments)
        if arguments.json == "-":
            print(json.dumps(report))
            return
        if arguments.json:
            Path(arguments.json).write_text(json.dumps(report, indent=2) + "\n")
    except BenchmarkError as error:
        raise SystemExit(f"benchmark: {one_line(str(error))}") from None
    except KeyboardInterrupt:
        raise SystemExit("benchmark: interrupted") from None
    except Exception as error:
        raise SystemExit(
            f"benchmark: failed with {type(error).__name__}: {describe(error)}"
        ) from None
    print(table(report))


if __name__ == "__main__":
    main()
