"""
The benchmark checks its arguments before it starts anything: a bad one is
one line on stderr naming it, and exit status 2.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import pytest

from tests.support import run_command
from twisted_chat.benchmark import options
from twisted_chat.benchmark.options import parse_arguments

PROG = "python -m twisted_chat.benchmark"

REFUSED = [
    (["-n", "0"], "argument -n/--clients: must be at least 2, not 0"),
    (["-n", "1"], "argument -n/--clients: must be at least 2, not 1"),
    (["-n", "ten"], "argument -n/--clients: 'ten' is not a whole number"),
    (["-s", "0"], "argument -s/--senders: must be at least 1, not 0"),
    (["-s", "-3"], "argument -s/--senders: must be at least 1, not -3"),
    (["-m", "0"], "argument -m/--lines: must be at least 1, not 0"),
    (["--batch", "0"], "argument --batch: must be at least 1, not 0"),
    (["--nonreaders", "-1"], "argument --nonreaders: must be at least 0, not -1"),
    (["--memory", "0"], "argument --memory: must be at least 1, not 0"),
    (
        ["--size", "38"],
        "argument --size: must be at least 39 bytes (the stamp and the newline), "
        "not 38",
    ),
    (["--rate", "-1"], "argument --rate: must be 0 (flat out) or more lines/s, not -1"),
    (["--rate", "inf"], "argument --rate: 'inf' is not a finite number"),
    (["--timeout", "0"], "argument --timeout: must be more than 0 seconds, not 0"),
    (["--duration", "-2"], "argument --duration: must be more than 0 seconds, not -2"),
    (["--duration", "soon"], "argument --duration: 'soon' is not a number"),
    (
        ["-m", "10", "--duration", "5"],
        "argument --duration: not allowed with argument -m/--lines",
    ),
    (
        ["--duration", "120"],
        "--duration (120 s) must be shorter than --timeout (120 s), which bounds "
        "the whole run",
    ),
    (["--target", "6000"], "argument --target: '6000' is not HOST:PORT"),
    (["--target", "127.0.0.1:"], "argument --target: '127.0.0.1:' is not HOST:PORT"),
    (
        ["--target", "127.0.0.1:http"],
        "argument --target: port 'http' in '127.0.0.1:http' is not a number",
    ),
    (
        ["--target", "127.0.0.1:0"],
        "argument --target: port 0 in '127.0.0.1:0' is not from 1 to 65535",
    ),
    (
        ["--target", "127.0.0.1:65536"],
        "argument --target: port 65536 in '127.0.0.1:65536' is not from 1 to 65535",
    ),
    (
        ["-n", "100", "-s", "101"],
        "-s/--senders (101) must be at most -n/--clients (100)",
    ),
    (
        ["-n", "10", "-s", "5", "--nonreaders", "6"],
        "-s/--senders (5) plus --nonreaders (6) must be at most -n/--clients (10)",
    ),
    (
        ["-n", "3", "-s", "1", "--nonreaders", "2"],
        "--nonreaders (2) must leave at least 2 of -n/--clients (3) reading",
    ),
    (
        ["--server-pid", "1"],
        "--server-pid goes with --target (the started daemon's is known)",
    ),
    (
        ["--target", "127.0.0.1:6000", "--daemon-option=--rate=5"],
        "--daemon-option is for the daemon it starts, not for --target",
    ),
    (
        ["--size", "2050"],
        "--size (2050) is longer than the daemon's longest line (2048 bytes and the "
        "newline); raise its limit with --daemon-option=--max-line-length=N",
    ),
    (
        ["-n", "1000", "-s", "5", "-m", "20000"],
        "this run would keep about 8,392 MiB of what its readers receive; --memory "
        "allows 4,096 MiB (fewer clients, senders, lines or seconds need less)",
    ),
    (
        ["-n", "100", "-s", "10", "--duration", "100", "--rate", "1000"],
        "this run would keep about 9,442 MiB of what its readers receive; --memory "
        "allows 4,096 MiB (fewer clients, senders, lines or seconds need less)",
    ),
    (
        ["--json", "/no/such/directory/result.json"],
        "argument --json: no directory '/no/such/directory' to write "
        "'/no/such/directory/result.json' in",
    ),
]


def assert_refused(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """C{arguments} are refused with C{message} alone on stderr, status 2."""
    with pytest.raises(SystemExit) as exited:
        parse_arguments(arguments)
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.err == f"{PROG}: error: {message}\n"
    assert captured.out == ""


@pytest.mark.parametrize(("arguments", "message"), REFUSED)
def test_a_bad_argument_is_one_line_and_status_2(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_refused(arguments, message, capsys)


def test_the_command_refuses_before_starting_anything(tmp_path: Path) -> None:
    """The real command: status 2, one line, and no daemon (nothing on stdout)."""
    result = run_command(
        [sys.executable, "-m", "twisted_chat.benchmark", "-n", "100", "-s", "101"],
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"{PROG}: error: -s/--senders (101) must be at most -n/--clients (100)\n"
    )
    assert result.stdout == ""


def test_a_server_pid_must_be_a_process(capsys: pytest.CaptureFixture[str]) -> None:
    # Past the largest pid Linux hands out (pid_max is at most 2**22).
    missing = str(2**22 + 1)
    with pytest.raises(SystemExit) as exited:
        parse_arguments(["--target", "127.0.0.1:6000", "--server-pid", missing])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        f"{PROG}: error: argument --server-pid: no process {missing}\n"
    )


def test_too_many_clients_for_the_descriptor_limit_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no limit on open files here")
    with pytest.raises(SystemExit) as exited:
        parse_arguments(["-n", str(hard), "-s", "1", "-m", "1"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        f"{PROG}: error: -n/--clients ({hard}) needs {hard + 64} file descriptors, "
        f"and this process may open only {hard} (ulimit -Hn)\n"
    )


@pytest.mark.parametrize(
    "arguments",
    [
        ["-n", "100", "-s", "100"],
        ["-n", "2", "-s", "1"],
        ["-n", "11", "-s", "5", "--nonreaders", "1", "--size", "200"],
        ["--duration", "5", "--memory", "64"],
        ["--duration", "5", "--rate", "200", "--memory", "256"],
        ["--size", "39"],
        [
            "-n",
            "4",
            "-s",
            "2",
            "--size",
            "4000",
            "--daemon-option=--max-line-length=8192",
        ],
        ["--target", "127.0.0.1:6000"],
        ["--target", "[::1]:6000"],
        ["--target", "localhost:6000", "--json", "-"],
    ],
)
def test_arguments_that_make_a_run_are_taken(arguments: list[str]) -> None:
    parse_arguments(arguments)


def test_the_lines_default_to_2000_and_duration_replaces_them() -> None:
    assert parse_arguments([]).lines == 2000
    assert parse_arguments([]).duration == 0
    timed = parse_arguments(["--duration", "2.5"])
    assert (timed.lines, timed.duration) == (0, 2.5)


def test_a_run_bigger_than_the_memory_available_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flat out for a set time keeps all of --memory, and analyses it after."""
    monkeypatch.setattr(options, "_available_memory", lambda: 1024 * 2**20)
    with pytest.raises(SystemExit) as exited:
        parse_arguments(["--duration", "5", "--memory", "1024"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        f"{PROG}: error: this run would need about 1,741 MiB at its peak (what its "
        "readers receive, then its analysis), and only 1,024 MiB of memory is "
        "available (lower --memory, or ask for less)\n"
    )
    parse_arguments(["--duration", "5", "--memory", "512"])  # 870 MiB: it fits
