"""
C{python -m twisted_chat.client HOST [PORT]}: chat from a terminal or a script.

The command line, the terminal's modes, and how a run starts and ends.

One reactor carries both sides: the keyboard (or piped input) through
L{twisted.internet.stdio.StandardIO}, and the server through a TCP
connection (L{twisted_chat.client.session}). On a terminal the screen is a
L{ChatTerminal} (an editable input line below the conversation); with piped
input it is plain lines in, plain lines out, for scripts
(L{twisted_chat.client.script}).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import sys
import termios
import tty
from collections.abc import Sequence
from types import FrameType
from typing import Any, NoReturn

from twisted.internet import defer
from twisted.internet.interfaces import IReactorCore, IReactorTime
from twisted.internet.stdio import StandardIO
from twisted.internet.task import react
from twisted.python.failure import Failure

from twisted_chat import text
from twisted_chat.client.keyboard import TerminalSide
from twisted_chat.client.script import ScriptLines
from twisted_chat.client.session import ChatSession
from twisted_chat.client.tls import PROGRAM, describe_connect_error, tls_options
from twisted_chat.daemon.signals import SignalHandler, in_reactor

DEFAULT_PORT = 5000


class _OneLineErrors(argparse.ArgumentParser):
    """An argument parser whose refusals are one line, not the whole usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _port_number(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise argparse.ArgumentTypeError(f"invalid port {value!r}: use 1 to 65535")
    return int(value)


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """The command line, or exit status 2 with one line naming the problem."""
    parser = _OneLineErrors(
        prog=f"python -m {PROGRAM}",
        description=(
            "Chat with a twisted_chat server (or any line chat). On a terminal: "
            "an input line with editing and history below the conversation. "
            "With piped input: plain lines, for scripts, paced within the "
            "server's limits; exit status 1 if any line was not sent."
        ),
    )
    parser.add_argument("host", help="server name or address")
    parser.add_argument(
        "port",
        nargs="?",
        type=_port_number,
        default=DEFAULT_PORT,
        help=f"TCP port (default {DEFAULT_PORT})",
    )
    parser.add_argument("--nick", metavar="NAME", help="ask for this name on connect")
    parser.add_argument(
        "--reconnect",
        action="store_true",
        help="when the connection drops or is refused, retry after 1 s, doubling "
        "to 30 s (back to 1 s once a connection has lasted 10 s), and ask for "
        "the name the server last confirmed",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="connect over TLS, verifying the server's certificate against the "
        "system's certificate authorities (or --ca)",
    )
    parser.add_argument(
        "--ca",
        metavar="FILE",
        help="with --tls: trust the certificate authority in this PEM file instead",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="with --tls: do not verify the server's certificate (warns)",
    )
    parser.add_argument(
        "--no-color",
        action="store_true",
        help="no colours (also when NO_COLOR is set or stdout is not a terminal)",
    )
    arguments = parser.parse_args(list(argv))
    # Ignored, they would leave the chat in plain text, unnoticed.
    if not arguments.tls and (arguments.ca or arguments.insecure):
        parser.error(f"{'--ca' if arguments.ca else '--insecure'} needs --tls")
    if arguments.ca and arguments.insecure:
        parser.error("--ca and --insecure contradict each other: choose one")
    return arguments


class TerminalModes:
    """
    Everything the client changes about the terminal, put back on exit:
    raw mode (on a terminal) and the non-blocking flag StandardIO sets on
    stdin and stdout, which on a terminal the shell shares.
    """

    def __init__(self) -> None:
        self._flags: dict[int, int] = {}
        for fd in (0, 1):
            with contextlib.suppress(OSError):
                self._flags[fd] = fcntl.fcntl(fd, fcntl.F_GETFL)
        self._tty: list[Any] | None = None

    def make_raw(self) -> None:
        self._tty = termios.tcgetattr(0)
        tty.setraw(0)

    def restore(self) -> None:
        if self._tty is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(0, termios.TCSADRAIN, self._tty)
        for fd, flags in self._flags.items():
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, fcntl.F_SETFL, flags)


async def run_client(
    reactor: IReactorCore, arguments: argparse.Namespace, modes: TerminalModes
) -> None:
    """Connect, chat until the person or the server ends it, say why."""
    clock: IReactorTime = reactor  # type: ignore[assignment]
    session = ChatSession(
        clock,
        arguments.host,
        arguments.port,
        arguments.nick,
        arguments.reconnect,
        tls_options(arguments),
    )
    on_terminal = os.isatty(0) and os.isatty(1)
    script: ScriptLines | None = None
    if not on_terminal:
        script = ScriptLines(session, clock)
        session.screen = session.observer = script
    try:
        await session.connect()
    except defer.CancelledError:
        return
    except Exception:
        failure = Failure()
        sys.stderr.write(
            f"{PROGRAM}: cannot connect to {arguments.host}:{arguments.port}: "
            f"{describe_connect_error(failure)}\n"
        )
        raise SystemExit(1) from None

    terminal_side: TerminalSide | None = None
    if script is None:
        colour = not arguments.no_color and "NO_COLOR" not in os.environ
        terminal_side = TerminalSide(session.typed, session.quit, colour, clock)
        modes.make_raw()
        StandardIO(terminal_side, reactor=reactor)
        session.screen = terminal_side.chat
        side = terminal_side

        def resized(number: int, frame: FrameType | None) -> None:
            side.window_changed()

        signal.signal(signal.SIGWINCH, in_reactor(reactor, resized))  # type: ignore[arg-type]
    else:
        StandardIO(script, reactor=reactor)
        # Ctrl-C (or SIGTERM) quits at once, and the lines not sent are
        # counted; a second one stops without waiting for anything.
        interrupt = in_reactor(reactor, _interrupt(session, reactor))  # type: ignore[arg-type]
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, interrupt)

    server_ended = await session.converse()
    if terminal_side is not None:
        terminal_side.chat.leave_screen()
        # Flush what is on its way to the screen before saying anything more.
        terminal_side.transport.loseConnection()  # type: ignore[union-attr]
        await terminal_side.done
    if script is not None:
        script.close()
        await script.done
    modes.restore()
    if server_ended:
        sys.stderr.write(
            text.CLIENT_NOTICE.format(text="connection closed by the server") + "\n"
        )
    problem = script.report() if script is not None else None
    if problem is not None:
        sys.stderr.write(f"{problem}\n")
        raise SystemExit(1)


def _interrupt(session: ChatSession, reactor: IReactorCore) -> SignalHandler:
    """Ctrl-C in piped mode: quit at once; a second one stops the reactor."""
    interrupted: list[int] = []

    def on_interrupt(number: int, frame: FrameType | None) -> None:
        if interrupted:
            reactor.stop()
        interrupted.append(number)
        session.quit()

    return on_interrupt


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of C{python -m twisted_chat.client}."""
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    modes = TerminalModes()

    def start(reactor: IReactorCore) -> defer.Deferred[None]:
        return defer.ensureDeferred(run_client(reactor, arguments, modes))

    try:
        react(start)
    finally:
        modes.restore()
