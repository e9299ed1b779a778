"""
The benchmark's command line. Every argument is checked before anything
starts: a bad one, or a combination that cannot run, ends the program with
one line saying which and why, and exit status 2, as argparse does.
"""

from __future__ import annotations

import argparse
import math
import resource
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from twisted_chat.benchmark.load import (
    MOST_LINES,
    MOST_SENDERS,
    STAMP_LENGTH,
    LoadPlan,
    in_room,
    recording_bytes,
    room_name,
)

PROG = "python -m twisted_chat.benchmark"
DAEMON_OPTIONS = ["--rate", "0", "--max-per-ip", "0", "--max-clients", "0"]
#: The started daemon's longest line, unless a --daemon-option changes it.
DAEMON_LINE_LIMIT = 2048
#: Descriptors the process needs besides one per client.
SPARE_DESCRIPTORS = 64
MIB = 1024**2
#: The load generator's peak memory for each byte its readers keep: the
#: analysis holds every delivery's latency, and a reader's stamps at a time.
PEAK_PER_RECORDED = 1.7
DEFAULT_LINES = 2000
#: The most daemons --nodes starts.
MOST_NODES = 16
#: What --nodes gives each daemon itself (L{twisted_chat.benchmark.nodes}).
LINK_OPTIONS = ("--redis", "--node-name", "--metrics")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage), status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def whole(least: int, most: int | None = None, why: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number from C{least} to C{most}, C{why} said."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a whole number"
            ) from None
        if value < least:
            raise argparse.ArgumentTypeError(
                f"must be at least {least}{why}, not {value}"
            )
        if most is not None and value > most:
            raise argparse.ArgumentTypeError(f"must be at most {most}, not {value}")
        return value

    return convert


def seconds(text: str) -> float:
    """An argparse type: a number of seconds, more than 0."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return value


def line_rate(text: str) -> float:
    """An argparse type: lines per second, 0 for flat out."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"must be 0 (flat out) or more lines/s, not {text}"
        )
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def target(text: str) -> tuple[str, int]:
    """An argparse type: HOST:PORT (C{[ADDRESS]:PORT} for IPv6), resolvable."""
    host, colon, port_text = text.rpartition(":")
    if not colon or not host or not port_text:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"port {port_text!r} in {text!r} is not a number"
        ) from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"port {port} in {text!r} is not from 1 to 65535"
        )
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise argparse.ArgumentTypeError(f"cannot resolve {host!r}: {reason}") from None
    return host, port


