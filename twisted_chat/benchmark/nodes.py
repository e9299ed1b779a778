"""
Linked daemons for the benchmark: C{--nodes K} starts a redis-server (a
free loopback port, a temporary directory, nothing saved) and K daemons
linked through it (C{--redis}, C{--node-name nodeI}, C{--metrics}), waits
until each says it is linked with all the others, and stops them all, by
PID, after the run; several C{--target} name daemons already linked.

While the lines flow, L{Nodes.sample} reads the CPU time of each daemon,
of redis-server and of the load itself (and, for the daemons it started,
their link counters and redis-server's own figures per command), so the
report says where the time went.
"""

from __future__ import annotations

import contextlib
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from twisted_chat.backplane.resp import Arg, RedisError, Reply, ReplyParser
from twisted_chat.backplane.resp import encode_command as encode
from twisted_chat.benchmark.analysis import _stamps, percentile
from twisted_chat.benchmark.connect import where
from twisted_chat.benchmark.errors import BenchmarkError, describe, one_line
from twisted_chat.benchmark.load import STAMP_LENGTH, CpuSample, LoadResult
from twisted_chat.benchmark.proc import cpu_seconds, status_kib
from twisted_chat.benchmark.spread import Target, node_of

#: Each daemon's metrics endpoint, told apart in its log from its chat port
#: (tcp:0:interface=127.0.0.1:backlog=1024) by its description.
METRICS = "tcp:0:interface=127.0.0.1"
#: How long redis-server, and then the daemons' link, may take to come up.
START_SECONDS = 30.0
#: The link counters kept for each started daemon (chat_link_NAME_total).
LINK_COUNTERS = (
    "messages_published",
    "lines_published",
    "messages_received",
    "lines_received",
    "gaps",
    "lines_dropped",
    "reconnects",
)
#: Redis commands shown in the table, by the time they took, at most.
COMMANDS_SHOWN = 3
#: Readers of each node whose lines are looked at again for the latency
#: by path (on the sender's node, or through Redis), at most.
PATH_READERS = 10


class Started(Protocol):
    """A daemon the benchmark started (L{twisted_chat.benchmark.__main__.Daemon})."""

    port: int
    process: subprocess.Popen[bytes]
    workdir: Path

    def stop(self) -> None: ...


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


#: Ports tried for redis-server, at most (another process may take a free
#: port before redis-server binds it).
REDIS_ATTEMPTS = 3


