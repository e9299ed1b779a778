"""
C{python -m twisted_chat.client HOST [PORT]}: chat from a terminal or a script.

One reactor carries both sides: the keyboard (or piped input) through
L{twisted.internet.stdio.StandardIO}, and the server through a TCP
connection. On a terminal the screen is a L{ChatTerminal} (an editable input
line below the conversation); with piped input it is plain lines in, plain
lines out, for scripts.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import sys
import termios
import tty
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, Protocol

from twisted.conch.insults.insults import ServerProtocol
from twisted.internet import defer, task
from twisted.internet.endpoints import HostnameEndpoint, connectProtocol, wrapClientTLS
from twisted.internet.interfaces import (
    IHandshakeListener,
    IOpenSSLClientConnectionCreator,
    IReactorCore,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import connectionDone
from twisted.internet.stdio import StandardIO
from twisted.internet.task import react
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_chat import text
from twisted_chat.client_tls import PROGRAM, describe_connect_error, tls_options
from twisted_chat.commands import split_command
from twisted_chat.terminal import ChatTerminal

DEFAULT_PORT = 5000
CONNECT_TIMEOUT_SECONDS = 10
FIRST_RETRY_SECONDS = 1.0
LONGEST_RETRY_SECONDS = 30.0


class Screen(Protocol):
    """What the session needs of the local side, terminal or plain."""

    def show(self, line: str) -> None: ...

    def show_own(self, line: str) -> None: ...

    def notice(self, line: str) -> None: ...

    def set_name(self, name: str) -> None: ...


@implementer(IHandshakeListener)
class ServerConnection(LineReceiver):
    """
    The network side: lines from the server go to C{on_line}; the end of
    the connection fires L{closed}; over TLS, L{secured} fires once the
    server's certificate has been accepted, or fails with the reason.
    """

    delimiter = b"\n"
    MAX_LENGTH = 1024 * 1024

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self.on_line = on_line
        self.closed: defer.Deferred[None] = defer.Deferred()
        self.secured: defer.Deferred[None] = defer.Deferred()

    def handshakeCompleted(self) -> None:
        self.secured.callback(None)

    def lineReceived(self, line: bytes) -> None:
        # Clean again: whatever server we talk to, it cannot drive our screen.
        self.on_line(text.clean_text(line.rstrip(b"\r")))

    def send_line(self, line: str) -> None:
        self.transport.write(line.encode("utf-8") + b"\n")  # type: ignore[union-attr]

    def hang_up(self) -> None:
        """Close once everything written has been sent."""
        self.transport.loseConnection()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if not self.secured.called:
            self.secured.errback(reason)
        self.closed.callback(None)


class ChatSession:
    """
    One person's session: (re)connecting, what the server says, what is typed.

    Guarantees: lines typed go to the server as typed; the name the server
    gives us is tracked through the shared formats, and asked for again
    after a reconnection; after the person quits (end of input, /quit,
    Ctrl-C or Ctrl-D) no reconnection is attempted.
    """

    def __init__(
        self,
        reactor: IReactorCore,
        host: str,
        port: int,
        nick: str | None,
        reconnect: bool,
        tls: IOpenSSLClientConnectionCreator | None = None,
    ) -> None:
        self.reactor = reactor
        self.host, self.port = host, port
        self.tls = tls
        self.wanted_name = nick
        self.reconnect = reconnect
        self.screen: Screen | None = None
        self.server: ServerConnection | None = None
        self.quitting = False
        self.name = ""

    async def connect(self) -> None:
        """One connection attempt; raises on failure."""
        endpoint: IStreamClientEndpoint = HostnameEndpoint(
            self.reactor, self.host, self.port, timeout=CONNECT_TIMEOUT_SECONDS
        )
        if self.tls is not None:
            endpoint = wrapClientTLS(self.tls, endpoint)
        server = ServerConnection(self._server_line)
        await connectProtocol(endpoint, server)
        if self.tls is not None:
            await server.secured
        self.server = server
        if self.wanted_name:
            server.send_line(f"/nick {self.wanted_name}")

    async def converse(self) -> bool:
        """
        Until the person quits, or the server goes and we may not reconnect.

        @return: whether the server ended it (rather than the person).
        """
        while True:
            assert self.server is not None
            await self.server.closed
            self.server = None
            if self.quitting:
                return False
            if not self.reconnect:
                return True
            if not await self._reconnect():
                return False

    async def _reconnect(self) -> bool:
        delay = FIRST_RETRY_SECONDS
        while not self.quitting:
            self._notice(f"* connection lost; reconnecting in {delay:g} s")
            await task.deferLater(self.reactor, delay, lambda: None)  # type: ignore[arg-type]
            if self.quitting:
                break
            try:
                await self.connect()
            except Exception:
                delay = min(delay * 2, LONGEST_RETRY_SECONDS)
                continue
            self._notice(f"* reconnected to {self.host}:{self.port}")
            return True
        return False

    def typed(self, line: str) -> None:
        """A line the person typed."""
        command = split_command(line)
        if command is not None and command[0] == "quit":
            self.quitting = True
        if self.server is None:
            self._notice("! not connected; line not sent")
            return
        self.server.send_line(line)
        if self.screen is not None:
            if command is None:
                self.screen.show_own(line[1:] if line.startswith("//") else line)
            elif command[0] == "me" and command[1]:
                self.screen.show(text.ACTION.format(name=self.name, text=command[1]))

    def quit(self) -> None:
        """The person is leaving: hang up once what they typed is sent."""
        self.quitting = True
        if self.server is not None:
            self.server.hang_up()

    def _server_line(self, line: str) -> None:
        fields = text.WELCOME.parse(line) or text.YOUR_NAME.parse(line)
        if fields is not None:
            self.name = fields["name"]
            if text.YOUR_NAME.parse(line) is not None:
                self.wanted_name = self.name  # ask for it again on reconnect
            if self.screen is not None:
                self.screen.set_name(self.name)
        if self.screen is not None:
            self.screen.show(line)

    def _notice(self, line: str) -> None:
        if self.screen is not None:
            self.screen.notice(line)


class PlainLines(LineReceiver):
    """
    The local side without a terminal: each input line goes to the session,
    server lines are printed as they are, notices go to stderr; the end of
    input quits.
    """

    delimiter = b"\n"

    def __init__(self, session: ChatSession) -> None:
        self.session = session
        self.done: defer.Deferred[None] = defer.Deferred()

    def show(self, line: str) -> None:
        self.transport.write(line.encode("utf-8") + b"\n")  # type: ignore[union-attr]

    def show_own(self, line: str) -> None:
        """Scripts and terminals in line mode already have what they typed."""

    def notice(self, line: str) -> None:
        sys.stderr.write(f"{line}\n")
        sys.stderr.flush()

    def set_name(self, name: str) -> None:
        """Plain lines have no prompt to update."""

    def lineReceived(self, line: bytes) -> None:
        self.session.typed(line.rstrip(b"\r").decode("utf-8", "replace"))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if not self.done.called:
            self.done.callback(None)
        self.session.quit()


class TerminalSide(ServerProtocol):
    """insults' terminal parser over stdio, with a ChatTerminal inside."""

    def __init__(self, session: ChatSession, colour: bool) -> None:
        super().__init__(ChatTerminal, session.typed, session.quit, colour)
        self.done: defer.Deferred[None] = defer.Deferred()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        super().connectionLost(reason)
        if not self.done.called:
            self.done.callback(None)


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
            "With piped input: plain lines, for scripts."
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
        help="when the connection drops, retry (1 s, doubling to 30 s) and rejoin "
        "with the same name",
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
    return parser.parse_args(list(argv))


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
    session = ChatSession(
        reactor,
        arguments.host,
        arguments.port,
        arguments.nick,
        arguments.reconnect,
        tls_options(arguments),
    )
    try:
        await session.connect()
    except Exception:
        failure = Failure()
        sys.stderr.write(
            f"{PROGRAM}: cannot connect to {arguments.host}:{arguments.port}: "
            f"{describe_connect_error(failure)}\n"
        )
        raise SystemExit(1) from None

    terminal: ChatTerminal | None = None
    local: TerminalSide | PlainLines
    if os.isatty(0) and os.isatty(1):
        colour = not arguments.no_color and "NO_COLOR" not in os.environ
        local = TerminalSide(session, colour)
        modes.make_raw()
        StandardIO(local, reactor=reactor)
        terminal = local.terminalProtocol
        session.screen = terminal
    else:
        local = PlainLines(session)
        session.screen = local
        StandardIO(local, reactor=reactor)

    server_ended = await session.converse()
    if terminal is not None:
        terminal.leave_screen()
    # Flush what is on its way to the screen before saying anything more.
    local.transport.loseConnection()  # type: ignore[union-attr]
    await local.done
    modes.restore()
    if server_ended:
        sys.stderr.write("* connection closed by the server\n")


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


if __name__ == "__main__":
    main()