def share(text: str) -> float:
    """An argparse type: a fraction from 0 to 1."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, not {text}")
    return value


def process_id(text: str) -> int:
    """An argparse type: the id of a process that exists."""
    pid = whole(1)(text)
    if not Path(f"/proc/{pid}").exists():
        raise argparse.ArgumentTypeError(f"no process {pid}")
    return pid


def json_path(text: str) -> str:
    """An argparse type: '-', or a file in a directory that exists."""
    if text != "-" and not Path(text).resolve().parent.is_dir():
        raise argparse.ArgumentTypeError(
            f"no directory {str(Path(text).parent)!r} to write {text!r} in"
        )
    return text


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG,
        description=(
            "Load a line chat server and measure it. Without --target it starts "
            f"twistd chat on 127.0.0.1 with {' '.join(DAEMON_OPTIONS)}."
        ),
    )
    add = parser.add_argument
    add(
        "--target",
        metavar="HOST:PORT",
        type=target,
        action="append",
        help="an already running server; repeated, linked daemons to spread "
        "the clients over",
    )
    add(
        "--server-pid",
        type=process_id,
        action="append",
        help="its process, for memory and CPU (with several --target, one each)",
    )
    add(
        "--nodes",
        type=whole(1, MOST_NODES),
        metavar="K",
        help="start a redis-server and K daemons linked through it, and "
        "spread the clients over them",
    )
    add("--label", default="", help="a name for this run in the report")
    add("-n", "--clients", type=whole(2), default=100)
    add("-s", "--senders", type=whole(1, MOST_SENDERS), default=10)
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument(
        "-m",
        "--lines",
        type=whole(1, MOST_LINES),
        help=f"lines per sender (default {DEFAULT_LINES})",
    )
    amount.add_argument(
        "--duration",
        type=seconds,
        metavar="SECONDS",
        help="send for this long instead of a number of lines",
    )
    add(
        "--size",
        type=whole(STAMP_LENGTH + 1, why=" bytes (the stamp and the newline)"),
        default=64,
        help=f"bytes per line, newline included (at least {STAMP_LENGTH + 1})",
    )
    add("--rate", type=line_rate, default=0.0, help="lines/s per sender (0: flat out)")
    add(
        "--batch",
        type=whole(1),
        default=4,
        help="lines per write when flat out (4, as ../shared/bench/loadgen.py)",
    )
    add("--nonreaders", type=whole(0), default=0, help="clients that never read")
    add(
        "--rooms",
        type=whole(1, MOST_SENDERS),
        default=1,
        metavar="R",
        help="spread the clients and senders over R rooms, client i in "
        "#bench-(i mod R), joined before the load starts (default 1: all "
        "stay in the room the server puts them in)",
    )
    add(
        "--web-share",
        type=share,
        default=0.0,
        metavar="FRACTION",
        help="put this share of the clients (0 to 1) on the browser page's "
        "WebSocket instead of the line port; the started daemon serves it "
        "(--web), a --target's must be named with --web-target",
    )
    add(
        "--web-target",
        metavar="HOST:PORT",
        type=target,
        help="where a --target serves its page (its --web endpoint)",
    )
    add("--timeout", type=seconds, default=120.0, help="for the whole run")
    add(
        "--memory",
        type=whole(1),
        default=4096,
        metavar="MIB",
        help="the most the readers may keep of what they receive (default 4096)",
    )
    add("--json", metavar="FILE", type=json_path, help="the result ('-': stdout)")
    add(
        "--daemon-option",
        action="append",
        default=[],
        metavar="OPTION",
        help="pass an option to the started daemon (repeatable)",
    )
    return parser


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """The arguments, every one and every combination checked (see the module)."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    # Every --target and --server-pid; the first, as one target has them.
    arguments.targets = arguments.target or []
    arguments.server_pids = arguments.server_pid or []
    arguments.target = arguments.targets[0] if arguments.targets else None
    arguments.server_pid = arguments.server_pids[0] if arguments.server_pids else None
    if arguments.duration is None:
        arguments.duration = 0.0
        if arguments.lines is None:
            arguments.lines = DEFAULT_LINES
    else:
        arguments.lines = 0
    problem = _problem(arguments, _plan(arguments))
    if problem:
        parser.error(problem)
    return arguments


def _plan(arguments: argparse.Namespace) -> LoadPlan:
    host, port = arguments.target or ("127.0.0.1", 0)
    return LoadPlan(
        host=host,
        port=port,
        clients=arguments.clients,
        senders=arguments.senders,
        lines=arguments.lines,
        size=arguments.size,
        rate=arguments.rate,
        batch=arguments.batch,
        nonreaders=arguments.nonreaders,
        timeout=arguments.timeout,
        duration=arguments.duration,
        memory=arguments.memory * MIB,
        rooms=arguments.rooms,
        web_share=arguments.web_share,
        targets=list(arguments.targets) if len(arguments.targets) > 1 else [],
    )


def plan_of(arguments: argparse.Namespace, host: str, port: int) -> LoadPlan:
    """The load the arguments describe, against C{host}:C{port}."""
    plan = _plan(arguments)
    plan.host, plan.port = host, port
    return plan


def _problem(arguments: argparse.Namespace, plan: LoadPlan) -> str | None:
    """Why these arguments cannot make a run, or None."""
    clients, senders, nonreaders = plan.clients, plan.senders, plan.nonreaders
    if senders > clients:
        return f"-s/--senders ({senders}) must be at most -n/--clients ({clients})"
    if senders + nonreaders > clients:
        return (
            f"-s/--senders ({senders}) plus --nonreaders ({nonreaders}) must be "
            f"at most -n/--clients ({clients})"
        )
    if clients - nonreaders < 2:
        return (
            f"--nonreaders ({nonreaders}) must leave at least 2 of "
            f"-n/--clients ({clients}) reading"
        )
    problem = _rooms_problem(plan) or _nodes_problem(arguments)
    if problem:
        return problem
    if plan.duration and plan.duration >= plan.timeout:
        return (
            f"--duration ({plan.duration:g} s) must be shorter than --timeout "
            f"({plan.timeout:g} s), which bounds the whole run"
        )
    if plan.duration and plan.rate * plan.duration >= MOST_LINES:
        return f"--rate x --duration must stay under {MOST_LINES:,} lines a sender"
    if arguments.web_target is not None and arguments.target is None:
        return "--web-target goes with --target (the started daemon's is known)"
    if plan.web_share and (arguments.nodes or len(arguments.targets) > 1):
        return "--web-share takes one daemon: not --nodes, nor several --target"
    if plan.web_share and arguments.target is not None and not arguments.web_target:
        return "--web-share with --target needs --web-target (where its page is)"
    if arguments.target is None:
        if arguments.server_pid is not None:
            return "--server-pid goes with --target (the started daemon's is known)"
        limited = any("max-line-length" in o for o in arguments.daemon_option)
        if plan.size - 1 > DAEMON_LINE_LIMIT and not limited:
            return (
                f"--size ({plan.size}) is longer than the daemon's longest line "
                f"({DAEMON_LINE_LIMIT} bytes and the newline); raise its limit "
                "with --daemon-option=--max-line-length=N"
            )
    elif arguments.daemon_option:
        return "--daemon-option is for the daemon it starts, not for --target"
    return _descriptor_problem(clients) or _memory_problem(plan)