class RedisServer:
    """
    redis-server on a free loopback port, in a temporary directory, saving
    nothing; a BenchmarkError, with its last word, if it does not start.
    """

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="twisted_chat-bench-redis-"))
        for attempt in range(1, REDIS_ATTEMPTS + 1):
            try:
                self._start()
                return
            except BenchmarkError:
                if attempt == REDIS_ATTEMPTS:
                    shutil.rmtree(self.workdir, ignore_errors=True)
                    raise

    def _start(self) -> None:
        self.port = _free_port()
        log_path = self.workdir / "redis.log"
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            "--logfile", str(log_path),
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_SECONDS
        while True:
            status = self.process.poll()
            if status is None and self._ours():
                return
            if status is not None or time.monotonic() > deadline:
                said = _last_line(log_path)
                self._end()
                how = (
                    f"within {START_SECONDS:g} s"
                    if status is None
                    else f"(exit status {status})"
                )
                raise BenchmarkError(
                    f"redis-server did not start {how}: {said or 'it said nothing'}"
                )
            time.sleep(0.02)

    def _ours(self) -> bool:
        """Whether the redis-server on our port answers, and is the one we started."""
        try:
            info = self.command(b"INFO", b"server")
        except (OSError, RedisError):
            return False
        text = info.decode("utf-8", "replace") if isinstance(info, bytes) else ""
        return f"process_id:{self.process.pid}\r" in text

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *args: Arg) -> Reply:
        """One command on a connection of its own; RedisError if refused."""
        parser = ReplyParser(64 * 1024 * 1024)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(encode(args))
            while True:
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("redis-server closed the connection")
                replies = parser.feed(data)
                if replies:
                    if isinstance(replies[0], RedisError):
                        raise replies[0]
                    return replies[0]

    def stop(self) -> None:
        """SIGTERM by PID (SIGKILL if it lingers); its directory removed."""
        self._end()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _end(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _last_line(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    return one_line(lines[-1]) if lines else ""


#: Straight to loopback, whatever http_proxy says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def scrape(port: int) -> dict[str, float]:
    """A daemon's metrics (name: value, unlabelled ones), or BenchmarkError."""
    try:
        with _DIRECT.open(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
            text = page.read().decode("utf-8", "replace")
    except OSError as error:
        raise BenchmarkError(f"reading a daemon's metrics: {describe(error)}") from None
    found: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name and not name.startswith("#") and "{" not in name:
            with contextlib.suppress(ValueError):
                found[name] = float(value)
    return found


def _commandstats(info: Reply) -> dict[str, dict[str, float]]:
    """INFO commandstats as {command: {calls, usec}}."""
    stats: dict[str, dict[str, float]] = {}
    text = info.decode("utf-8", "replace") if isinstance(info, bytes) else ""
    for match in re.finditer(r"^cmdstat_(\S+?):calls=(\d+),usec=(\d+)", text, re.M):
        stats[match.group(1)] = {
            "calls": int(match.group(2)),
            "usec": int(match.group(3)),
        }
    return stats


@dataclass
class _Sample:
    """What L{Nodes.sample} read at one moment."""

    at: float
    daemons: list[float | None]
    redis: float | None
    load: float
    links: list[dict[str, float]] = field(default_factory=list)


@dataclass
class Nodes:
    """The linked daemons of a run, as targets, and what they used."""

    targets: list[Target]
    pids: list[int | None]
    names: list[str]
    redis: RedisServer | None = None
    daemons: list[Started] = field(default_factory=list)
    #: Each started daemon's metrics port.
    metrics: list[int] = field(default_factory=list)
    samples: list[_Sample] = field(default_factory=list)
    commands: dict[str, dict[str, float]] = field(default_factory=dict)

    def sample(self) -> CpuSample:
        """
        The daemons' CPU seconds added up, and the load's own (for the run's
        C{server} and C{load} figures); each process's kept for L{report}.
        The first call starts redis-server's figures per command afresh,
        the second reads them.
        """
        usage = resource.getrusage(resource.RUSAGE_SELF)
        daemons = [cpu_seconds(pid) if pid else None for pid in self.pids]
        redis = cpu_seconds(self.redis.process.pid) if self.redis else None
        links = [scrape(port) for port in self.metrics]
        if self.redis is not None:
            if not self.samples:
                self.redis.command(b"CONFIG", b"RESETSTAT")
            else:
                self.commands = _commandstats(
                    self.redis.command(b"INFO", b"commandstats")
                )
        self.samples.append(
            _Sample(
                time.monotonic(),
                daemons,
                redis,
                usage.ru_utime + usage.ru_stime,
                links,
            )
        )
        known = [seconds for seconds in daemons if seconds is not None]
        return (sum(known) if len(known) == len(daemons) else None), self.samples[
            -1
        ].load

    def peaks(self) -> list[int | None]:
        """Each daemon's peak RSS in KiB, while it runs."""
        return [status_kib(pid, "VmHWM") if pid else None for pid in self.pids]

    def report(self, result: LoadResult, peaks: Sequence[int | None]) -> dict[str, Any]:
        """
        Each node's clients, CPU, memory and link figures; redis-server's;
        the latency of lines from a sender on the reader's own node, and
        from one on another node (through Redis).
        """
        plan = result.plan
        nodes = len(self.targets)
        clients = [0] * nodes
        senders = [0] * nodes
        for number in range(plan.clients):
            node = node_of(number, plan.rooms, nodes)
            clients[node] += 1
            senders[node] += number < plan.senders
        before, after = [*self.samples, None, None][:2]
        seconds = after.at - before.at if before and after else 0.0

        def used(first: float | None, last: float | None) -> tuple[Any, Any]:
            if first is None or last is None or not seconds:
                return None, None
            return round(last - first, 3), round(100 * (last - first) / seconds, 1)

        report: list[dict[str, Any]] = []
        for k, (host, port) in enumerate(self.targets):
            cpu, percent = (
                used(before.daemons[k], after.daemons[k])
                if before and after
                else (None, None)
            )
            entry: dict[str, Any] = {
                "node": self.names[k],
                "target": where(host, port),
                "pid": self.pids[k],
                "clients": clients[k],
                "senders": senders[k],
                "cpu_seconds": cpu,
                "cpu_percent": percent,
                "peak_rss_kib": peaks[k],
            }
            if before and after and k < len(after.links):
                entry["link"] = {
                    name: int(
                        after.links[k].get(f"chat_link_{name}_total", 0)
                        - before.links[k].get(f"chat_link_{name}_total", 0)
                    )
                    for name in LINK_COUNTERS
                }
            report.append(entry)
        redis: dict[str, Any] | None = None
        if self.redis is not None:
            cpu, percent = (
                used(before.redis, after.redis) if before and after else (None, None)
            )
            redis = {
                "url": self.redis.url,
                "pid": self.redis.process.pid,
                "cpu_seconds": cpu,
                "cpu_percent": percent,
                "peak_rss_kib": status_kib(self.redis.process.pid, "VmHWM"),
                "commands": {
                    name: {
                        **figures,
                        "usec_per_call": round(figures["usec"] / figures["calls"], 2)
                        if figures["calls"]
                        else None,
                    }
                    for name, figures in sorted(
                        self.commands.items(), key=lambda item: -item[1]["usec"]
                    )
                },
            }
        return {
            "nodes": report,
            "redis": redis,
            "latency_ms_by_path": latency_by_path(result, nodes),
        }

    def stop(self) -> None:
        """Every daemon, then redis-server, stopped by PID (those started here)."""
        try:
            for daemon in self.daemons:
                daemon.stop()
        finally:
            if self.redis is not None:
                self.redis.stop()


def latency_by_path(result: LoadResult, nodes: int) -> dict[str, Any]:
    """
    Latency percentiles of deliveries from a sender on the reader's own node
    ("same_node") and from one on another node ("other_node"), over at most
    L{PATH_READERS} readers of each node (the first ones).
    """
    plan = result.plan
    padding = plan.size - STAMP_LENGTH - 1
    looked: dict[int, int] = {}
    paths: dict[str, list[int]] = {"same_node": [], "other_node": []}
    for reader, recording in zip(result.readers, result.received, strict=True):
        node = node_of(reader, plan.rooms, nodes)
        if looked.get(node, 0) >= PATH_READERS:
            continue
        looked[node] = looked.get(node, 0) + 1
        for arrival, found, _ in _stamps(recording, padding):
            for sender, _, sent in found:
                same = node_of(int(sender), plan.rooms, nodes) == node
                paths["same_node" if same else "other_node"].append(arrival - int(sent))
    figures: dict[str, Any] = {}
    for path, latencies in paths.items():
        latencies.sort()
        figures[path] = {
            "deliveries": len(latencies),
            **{
                name: None if value is None else round(value / 1e6, 3)
                for name, value in (
                    ("p50", percentile(latencies, 0.50)),
                    ("p99", percentile(latencies, 0.99)),
                    ("max", latencies[-1] if latencies else None),
                )
            },
        }
    return figures


def given_nodes(targets: Sequence[Target], pids: Sequence[int]) -> Nodes:
    """Daemons already running (and linked), with their PIDs if given."""
    return Nodes(
        targets=list(targets),
        pids=list(pids) if pids else [None] * len(targets),
        names=[where(host, port) for host, port in targets],
    )


def start_nodes(
    count: int,
    options: Sequence[str],
    start_daemon: Callable[[list[str]], Started],
    progress: Callable[[str], None] | None = None,
) -> Nodes:
    """
    A redis-server and C{count} daemons linked through it, each started by
    C{start_daemon} with C{options} and its own link options; once every
    one says it is linked with all the others. Whatever fails, all that was
    started is stopped and a BenchmarkError says what failed.
    """
    redis = RedisServer()
    nodes = Nodes(targets=[], pids=[], names=[], redis=redis)
    try:
        for number in range(1, count + 1):
            name = f"node{number}"
            daemon = start_daemon(
                [
                    *options,
                    f"--redis={redis.url}",
                    f"--node-name={name}",
                    f"--metrics={METRICS}",
                ]
            )
            nodes.daemons.append(daemon)
            nodes.targets.append(("127.0.0.1", daemon.port))
            nodes.pids.append(daemon.process.pid)
            nodes.names.append(name)
            nodes.metrics.append(_metrics_port(daemon, name))
        _wait_linked(nodes, count)
        if progress:
            progress(
                f"{count} daemon{'s' if count > 1 else ''} linked through "
                f"redis-server on 127.0.0.1:{redis.port}: "
                + ", ".join(
                    f"{name} on {port}"
                    for name, (_, port) in zip(nodes.names, nodes.targets, strict=True)
                )
            )
    except BaseException:
        nodes.stop()
        raise
    return nodes


def _metrics_port(daemon: Started, name: str) -> int:
    """The port of the daemon's metrics, as its log says once it listens."""
    log = daemon.workdir / "twistd.log"
    pattern = re.compile(rf"listening on {re.escape(METRICS)} \((\d+)\)")
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            match = pattern.search(log.read_text(errors="replace"))
        except OSError:
            match = None
        if match:
            return int(match.group(1))
        if daemon.process.poll() is not None or time.monotonic() > deadline:
            raise BenchmarkError(f"{name} never served its metrics")
        time.sleep(0.05)


def _wait_linked(nodes: Nodes, count: int) -> None:
    """Until every daemon's metrics say it is linked and hears all the others."""
    deadline = time.monotonic() + START_SECONDS
    while True:
        figures = [scrape(port) for port in nodes.metrics]
        lagging = [
            (name, found)
            for name, found in zip(nodes.names, figures, strict=True)
            if found.get("chat_link_up") != 1
            or found.get("chat_link_daemons", 0) < count - 1
        ]
        if not lagging:
            return
        if time.monotonic() > deadline:
            name, found = lagging[0]
            raise BenchmarkError(
                f"{name} was not linked with the other daemons within "
                f"{START_SECONDS:g} s (chat_link_up "
                f"{found.get('chat_link_up', 0):g}, hearing "
                f"{found.get('chat_link_daemons', 0):g} of {count - 1})"
            )
        time.sleep(0.05)


def table_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The rows the linked nodes add to the table (none for one daemon)."""
    nodes = report.get("nodes")
    if not nodes:
        return []
    redis = report.get("redis")

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    names = [n["node"] for n in nodes] + (["redis"] if redis else []) + ["load"]
    used = [n["cpu_seconds"] for n in nodes]
    used += [redis["cpu_seconds"]] if redis else []
    used.append(report.get("load_cpu_seconds"))
    rows = [
        (
            "nodes",
            f"{len(nodes)}"
            + (f" linked through {redis['url']}" if redis else "")
            + ": "
            + ", ".join(
                f"{n['node']} {n['clients']} clients ({n['senders']} sending)"
                for n in nodes
            ),
        ),
        ("CPU s, " + " / ".join(names), " / ".join(map(seconds, used))),
    ]
    paths = report.get("latency_ms_by_path") or {}
    if paths.get("other_node", {}).get("deliveries"):

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f} ms"

        rows.append(
            (
                "p50/p99 same node, other node",
                " ; ".join(
                    f"{ms(paths[path]['p50'])} / {ms(paths[path]['p99'])}"
                    for path in ("same_node", "other_node")
                ),
            )
        )
    links = [n["link"] for n in nodes if "link" in n]
    if links:
        batches = []
        for n in nodes:
            published = n["link"]["messages_published"]
            lines = n["link"]["lines_published"]
            each = f"{lines / published:.1f}" if published else "-"
            batches.append(f"{n['node']} {each}")
        rows.append(
            (
                "link lines per message",
                ", ".join(batches)
                + f"; gaps {sum(link['gaps'] for link in links)}, dropped "
                f"{sum(link['lines_dropped'] for link in links)}",
            )
        )
    if redis and redis["commands"]:
        busiest = list(redis["commands"].items())[:COMMANDS_SHOWN]
        rows.append(
            (
                "redis busiest commands",
                ", ".join(
                    f"{name.upper()} {figures['calls']:,} x "
                    f"{figures['usec_per_call']:g} us"
                    for name, figures in busiest
                ),
            )
        )
    return rows
