"""
A LAN machine: the daemon in one network namespace, listening on all its
interfaces, and the stock telnet and nc in another, reaching it over a
veth pair as another machine on the LAN would. Nothing leaves the two
namespaces, and both are deleted after the test, however it ends.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ChatDaemon, run_command, wait_for
from tests.telnet_screen import NcUser, TelnetScreen, require_tools
from twisted_chat import text

SERVER_ADDRESS, CLIENT_ADDRESS = "10.231.0.1", "10.231.0.2"


@dataclass(frozen=True)
class Lan:
    """Two namespaces joined by a veth pair: the server's and a client's."""

    server: str
    client: str

    def on_client(self) -> list[str]:
        return ["ip", "netns", "exec", self.client]


def ip(*arguments: str) -> subprocess.CompletedProcess[str]:
    return run_command(["ip", *arguments], timeout=30)


def must(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, f"{done.args}: {done.stderr.strip()}"


@pytest.fixture
def lan() -> Iterator[Lan]:
    require_tools("ip")
    tag = os.getpid()
    server, client = f"twisted-chat-{tag}-server", f"twisted-chat-{tag}-client"
    veth_server, veth_client = f"tc{tag}s", f"tc{tag}c"
    made: list[str] = []
    try:
        first = ip("netns", "add", server)
        if first.returncode != 0:
            pytest.skip(
                "cannot create a network namespace (needs root or "
                f"CAP_NET_ADMIN): ip netns add: {first.stderr.strip()}"
            )
        made.append(server)
        must(ip("netns", "add", client))
        made.append(client)
        entered = run_command(["ip", "netns", "exec", server, "true"], timeout=30)
        if entered.returncode != 0:
            pytest.skip(
                f"cannot enter a network namespace: ip netns exec: "
                f"{entered.stderr.strip()}"
            )
        # Made in the server's namespace, so deleting the namespaces
        # deletes the pair too.
        veth_pair = ("type", "veth", "peer", "name", veth_client)
        must(ip("-n", server, "link", "add", veth_server, *veth_pair))
        must(ip("-n", server, "link", "set", veth_client, "netns", client))
        for namespace, veth, address in (
            (server, veth_server, SERVER_ADDRESS),
            (client, veth_client, CLIENT_ADDRESS),
        ):
            must(ip("-n", namespace, "addr", "add", f"{address}/30", "dev", veth))
            must(ip("-n", namespace, "link", "set", "lo", "up"))
            must(ip("-n", namespace, "link", "set", veth, "up"))
        yield Lan(server, client)
    finally:
        for namespace in reversed(made):
            ip("netns", "delete", namespace)


def namespaced_daemon(workdir: Path, namespace: str) -> ChatDaemon:
    """The daemon inside a network namespace, listening on all interfaces."""
    # ip netns exec execs twistd, so the pid is twistd's.
    return ChatDaemon(
        workdir, "--port", "tcp:0", prefix=("ip", "netns", "exec", namespace)
    )


def test_telnet_and_nc_from_another_machine_chat_both_ways(
    lan: Lan, tmp_path: Path
) -> None:
    """
    From the client's namespace, C{telnet 10.231.0.1 PORT} and C{nc
    10.231.0.1 PORT} join the room on the server's; UTF-8 typed as telnet's
    first line, nc's lines, a Ctrl-C and /who all work as on loopback.
    """
    require_tools("telnet", "nc")
    daemon = namespaced_daemon(tmp_path, lan.server)
    opened: list[TelnetScreen | NcUser] = []
    try:
        daemon.start()
        nc = NcUser(SERVER_ADDRESS, daemon.port, prefix=lan.on_client())
        opened.append(nc)
        nc_name = nc.join()
        telnet = TelnetScreen(SERVER_ADDRESS, daemon.port, prefix=lan.on_client())
        opened.append(telnet)
        telnet_name = telnet.join()
        telnet.wait_for_row(f"Connected to {SERVER_ADDRESS}.")
        nc.wait_for_line(lambda line: line == joined(telnet_name), "telnet joining")

        first = "ăîșț 中文 本 🙃 ß"
        telnet.type(first + "\r")
        nc.wait_for_line(lambda line: line == said(telnet_name, first), "telnet's line")
        from_nc = "hello from nc: 東京 Ņ 🙃"
        nc.send(from_nc.encode() + b"\n")
        telnet.wait_for_text(said(nc_name, from_nc).decode())

        telnet.ctrl_c()
        telnet.type("/who\r")
        names = ", ".join(sorted([nc_name, telnet_name], key=str.casefold))
        telnet.wait_for_text(text.WHO.format(count=2, text=names))
        nc.send(b"after the ctrl-c\n")
        telnet.wait_for_text(said(nc_name, "after the ctrl-c").decode())
        telnet.type("東京 Ņ, after it\r")
        nc.wait_for_line(
            lambda line: line == said(telnet_name, "東京 Ņ, after it"), "the last line"
        )
        assert nc.lines()[1:] == [
            text.NOW_IN.encode(room="lobby", count=1).rstrip(b"\r\n"),
            joined(telnet_name),
            said(telnet_name, first),
            said(telnet_name, "東京 Ņ, after it"),
        ]
        assert b"\xff" not in nc.received
        # Both came over the veth pair, from the client's address.
        address = re.escape(CLIENT_ADDRESS)
        connected = [
            rf"\b{address}:\d+ connected as {name}\b" for name in (nc_name, telnet_name)
        ]
        wait_for(
            lambda: all(re.search(pattern, daemon.log()) for pattern in connected),
            what=f"the log to say {connected}",
        )
    finally:
        for client in opened:
            client.close()
        if daemon.process is not None:
            daemon.stop(strict=False)


def said(name: str, line: str) -> bytes:
    return text.MESSAGE.format(name=name, text=line).encode()


def joined(name: str) -> bytes:
    return text.JOINED.format(name=name).encode()