def _nodes_problem(arguments: argparse.Namespace) -> str | None:
    """Why the clients cannot be spread over these daemons, or None."""
    targets, pids, nodes = arguments.targets, arguments.server_pids, arguments.nodes
    if nodes is not None and targets:
        return "--nodes starts its own daemons: give --nodes or --target, not both"
    if len(set(targets)) < len(targets):
        return "each --target must be another daemon (one is given twice)"
    if targets and pids and len(pids) != len(targets):
        return (
            f"give one --server-pid for each --target, in the same order "
            f"({len(targets)} --target, {len(pids)} --server-pid)"
        )
    spread = nodes or len(targets)
    if spread > arguments.clients:
        how = f"--nodes ({nodes})" if nodes else f"{spread} --target"
        return (
            f"{how} needs a client on every daemon: -n/--clients "
            f"({arguments.clients}) must be at least {spread}"
        )
    if nodes is None:
        return None
    for option in arguments.daemon_option:
        name = option.replace("=", " ").split()[0] if option.strip() else ""
        if name in LINK_OPTIONS:
            return f"--daemon-option={name} is set by --nodes for each daemon"
    if shutil.which("redis-server") is None:
        return (
            "--nodes needs redis-server, and there is none on PATH "
            "(apt-get install redis-server)"
        )
    return None


def _rooms_problem(plan: LoadPlan) -> str | None:
    """Why the clients cannot be spread over C{plan.rooms} rooms, or None."""
    rooms, clients, senders = plan.rooms, plan.clients, plan.senders
    if rooms == 1:
        return None
    if senders < rooms:
        return (
            f"--rooms ({rooms}) needs a sender in every room: -s/--senders "
            f"({senders}) must be at least {rooms}"
        )
    if clients < 2 * rooms:
        return (
            f"--rooms ({rooms}) needs at least 2 clients in every room: "
            f"-n/--clients ({clients}) must be at least {2 * rooms}"
        )
    readers = clients - plan.nonreaders
    for room in range(rooms):
        reading = in_room(room, readers, rooms)
        if reading < 2:
            return (
                f"--nonreaders ({plan.nonreaders}) leaves #{room_name(room)} "
                f"{reading} reading client of {in_room(room, clients, rooms)}; "
                "every room needs at least 2"
            )
    return None


def _memory_problem(plan: LoadPlan) -> str | None:
    needed = recording_bytes(plan)
    if needed is not None and needed > plan.memory:
        return (
            f"this run would keep about {needed / MIB:,.0f} MiB of what its "
            f"readers receive; --memory allows {plan.memory // MIB:,} MiB "
            "(fewer clients, senders, lines or seconds need less)"
        )
    peak = (plan.memory if needed is None else needed) * PEAK_PER_RECORDED
    available = _available_memory()
    if available is not None and peak > available:
        return (
            f"this run would need about {peak / MIB:,.0f} MiB at its peak "
            f"(what its readers receive, then its analysis), and only "
            f"{available // MIB:,} MiB of memory is available "
            "(lower --memory, or ask for less)"
        )
    return None


def _available_memory() -> int | None:
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    for line in meminfo.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def _descriptor_problem(clients: int) -> str | None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and clients + SPARE_DESCRIPTORS > hard:
        return (
            f"-n/--clients ({clients}) needs {clients + SPARE_DESCRIPTORS} file "
            f"descriptors, and this process may open only {hard} (ulimit -Hn)"
        )
    return None
