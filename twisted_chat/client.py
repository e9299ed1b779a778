"""
C{python -m twisted_chat.client HOST [PORT]}: chat from a terminal or a script.

One reactor carries both sides: the keyboard (or piped input) through
L{twisted.internet.stdio.StandardIO}, and the server through a TCP
connection. Every line typed is sent; every line received is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import sys
from collections.abc import Sequence
from typing import NoReturn

from twisted.internet import defer, error
from twisted.internet.endpoints import HostnameEndpoint, connectProtocol
from twisted.internet.interfaces import IReactorCore
from twisted.internet.protocol import connectionDone
from twisted.internet.stdio import StandardIO
from twisted.internet.task import react
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from twisted_chat import text

DEFAULT_PORT = 5000
CONNECT_TIMEOUT_SECONDS = 10
PROGRAM = "twisted_chat.client"


class ServerConnection(LineReceiver):
    """
    The network side: lines from the server go to C{on_line}; the end of
    the connection fires L{closed} with whether the server ended it.
    """

    delimiter = b"\n"
    MAX_LENGTH = 1024 * 1024

    def __init__(self) -> None:
        self.on_line: object = None
        self.closed: defer.Deferred[bool] = defer.Deferred()
        self._we_closed = False

    def lineReceived(self, line: bytes) -> None:
        if callable(self.on_line):
            # Clean again: whatever server we talk to, it cannot drive our screen.
            self.on_line(text.clean_text(line.rstrip(b"\r")))

    def send_line(self, line: str) -> None:
        """Send one line of what the person typed."""
        self.transport.write(line.encode("utf-8") + b"\n")  # type: ignore[union-attr]

    def hang_up(self) -> None:
        """Close once everything written has been sent."""
        self._we_closed = True
        self.transport.loseConnection()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.closed.callback(not self._we_closed)


class KeyboardLines(LineReceiver):
    """
    The local side, in plain line mode: each line read from standard input
    goes to the server; the end of input hangs up once all is sent.
    """

    delimiter = b"\n"

    def __init__(self, server: ServerConnection) -> None:
        self.server = server
        self.done: defer.Deferred[None] = defer.Deferred()

    def show(self, line: str) -> None:
        """Print one line received from the server."""
        self.transport.write(line.encode("utf-8") + b"\n")  # type: ignore[union-attr]

    def notice(self, line: str) -> None:
        """Say something about the connection itself, on stderr."""
        sys.stderr.write(f"{line}\n")
        sys.stderr.flush()

    def lineReceived(self, line: bytes) -> None:
        self.server.send_line(line.rstrip(b"\r").decode("utf-8", "replace"))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        # End of input (or of output): nothing more to send.
        if not self.done.called:
            self.done.callback(None)
        self.server.hang_up()


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
        description="Chat with a twisted_chat server (or any line chat).",
    )
    parser.add_argument("host", help="server name or address")
    parser.add_argument(
        "port",
        nargs="?",
        type=_port_number,
        default=DEFAULT_PORT,
        help=f"TCP port (default {DEFAULT_PORT})",
    )
    return parser.parse_args(list(argv))


def describe_connect_error(failure: Failure) -> str:
    """One human line for why a connection could not be made."""
    if failure.check(error.ConnectionRefusedError):
        return "connection refused"
    if failure.check(error.DNSLookupError):
        return "unknown host"
    if failure.check(error.TimeoutError, defer.TimeoutError):
        return "no answer (timed out)"
    return failure.getErrorMessage()


class _RestoreBlocking:
    """
    StandardIO makes stdin and stdout non-blocking; on a terminal that mode
    is shared with the shell, so it is put back as it was on exit.
    """

    def __init__(self) -> None:
        self._flags = {}
        for fd in (0, 1):
            with contextlib.suppress(OSError):
                self._flags[fd] = fcntl.fcntl(fd, fcntl.F_GETFL)

    def restore(self) -> None:
        for fd, flags in self._flags.items():
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, fcntl.F_SETFL, flags)


async def run_client(reactor: IReactorCore, host: str, port: int) -> None:
    """Connect, chat until either side ends, and say why if it was the server."""
    endpoint = HostnameEndpoint(reactor, host, port, timeout=CONNECT_TIMEOUT_SECONDS)
    server = ServerConnection()
    try:
        await connectProtocol(endpoint, server)
    except Exception:
        failure = Failure()
        sys.stderr.write(
            f"{PROGRAM}: cannot connect to {host}:{port}: "
            f"{describe_connect_error(failure)}\n"
        )
        raise SystemExit(1) from None

    modes = _RestoreBlocking()
    keyboard = KeyboardLines(server)
    server.on_line = keyboard.show
    stdio = StandardIO(keyboard, reactor=reactor)
    try:
        server_ended = await server.closed
        if server_ended:
            # Flush what the server sent before saying it has gone.
            stdio.loseConnection()
            await keyboard.done
            keyboard.notice("* connection closed by the server")
    finally:
        modes.restore()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of C{python -m twisted_chat.client}."""
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)

    def start(reactor: IReactorCore) -> defer.Deferred[None]:
        return defer.ensureDeferred(run_client(reactor, arguments.host, arguments.port))

    react(start)


if __name__ == "__main__":
    main()
